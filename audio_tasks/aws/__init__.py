"""AWS adapters: boto3 clients, sample records (DynamoDB), storage (S3), the queues and their raw messages (SQS).

``aws.client(service, settings)`` builds every boto3 client the same way (see ``clients``).
"""

from audio_tasks.aws.clients import client, local_credentials

__all__ = ["client", "local_credentials"]

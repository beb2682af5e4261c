"""The job: one sample from its S3 input to a final record, with no Celery in sight."""

"""Live monitoring on SQS: Celery events and remote control over SNS fanout, for Flower.

Off unless ``MONITORING_ENABLED`` is true; then ``celeryconfig`` selects
``audio_tasks.monitoring.transport:Transport`` as the broker transport. Modules:

- ``transport``: the kombu SQS transport extension (events, remote control, queue ownership);
- ``janitor``: removes the monitoring queues and SNS subscriptions of processes that died;
- ``depths``: the work queue's and DLQ's depths (Flower's broker page does not support SQS);
- ``flower``: ``audio-tasks flower``, Flower with the janitor, auth and a queue-depths page.
"""

"""Live monitoring on SQS: Celery events and remote control over SNS fanout, for Flower.

Off unless ``MONITORING_ENABLED`` is true; then ``celeryconfig`` selects
``audio_tasks.monitoring.transport:Transport`` as the broker transport. Modules:

- ``transport``: the kombu SQS transport extension (events, remote control, queue ownership);
- ``control``: remote control callers' replies — one reply queue per process (the app's
  ``control`` class, so Flower and ``celery inspect`` use it);
- ``janitor``: removes the monitoring queues and SNS subscriptions of processes that died;
- ``depths``: the work queue's and DLQ's depths (Flower's broker page does not support SQS);
- ``pages``: the Broker page for SQS, ``/api/queues``, ``/metrics`` behind the login;
- ``flower``: ``audio-tasks flower``, Flower with the janitor, auth checks, defaults and pages.
"""

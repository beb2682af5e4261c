"""audio_tasks: audio processing jobs as Celery tasks on Amazon SQS.

The Celery app lives in :mod:`audio_tasks.celery` (found by ``celery -A audio_tasks``);
importing this package alone stays cheap and needs no configuration, so the pure audio
core (:mod:`audio_tasks.audio`) can be used without any AWS settings.
"""

"""The worker runtime: the Celery task shell and everything it adds to a Celery worker.

What runs around a job is listed once, in :mod:`audio_tasks.worker.extensions`.
"""

#!/bin/sh
# Container entrypoint: PROCESSING_MODE chooses what this container runs, and nothing else.
#   service  the always-on Celery worker consuming SQS_QUEUE_URL (the ECS service)
#   task     one job without the queue, SAMPLE_ID + S3_BUCKET + S3_KEY (the rollback path)
#   flower   the Flower monitor, behind basic auth (FLOWER_BASIC_AUTH=user:password)
# Every variable is validated by the Python process (audio_tasks.settings): a missing or
# malformed one exits 78 with one JSON line on stderr. The chosen process is exec'd, so it is
# PID 1 and receives ECS's SIGTERM itself. A missing or unknown mode exits 64 (one JSON line).
set -eu

case "${PROCESSING_MODE:-}" in
    # --quiet: without it Celery prints a start-up banner, ~20 lines of stdout that are not JSON.
    service) exec celery --quiet -A audio_tasks worker "$@" ;;
    task) exec python -m audio_tasks.worker.oneshot ;;
    flower) exec audio-tasks flower "$@" ;;
esac
mode=$(printf '%s' "${PROCESSING_MODE:-}" | tr -c 'A-Za-z0-9_-' '?')
printf '{"level": "ERROR", "logger": "docker.entrypoint", "message": "PROCESSING_MODE=%s is unknown or not set: it must be service, task or flower"}\n' "'$mode'" >&2
exit 64

#!/bin/sh
# Container entrypoint: PROCESSING_MODE chooses what this container runs.
#   service  the always-on Celery worker consuming SQS_QUEUE_URL (the ECS service)
#   task     one job without the queue, SAMPLE_ID + S3_BUCKET + S3_KEY (the rollback path)
#   flower   the Flower monitor, behind basic auth (FLOWER_BASIC_AUTH=user:password)
# The chosen process is exec'd, so it is PID 1 and receives ECS's SIGTERM itself.
# Errors are one JSON line on stderr. Exit codes: 64 PROCESSING_MODE missing or unknown;
# 78 a variable the mode needs is missing or malformed; otherwise the exec'd process's.
set -eu

EX_USAGE=64
EX_CONFIG=78

fail() { # fail EXIT_CODE MESSAGE
    message=$(printf '%s' "$2" | tr '\n' ' ' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')
    printf '{"level": "ERROR", "logger": "docker.entrypoint", "message": "%s"}\n' "$message" >&2
    exit "$1"
}

# require NAME WHAT ERE [secret]: NAME must be set, one line, and match ERE entirely.
require() {
    value=$(printenv "$1" || true)
    [ -n "$value" ] || fail "$EX_CONFIG" "$1 is not set: it must be $2"
    shown="'$value'"
    [ "${4:-}" = secret ] && shown="(value hidden)"
    if [ "$(printf '%s\n' "$value" | wc -l)" -ne 1 ] || ! printf '%s\n' "$value" | grep -Eqx -- "$3"; then
        fail "$EX_CONFIG" "$1=$shown is not $2"
    fi
}

require_queue_and_region() {
    require SQS_QUEUE_URL "an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)" \
        'https?://[^/[:space:]]+/[0-9]{12}/[A-Za-z0-9_-]{1,80}'
    if [ -z "${AWS_ENDPOINT_URL:-}" ] && [ "${SQS_QUEUE_URL#https://}" = "$SQS_QUEUE_URL" ]; then
        fail "$EX_CONFIG" "SQS_QUEUE_URL='$SQS_QUEUE_URL' must use https (plain http only with AWS_ENDPOINT_URL, an emulator)"
    fi
    [ -n "${AWS_REGION:-}" ] || [ -n "${AWS_DEFAULT_REGION:-}" ] \
        || fail "$EX_CONFIG" "AWS_REGION (or AWS_DEFAULT_REGION) is not set"
    AWS_REGION=${AWS_REGION:-$AWS_DEFAULT_REGION}
    export AWS_REGION
    require AWS_REGION "an AWS region such as eu-west-1" '[a-z]{2}(-[a-z]+)+-[0-9]+'
}

case "${PROCESSING_MODE:-}" in
    service)
        require_queue_and_region
        export WORKER_CONCURRENCY="${WORKER_CONCURRENCY:-2}"
        require WORKER_CONCURRENCY "a whole number of worker processes (1-64)" '[1-9]|[1-5][0-9]|6[0-4]'
        # Gossip and mingle stay off (kombu's SQS transport supports neither). The event
        # heartbeat is on only with monitoring (events over SNS, audio_tasks.monitoring).
        heartbeat=--without-heartbeat
        case "${MONITORING_ENABLED:-}" in
            [Tt][Rr][Uu][Ee])  # as audio_tasks.settings reads it
                export EVENT_HEARTBEAT_SECONDS="${EVENT_HEARTBEAT_SECONDS:-10}"
                require EVENT_HEARTBEAT_SECONDS "a whole number of seconds (1-60)" '[1-9]|[1-5][0-9]|60'
                heartbeat=--heartbeat-interval="$EVENT_HEARTBEAT_SECONDS"
                ;;
        esac
        exec celery -A audio_tasks worker --loglevel="${LOG_LEVEL:-INFO}" \
            --concurrency="$WORKER_CONCURRENCY" --include=audio_tasks.worker.liveness \
            "$heartbeat" --without-gossip --without-mingle "$@"
        ;;
    task)
        require SAMPLE_ID "a sample id (letters, digits, . _ : -; at most 128)" '[A-Za-z0-9._:-]{1,128}'
        require S3_BUCKET "an S3 bucket name" '[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]'
        key_rule="an S3 key (no leading /, no .. segment, at most 1024 characters)"
        require S3_KEY "$key_rule" '[^/].*'
        case "/$S3_KEY/" in
            */../*) fail "$EX_CONFIG" "S3_KEY='$S3_KEY' is not $key_rule" ;;
        esac
        [ "${#S3_KEY}" -le 1024 ] || fail "$EX_CONFIG" "S3_KEY (${#S3_KEY} characters) is not $key_rule"
        exec python -m audio_tasks.worker.oneshot
        ;;
    flower)
        require_queue_and_region
        # Flower reads FLOWER_BASIC_AUTH itself; it never appears on a command line.
        require FLOWER_BASIC_AUTH "user:password (comma-separated for several users)" \
            '[^:,]+:[^,]+(,[^:,]+:[^,]+)*' secret
        # audio-tasks flower: Flower plus the janitor and the queue-depths page.
        exec audio-tasks flower --port="${FLOWER_PORT:-5555}" "$@"
        ;;
    "")
        fail "$EX_USAGE" "PROCESSING_MODE is not set: it must be service, task or flower"
        ;;
    *)
        fail "$EX_USAGE" "PROCESSING_MODE='$PROCESSING_MODE' is unknown: it must be service, task or flower"
        ;;
esac

"""boto3 clients built the same way for every adapter.

Clients honour ``AWS_ENDPOINT_URL`` (boto3 does) so local runs hit the emulator through
the production code path. Timeouts are short and botocore's own retries are bounded, so
a dead endpoint surfaces as an error quickly instead of hanging a job.
"""

from __future__ import annotations

import boto3
from botocore.config import Config

from audio_tasks.settings import LOCAL_CREDENTIALS, Settings

_CLIENT_CONFIG = Config(
    connect_timeout=5,
    read_timeout=30,
    retries={"max_attempts": 3, "mode": "standard"},
)


def client(service: str, settings: Settings, config: Config | None = None):
    """A boto3 client for ``service`` in the configured region (and endpoint, locally).

    ``config`` overrides the default timeouts/retries where a caller needs others.
    """
    kwargs = {"region_name": settings.region, "config": _CLIENT_CONFIG.merge(config) if config else _CLIENT_CONFIG}
    if settings.local:
        kwargs["endpoint_url"] = settings.endpoint_url
        kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"] = local_credentials()
    return boto3.client(service, **kwargs)


def local_credentials() -> tuple[str, str]:
    """For an emulator: the credentials boto3 would find, else a dummy pair (any will do)."""
    found = boto3.session.Session().get_credentials()
    return (found.access_key, found.secret_key) if found else LOCAL_CREDENTIALS

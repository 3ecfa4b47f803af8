"""How the Wardship application finds its event store: eventsourcing settings from a URL."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

# The library's AESCipher (the same bytes), keeping its AESGCM for the key (domain.codec).
CIPHER_TOPIC = "domain.codec:KeptAESCipher"
# The library's PostgreSQL recorder, also writing the time index, reading pages in binary.
RECORDER_TOPIC = "domain.recorder:Recorder"


def event_store_env(
    database_url: str | None, cipher_key: str | None = None, pool_size: int = 5
) -> dict[str, str]:
    """The eventsourcing environment for a PostgreSQL URL (None: in memory, for unit tests)."""
    env: dict[str, str] = {"AGGREGATE_CACHE_MAXSIZE": "10000"}
    if cipher_key:
        env.update(CIPHER_TOPIC=CIPHER_TOPIC, CIPHER_KEY=cipher_key)
    if not database_url:
        env["PERSISTENCE_MODULE"] = "eventsourcing.popo"
        return env
    url = urlsplit(database_url)
    env.update(
        PERSISTENCE_MODULE="eventsourcing.postgres",
        APPLICATION_RECORDER_TOPIC=RECORDER_TOPIC,
        POSTGRES_DBNAME=url.path.lstrip("/") or "postgres",
        POSTGRES_HOST=url.hostname or "127.0.0.1",
        POSTGRES_PORT=str(url.port or 5432),
        POSTGRES_USER=unquote(url.username or "postgres"),
        POSTGRES_PASSWORD=unquote(url.password or ""),
        POSTGRES_POOL_SIZE=str(pool_size),
        POSTGRES_MAX_OVERFLOW="10",
        POSTGRES_CONNECT_TIMEOUT="10",
        POSTGRES_PRE_PING="y",
    )
    return env

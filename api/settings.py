"""Wardship configuration: one settings class read from the environment.

Own settings use the `WARDSHIP_` prefix; `DATABASE_URL` and `TEMPORAL_ADDRESS` are also read
plainly because that is what hosting platforms and `.ci/run` export.
"""

from __future__ import annotations

import base64
import functools
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.keyring import parse_master_keys
from domain.partitions import is_partition_code
from domain.store import SAVE_TIMEOUT
from workflows.caps import DEFAULT_CAPS, WorkerCaps
from workflows.messages import DEFAULT_WAKE_EARLY

if TYPE_CHECKING:
    from collections.abc import Callable

_REPO = Path(__file__).resolve().parents[1]


def default_state_dir() -> Path:
    """Git-ignored local state: `<repo>/.wardship` in a checkout, else `./.wardship`."""
    root = _REPO if (_REPO / "pyproject.toml").exists() else Path.cwd()
    return root / ".wardship"


# Static recipient lists of earlier versions, replaced by the contact directory.
REPLACED_BY_DIRECTORY = ("WARDSHIP_SMTP_TO", "WARDSHIP_WEBHOOK_URL")


class PartitionSettings(BaseModel):
    """Where one province's partition lives: its event store and its Temporal namespace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str
    temporal_namespace: str
    task_queue: str = "wardship-cases"


class Settings(BaseSettings):
    """Everything a Wardship process reads from its environment."""

    # hide_input_in_errors: a refused setting's error would otherwise show every value read,
    # the cipher key and the HSM PIN among them.
    model_config = SettingsConfigDict(
        env_prefix="WARDSHIP_", populate_by_name=True, extra="ignore", frozen=True,
        hide_input_in_errors=True,
    )

    environment: Literal["development", "production"] = "development"
    state_dir: Path = Field(default_factory=default_state_dir)

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("WARDSHIP_DATABASE_URL", "DATABASE_URL")
    )
    temporal_address: str | None = Field(
        default=None,
        validation_alias=AliasChoices("WARDSHIP_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS"),
    )
    temporal_namespace: str = "default"
    task_queue: str = "wardship-cases"
    # Case workflows wake up to this many seconds before each due time (each step at its own
    # point of the window) and wait for it in the worker, so that a burst of deadlines is
    # judged on time (docs/performance.md).
    deadline_wake_early: float = Field(default=DEFAULT_WAKE_EARLY, ge=0.0, le=900.0)

    # Province partitions (docs/scale.md), as JSON: {"51": {"database_url": ...,
    # "temporal_namespace": ...}, ...}. The API serves them all, routing each request; empty:
    # one store and one namespace hold every case, as before.
    partitions: dict[str, PartitionSettings] = Field(default_factory=dict)
    # The one partition a worker, relay or runner process serves: its store and namespace
    # replace database_url, temporal_namespace and task_queue (`get_settings`).
    partition: str | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    # API processes sharing the port (uvicorn workers): one process is bound to one core by
    # Python's interpreter lock; each process has its own pool, caches and group commit.
    api_processes: int = Field(default=1, ge=1, le=64)

    # None means the national default policy shipped with the domain package.
    policy: Path | None = None

    # Base64 of a 16/24/32-byte AES key (eventsourcing's CIPHER_KEY format).
    cipher_key: SecretStr | None = None
    # The master keys that wrap each child's data key, `id:base64,id:base64` (32-byte keys,
    # the current one first; docs/privacy.md). Unset: one derived from the cipher key.
    master_keys: SecretStr | None = None

    # Where the master keys that wrap each child's data key live (docs/privacy.md): `local`,
    # WARDSHIP_MASTER_KEYS or one derived from the cipher key; `pkcs11`, an HSM's token.
    key_provider: Literal["local", "pkcs11"] = "local"
    pkcs11_module: Path = Path("/usr/lib/softhsm/libsofthsm2.so")  # Debian's softhsm2
    pkcs11_token: str | None = None
    # The token user's PIN, or a file holding it (a mounted secret).
    pkcs11_pin: SecretStr | None = None
    pkcs11_pin_file: Path | None = None
    # Labels of the master keys in the token, comma-separated, current first; the others
    # still unwrap data keys until `wardship keys rotate` has re-wrapped them.
    pkcs11_keys: str = ""

    # Tokens: a shared HS256 secret in development; a public key or JWKS in production.
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None

    # Sign-in to the pages (/ui/) with OpenID Connect (authorization code with PKCE): the
    # provider's issuer URL (its discovery document is read from there) and this client. The
    # session keeps the provider's access token, verified as any bearer token (jwt_* above).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_scope: str = "openid profile"

    # A static bearer token for Prometheus to scrape /metrics with (admins' tokens work too).
    metrics_token: SecretStr | None = None

    # Base64 of the 32-byte Ed25519 private key that signs exported case files.
    export_signing_key: SecretStr | None = None

    # The key that signs deliveries to contacts' webhooks (receivers verify it).
    webhook_secret: SecretStr | None = None

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str | None = None
    # Mail goes over TLS; `plain` is for a development mail catcher, and refused in production.
    smtp_security: Literal["starttls", "ssl", "plain"] = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None

    # A generic HTTP SMS gateway (workflows/transports.py, HttpSmsGateway).
    sms_gateway_url: str | None = None
    sms_gateway_token: SecretStr | None = None

    # The 12345 platform: where its replies go (signed with webhook_secret), and the client
    # credentials its token is issued for (POST /v1/oauth/token).
    hotline_reply_url: str | None = None
    hotline_client_id: str | None = None
    hotline_client_secret: SecretStr | None = None
    hotline_jurisdiction: str = "51"

    # Where notices link to: the case page is `<public_url>/v1/cases/<id>`.
    public_url: str = "http://127.0.0.1:8000"

    # How long /readyz waits for each dependency before calling it down.
    readiness_timeout: float = 3.0

    # Seconds a command waits for the event store to answer its save (then 503 / retry).
    save_timeout: float = Field(default=SAVE_TIMEOUT, gt=0.0, le=60.0)
    # The same for the worker's saves (judged deadlines, deliveries). Nobody waits on them, and
    # a burst queues more than the API's 4 s of saves: one given up is run again and queued
    # again. Below the 30 s a delivery may run, so a delivery's save answers within it.
    worker_save_timeout: float = Field(default=15.0, gt=0.0, le=25.0)
    # Largest list `POST /v1/imports` takes (bytes): 100,000 rows of a roll are ~10 MB.
    import_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # Caps on the worker's threads and Temporal slots, per worker process; the defaults and
    # why they are so: `workflows/caps.py`.
    worker_activity_threads: int = Field(default=DEFAULT_CAPS.activity_threads, ge=1, le=1024)
    worker_workflow_threads: int = Field(default=DEFAULT_CAPS.workflow_threads, ge=1, le=1024)
    worker_workflow_tasks: int = Field(default=DEFAULT_CAPS.workflow_tasks, ge=1, le=20_000)
    worker_activities: int = Field(default=DEFAULT_CAPS.activities, ge=1, le=20_000)
    worker_local_activities: int = Field(default=DEFAULT_CAPS.local_activities, ge=1,
                                         le=20_000)
    worker_cached_workflows: int = Field(default=DEFAULT_CAPS.cached_workflows, ge=1,
                                         le=100_000)
    # `wardship worker` processes on the one task queue (None: one per core). Each has its
    # own Temporal client, slots and cache above, and its own share of Python's interpreter
    # lock; more than one is supervised by a parent process that restarts a child that dies.
    worker_processes: int | None = Field(default=None, ge=1, le=64)
    # Set by that parent in its children's environment: a child stops when it is orphaned.
    worker_parent: int | None = None

    # Live streams one API process holds at most: each polls the read-model pool, and past
    # this many they would starve the requests. Beyond it a new stream gets a 503.
    max_streams: int = Field(default=200, ge=1, le=10_000)

    # Liveness of the worker and the projection runner, which have no HTTP port: a file their
    # main loop renews every 10 s, whose age the probes check (deploy/heartbeat.py).
    heartbeat_file: Path | None = None

    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    @model_validator(mode="after")
    def _no_static_recipients(self) -> Settings:
        # Ignoring them would silently stop the notices an older installation sent there.
        for name in REPLACED_BY_DIRECTORY:
            if os.environ.get(name):
                raise ValueError(
                    f"{name} is no longer read: notices go to the contact directory. Register "
                    "the recipients (POST /v1/contacts or `wardship contacts import`), then "
                    f"unset {name}")
        return self

    @model_validator(mode="after")
    def _partitions_are_provinces(self) -> Settings:
        unknown = [code for code in self.partitions if not is_partition_code(code)]
        if unknown:
            raise ValueError(f"WARDSHIP_PARTITIONS: {', '.join(unknown)} name no province "
                             "(a partition is a division code's first two digits)")
        if self.partition is not None and self.partition not in self.partitions:
            raise ValueError(f"WARDSHIP_PARTITION {self.partition!r} is not one of "
                             "WARDSHIP_PARTITIONS")
        return self

    @model_validator(mode="after")
    def _master_keys_are_keys(self) -> Settings:
        # Refused here, at start, not on the first child's data key.
        if self.master_keys is not None:
            parse_master_keys(self.master_keys.get_secret_value())
        return self

    def for_partition(self, code: str) -> Settings:
        """These settings for the process of one partition: its store and namespace."""
        where = self.partitions[code]
        return self.model_copy(update={
            "partition": code, "database_url": where.database_url,
            "temporal_namespace": where.temporal_namespace, "task_queue": where.task_queue})

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        # Generated development keys live on one disk; production must be given its keys.
        if self.environment == "production":
            missing = [
                name
                for name, value in (
                    ("WARDSHIP_CIPHER_KEY", self.cipher_key),
                    # Partitions name their own databases.
                    ("WARDSHIP_DATABASE_URL or DATABASE_URL (or WARDSHIP_PARTITIONS)",
                     self.database_url or (self.partitions or None)),
                    ("TEMPORAL_ADDRESS", self.temporal_address),
                )
                if value is None
            ]
            if self.jwt_public_key is None and self.jwt_jwks_url is None:
                missing.append("WARDSHIP_JWT_PUBLIC_KEY or WARDSHIP_JWT_JWKS_URL")
            # Master keys from the environment are for development: in production they live
            # in an HSM (or a key service reached through PKCS#11), whose keys never leave it.
            if self.key_provider != "pkcs11":
                missing.append("WARDSHIP_KEY_PROVIDER=pkcs11 (master keys in an HSM)")
            # Without them, a token the provider issued for another service would be accepted.
            if not self.jwt_issuer:
                missing.append("WARDSHIP_JWT_ISSUER")
            if not self.jwt_audience:
                missing.append("WARDSHIP_JWT_AUDIENCE")
            if missing:
                raise ValueError("production requires " + ", ".join(missing))
            if self.smtp_host and self.smtp_security == "plain":
                raise ValueError("production refuses WARDSHIP_SMTP_SECURITY=plain: "
                                 "use starttls or ssl")
        return self

    @model_validator(mode="after")
    def _pkcs11_is_complete(self) -> Settings:
        if self.key_provider == "pkcs11":
            missing = [name for name, value in (
                ("WARDSHIP_PKCS11_TOKEN", self.pkcs11_token),
                ("WARDSHIP_PKCS11_PIN or WARDSHIP_PKCS11_PIN_FILE",
                 self.pkcs11_pin or self.pkcs11_pin_file),
                ("WARDSHIP_PKCS11_KEYS", self.pkcs11_key_labels())) if not value]
            if missing:
                raise ValueError("WARDSHIP_KEY_PROVIDER=pkcs11 requires " + ", ".join(missing))
        return self

    def pkcs11_key_labels(self) -> list[str]:
        """The master keys' labels in the token, current first."""
        return [label.strip() for label in self.pkcs11_keys.split(",") if label.strip()]

    def effective_pkcs11_pin(self) -> str:
        """The token user's PIN: WARDSHIP_PKCS11_PIN, else the first line of its file."""
        if self.pkcs11_pin is not None:
            return self.pkcs11_pin.get_secret_value()
        if self.pkcs11_pin_file is None:
            raise RuntimeError("no PKCS#11 PIN configured")
        return self.pkcs11_pin_file.read_text("utf-8").strip()

    def effective_worker_processes(self) -> int:
        """How many worker processes `wardship worker` runs: the setting, else one per core
        this process may run on."""
        if self.worker_processes is not None:
            return self.worker_processes
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)

    def worker_caps(self) -> WorkerCaps:
        """The caps each worker process runs with (the defaults are `DEFAULT_CAPS`)."""
        return WorkerCaps(
            activity_threads=self.worker_activity_threads,
            workflow_threads=self.worker_workflow_threads,
            workflow_tasks=self.worker_workflow_tasks, activities=self.worker_activities,
            local_activities=self.worker_local_activities,
            cached_workflows=self.worker_cached_workflows,
        )

    def effective_cipher_key(self) -> str:
        """The configured cipher key, else a development key kept in the state dir."""
        if self.cipher_key is not None:
            return self.cipher_key.get_secret_value()
        return self._dev_secret("cipher.key", lambda: base64.b64encode(os.urandom(32)).decode())

    def effective_jwt_secret(self) -> str:
        """The configured HS256 secret, else a development secret kept in the state dir."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        return self._dev_secret("jwt.key", lambda: secrets.token_urlsafe(48))

    def effective_export_signing_key(self) -> str:
        """The configured case-file signing key, else a development key kept in the state dir."""
        if self.export_signing_key is not None:
            return self.export_signing_key.get_secret_value()
        return self._dev_secret(
            "export-signing.key", lambda: base64.b64encode(os.urandom(32)).decode()
        )

    def _dev_secret(self, filename: str, generate: Callable[[], str]) -> str:
        if self.environment == "production":
            raise RuntimeError(f"no {filename} configured in production")
        path = self.state_dir / "secrets" / filename
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # O_EXCL: two processes starting together must not end up with different keys.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as file:
                    file.write(generate())
        return path.read_text().strip()


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read on first call (never at import); those of its
    partition when WARDSHIP_PARTITION names one."""
    settings = Settings()
    return settings if settings.partition is None else settings.for_partition(
        settings.partition)

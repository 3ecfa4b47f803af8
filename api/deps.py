"""Request dependencies as `Annotated` aliases: the caller, the application, the stores.

All are `async def`: FastAPI runs plain `def` dependencies in the thread pool, one hop each.
Routes reach the process's resources (built in the lifespan) only through this module.

Routes of every resource use these: `CurrentUser` (any valid token), `require_roles(...)`
for role gates, `scoped_case` to load a case the caller may see (404 otherwise).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from psycopg_pool import AsyncConnectionPool

from api.http.access_log import AccessLog
from api.http.auth import TokenVerifier, unauthenticated
from api.http.domain_problems import case_not_found
from api.http.metrics import Metrics
from api.http.problems import Problem
from api.http.services import store_call
from api.http.streams import StreamLease, StreamSlots
from api.http.temporal import TemporalConnector
from api.inspection.signing import SigningKeyError, service_signing_key
from api.readmodels import EVENTS_TABLE, ProjectionLag
from api.settings import Settings
from domain import access
from domain.actors import Actor
from domain.application import Wardship
from domain.codes import Role
from domain.errors import CaseNotFound

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from uuid import UUID

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from api.http.idempotency import IdempotencyStore
    from api.readmodels import OwnWrites
    from domain.case import ProtectionCase


# Far beyond any real log, and within PostgreSQL's bigint.
MAX_POSITION = 2**62
_bearer = HTTPBearer(auto_error=False, description="JWT with sub, name, roles, jurisdiction")


async def get_wardship(request: Request) -> Wardship:
    """The process's one Wardship application, built in the lifespan."""
    wardship: Wardship | None = getattr(request.app.state, "wardship", None)
    if wardship is None:
        raise Problem(503, "not_ready", "Service not ready",
                      "the event store is not available yet; retry shortly",
                      headers={"Retry-After": "5"})
    return wardship


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The caller named by the bearer token; 401 without a valid one, 403 for a client
    (the 12345 platform), which calls its own routes only (`HotlineDesk`)."""
    user = await _token_holder(request, credentials)
    if access.is_client_only(user):
        raise Problem(403, "role_forbidden", "Your role may not do this",
                      "a client token calls only its own routes (the 12345 desk: "
                      "/v1/intake/hotline)")
    return user


async def _token_holder(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Actor:
    if credentials is None:
        raise unauthenticated("send 'Authorization: Bearer <token>'")
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.actor(credentials.credentials)


async def hotline_desk(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The 12345 platform's client named by the bearer token; 403 for anyone else."""
    user = await _token_holder(request, credentials)
    if not access.holds_any(user, access.HOTLINE_CLIENTS):
        raise Problem(403, "role_forbidden", "Your role may not do this",
                      "this needs the role: hotline (the 12345 platform's client token)")
    return user


CurrentUser = Annotated[Actor, Depends(current_user)]
HotlineDesk = Annotated[Actor, Depends(hotline_desk)]
App = Annotated[Wardship, Depends(get_wardship)]


def require_roles(*roles: Role) -> Callable[[Actor], Awaitable[Actor]]:
    """A dependency giving the caller if they hold one of `roles`, else 403."""
    wanted = frozenset(roles)

    async def dependency(user: CurrentUser) -> Actor:
        if not wanted & user.roles:
            names = ", ".join(sorted(r.value for r in wanted))
            raise Problem(403, "role_forbidden", "Your role may not do this",
                          f"this needs one of the roles: {names}")
        return user

    return dependency


Writer = Annotated[Actor, Depends(require_roles(*access.WRITERS))]


async def _app_and_writer(request: Request) -> tuple[Wardship, Actor]:
    """The application and a caller who may write, in one dependency for the hottest route.

    Each dependency level costs FastAPI a parameter-solving pass per request; this one reads
    the bearer token as `HTTPBearer` does and answers the same 401/403/503 problems.
    """
    scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    if not token or scheme.lower() != "bearer":
        raise unauthenticated("send 'Authorization: Bearer <token>'")
    verifier: TokenVerifier = request.app.state.token_verifier
    user = await verifier.actor(token)
    if not access.holds_any(user, access.WRITERS):
        names = ", ".join(sorted(r.value for r in access.WRITERS))
        raise Problem(403, "role_forbidden", "Your role may not do this",
                      f"this needs one of the roles: {names}")
    return await get_wardship(request), user


AppAndWriter = Annotated[tuple[Wardship, Actor], Depends(_app_and_writer)]
# For routes using `AppAndWriter`, which does not declare the bearer scheme to OpenAPI itself.
BEARER_SECURITY: dict[str, Any] = {"security": [{"HTTPBearer": []}]}
Opener = Annotated[Actor, Depends(require_roles(*access.OPENERS))]
# Lists and read models: everyone but reporters, who read only their own cases by id.
Reader = Annotated[Actor, Depends(require_roles(*access.READERS))]
# The monitoring ledger (台账): the readers, and the village and township staff who keep it.
LedgerReader = Annotated[Actor, Depends(require_roles(*access.LEDGER_READERS))]
Supervisor = Annotated[Actor, Depends(require_roles(*access.SUPERVISORS))]
Auditor = Annotated[Actor, Depends(require_roles(*access.AUDITORS))]
# The notification contact directory is kept by admins (their area: `access`).
Admin = Annotated[Actor, Depends(require_roles(*access.CONTACT_KEEPERS))]
# Other departments' lists are imported by admins and supervisors (their area: `access`).
Importer = Annotated[Actor, Depends(require_roles(*access.IMPORTERS))]


async def _access_log(request: Request) -> AccessLog:
    log: AccessLog = request.app.state.access_log
    return log


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _temporal(request: Request) -> TemporalConnector:
    temporal: TemporalConnector = request.app.state.temporal
    return temporal


async def _optional_pool(request: Request) -> AsyncConnectionPool | None:
    pool: AsyncConnectionPool | None = getattr(request.app.state, "pool", None)
    return pool


async def _pool(request: Request) -> AsyncConnectionPool:
    pool = await _optional_pool(request)
    if pool is None:
        raise Problem(503, "not_ready", "Service not ready", "no database is configured",
                      headers={"Retry-After": "5"})
    return pool


async def min_position(
    request: Request,
    user: CurrentUser,
    x_min_position: Annotated[int | None, Header(ge=0, le=MAX_POSITION, description=(
        "notification-log position the answer must include (read-your-writes); "
        "the caller's own latest write is always included"))] = None,
) -> int | None:
    """The log position a list answer must include: the asked one or the caller's last write.

    A position beyond the log's head is refused at once (422): no wait could reach it.
    """
    own: OwnWrites | None = getattr(request.app.state, "own_writes", None)
    mine = own.position(user.subject) if own else None
    pool = await _optional_pool(request)
    if x_min_position is not None and pool is not None:
        async with pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}"  # noqa: S608
            )
            row = await cur.fetchone()
        head = int(row[0]) if row else 0
        if x_min_position > head:
            raise Problem(422, "position_beyond_log", "No such log position yet",
                          f"X-Min-Position {x_min_position} is beyond the log's newest "
                          f"position {head}; send a position a command answered with")
    wanted = [p for p in (x_min_position, mine) if p is not None]
    return max(wanted) if wanted else None


async def scraped_metrics(request: Request) -> Metrics:
    """The metrics, for the scrape token or an admin's token (401/403 otherwise), with the
    projection lag and the parked events read just now."""
    scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    if not token or scheme.lower() != "bearer":
        raise unauthenticated("send 'Authorization: Bearer <token>'")
    settings: Settings = request.app.state.settings
    scrape = settings.metrics_token
    if scrape is None or not hmac.compare_digest(token.encode(),
                                                 scrape.get_secret_value().encode()):
        verifier: TokenVerifier = request.app.state.token_verifier
        user = await verifier.actor(token)
        if Role.ADMIN not in user.roles:
            raise Problem(403, "role_forbidden", "Your role may not do this",
                          "metrics need the scrape token or the role: admin")
    lag: ProjectionLag | None = getattr(request.app.state, "projection_lag", None)
    pool = await _optional_pool(request)
    if lag is not None and pool is not None:
        await lag.refresh(pool)
    metrics = metrics_of(request)
    if pool is not None:
        await metrics.parked.refresh(pool)
        wardship: Wardship | None = getattr(request.app.state, "wardship", None)
        if wardship is not None:
            await metrics.unattended.refresh(pool, wardship)
    return metrics


async def stream_lease(request: Request, user: Supervisor) -> StreamLease:
    """A slot for one live stream of the caller (429 beyond the per-user cap, 503 beyond the
    process's), until their token expires; the stream must release it when it ends."""
    verifier: TokenVerifier = request.app.state.token_verifier
    _, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    _, expires_at = await verifier.verify(token)
    return lease_for(request, user, expires_at)


def lease_for(request: Request, user: Actor, expires_at: float) -> StreamLease:
    """A stream slot for `user` until `expires_at` (the API's stream and the live inbox page
    share the process's slots and caps)."""
    slots: StreamSlots | None = getattr(request.app.state, "stream_slots", None)
    if slots is None:
        settings: Settings = request.app.state.settings
        slots = request.app.state.stream_slots = StreamSlots(total=settings.max_streams)
    return slots.acquire(user, expires_at)


AccessLogDep = Annotated[AccessLog, Depends(_access_log)]
ScrapedMetrics = Annotated[Metrics, Depends(scraped_metrics)]
SettingsDep = Annotated[Settings, Depends(_settings)]
TemporalDep = Annotated[TemporalConnector, Depends(_temporal)]
# The read models' connection pool: 503 when no database is configured.
Pool = Annotated[AsyncConnectionPool, Depends(_pool)]
# The pool, or None when no database is configured (the readiness probe says so).
OptionalPool = Annotated[AsyncConnectionPool | None, Depends(_optional_pool)]
MinPosition = Annotated[int | None, Depends(min_position)]
StreamLeaseDep = Annotated[StreamLease, Depends(stream_lease)]


# Plain accessors, for the hottest route: each dependency costs a solving pass per request.
def idempotency_store(request: Request) -> IdempotencyStore:
    """The process's store of first answers to idempotent actions."""
    store: IdempotencyStore = request.app.state.idempotency
    return store


def metrics_of(request: Request) -> Metrics:
    """The process's Prometheus metrics."""
    metrics: Metrics = request.app.state.metrics
    return metrics


def own_writes(request: Request) -> OwnWrites:
    """The process's record of each user's latest write (for read-your-writes lists)."""
    writes: OwnWrites = request.app.state.own_writes
    return writes


def export_signing_key(request: Request) -> Ed25519PrivateKey:
    """The key that signs exported case files, read once per process; 503 without one."""
    key: Ed25519PrivateKey | None = getattr(request.app.state, "export_signing_key", None)
    if key is None:
        try:
            key = service_signing_key(request.app.state.settings)
        except (SigningKeyError, RuntimeError) as error:
            raise Problem(503, "signing_key_unavailable", "Exports cannot be signed now",
                          f"{error}; set WARDSHIP_EXPORT_SIGNING_KEY") from None
        request.app.state.export_signing_key = key
    return key


def may_see(case: ProtectionCase, user: Actor) -> bool:
    """Whether the access policy lets the caller see the case."""
    return access.may_see_case(user, case.jurisdiction, case.opened_by)


async def scoped_case(
    app: Wardship, user: Actor, case_id: UUID, version: int | None = None
) -> ProtectionCase:
    """Load a case the caller may see (in a worker thread), else 404 without telling why."""
    try:
        case = await store_call(app.get_case_aggregate, case_id, version)
    except CaseNotFound:
        raise case_not_found(case_id) from None
    if not may_see(case, user):
        raise case_not_found(case_id)
    return case

"""The API of a partitioned deployment: one whole Wardship API per province partition (its own
event store, read models and Temporal namespace) behind one address, routing each request.

A request naming a record (a case, child file, monitoring record, contact, import or notice:
the first UUID in its path) goes to the partition holding it (`api.record_homes`); one that
names none goes to the caller's province (the first two
digits of their token's code, the only province their code covers). `X-Wardship-Partition`
names a partition outright, for auditors reading a source's copy of a moved case. Two
requests span partitions and are answered here: moving a case to another province
(`POST /v1/cases/{id}/handover`, `domain.handover`), and `/readyz`, which asks them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import current_user, scoped_case
from api.http.auth import TokenVerifier
from api.http.domain_problems import domain_problem
from api.http.problems import Problem, install_problem_handlers
from api.http.responses import OrjsonResponse
from api.record_homes import RecordHomes
from domain.actors import Actor  # noqa: TC001 (FastAPI reads the route's types at run time)
from domain.errors import DomainError, InvalidCommand
from domain.handover import move_case
from domain.partitions import partition_of

if TYPE_CHECKING:
    from collections.abc import Callable, MutableMapping

    from api.settings import Settings
    from domain.application import Wardship

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Any]
    Send = Callable[[Message], Any]

PARTITION_HEADER = b"x-wardship-partition"
READINESS = "/readyz"
_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HANDOVER = re.compile(rf"^/v1/cases/({_ID.pattern})/handover$")
class HandOver(BaseModel):
    """Where in another province the case goes."""

    jurisdiction: str = Field(pattern=r"^\d{2,12}$", description="division code there")


class PartitionedApi:
    """An ASGI application serving every configured partition's API, routing each request."""

    def __init__(self, settings: Settings, build: Callable[[Settings], FastAPI]) -> None:
        self.settings = settings
        self.apps = {code: build(settings.for_partition(code))
                     for code in sorted(settings.partitions)}
        self._first = next(iter(self.apps))
        self._verifier = TokenVerifier(settings)
        self.homes = RecordHomes(self.apps)
        self._front = self._front_app()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "http" and scope["method"] == "POST" \
                and _HANDOVER.match(scope["path"]):
            await self._front(scope, receive, send)
            return
        if scope["type"] == "http" and scope["path"] == READINESS \
                and PARTITION_HEADER not in dict(scope.get("headers") or []):
            await self._readiness(scope, receive, send)
            return
        code = await self.partition_of_request(scope)
        await self.apps[code](scope, receive, send)

    def wardship(self, code: str) -> Wardship:
        """The partition's application; 503 while its store has not been reached."""
        wardship: Wardship | None = getattr(self.apps[code].state, "wardship", None)
        if wardship is None:
            raise Problem(503, "not_ready", "Service not ready",
                          f"the event store of partition {code} is not available yet",
                          headers={"Retry-After": "5"})
        return wardship

    async def partition_of_request(self, scope: Scope) -> str:
        """The partition that answers the request (the first partition when nothing names one:
        it answers health probes, and a missing or bad token with a 401)."""
        headers: dict[bytes, bytes] = dict(scope.get("headers") or [])
        named = headers.get(PARTITION_HEADER, b"").decode("latin-1")
        if named in self.apps:
            return named
        found = _ID.search(str(scope.get("path", "")))
        record = UUID(found.group(0)) if found else None
        if record is not None:
            known = await self.homes.known(record)
            if known is not None:
                return known
        province = await self._callers_province(headers)
        if record is not None:
            home = await self.homes.search(record, province)
            if home is not None:
                return home
        return province or self._first

    async def _callers_province(self, headers: dict[bytes, bytes]) -> str | None:
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            actor = await self._verifier.actor(token.strip())
        except Problem:
            return None  # the partition that answers says why
        province = actor.jurisdiction[:2]
        return province if province in self.apps else None

    async def _readiness(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Ready while any partition is (degraded unless all are): one province's outage
        must not take the others' API out of service. Each partition's answer is listed."""
        answers = await asyncio.gather(*(_asked(app, scope) for app in self.apps.values()))
        partitions = {code: {"status_code": status, **body}
                      for code, (status, body) in zip(self.apps, answers, strict=True)}
        ready = [code for code, answer in partitions.items() if answer["status_code"] == 200]
        every = len(ready) == len(partitions) and all(
            answer.get("status") == "ready" for answer in partitions.values())
        status = "ready" if every else "degraded" if ready else "not_ready"
        response = OrjsonResponse({"status": status, "partitions": partitions},
                                  status_code=200 if ready else 503)
        await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Start every partition's API (its pools, application, Temporal client); stop them."""
        await receive()  # lifespan.startup
        async with contextlib.AsyncExitStack() as started:
            try:
                for app in self.apps.values():
                    await started.enter_async_context(app.router.lifespan_context(app))
            except Exception as error:  # reported to the server, which exits
                await send({"type": "lifespan.startup.failed", "message": repr(error)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    def _front_app(self) -> FastAPI:
        front = FastAPI(title="Wardship partitions", openapi_url=None, docs_url=None,
                        redoc_url=None)
        install_problem_handlers(front)
        front.state.token_verifier = self._verifier
        front.add_api_route("/v1/cases/{case_id}/handover", self._hand_over, methods=["POST"],
                            response_class=OrjsonResponse)
        return front

    async def _hand_over(
        self, case_id: UUID, body: HandOver, user: Annotated[Actor, Depends(current_user)],
        request: Request,
    ) -> OrjsonResponse:
        """Move the case to another province's partition, with its whole history; a supervisor
        over the case's area does. Moving it again answers the case as moved."""
        source_code = await self.homes.home(case_id, user.jurisdiction[:2])
        if source_code is None:
            raise Problem(404, "case_not_found", "No such case", f"no case {case_id}")
        try:
            target_code = partition_of(body.jurisdiction)
        except InvalidCommand as error:
            raise domain_problem(error) from None
        if target_code not in self.apps:
            raise Problem(422, "no_partition", "No partition for that province",
                          f"this deployment serves partitions {', '.join(self.apps)}")
        source, target = self.wardship(source_code), self.wardship(target_code)
        await scoped_case(source, user, case_id)  # 404 for a case the caller may not see
        try:
            view = await run_in_threadpool(functools.partial(
                move_case, source, target, case_id, user, jurisdiction=body.jurisdiction))
        except DomainError as error:
            raise domain_problem(error) from None
        self.homes.remember(case_id, target_code)
        return OrjsonResponse(view)


async def _asked(app: FastAPI, scope: Scope) -> tuple[int, dict[str, Any]]:
    """One partition's answer to a bodiless GET: its status and JSON body."""
    started: dict[str, int] = {}
    chunks: list[bytes] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            started["status"] = int(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await app(dict(scope), receive, send)
    body = json.loads(b"".join(chunks) or b"{}")
    return started.get("status", 500), body if isinstance(body, dict) else {}


def build_api(settings: Settings) -> FastAPI | PartitionedApi:
    """The API for `settings`: one partition's, or every configured partition's."""
    from api.main import create_app

    if not settings.partitions:
        return create_app(settings)
    return PartitionedApi(settings, create_app)

"""Bearer tokens: who the caller is (`Actor`), verified with PyJWT, and development tokens.

Development signs and verifies HS256 with the configured (or generated) dev key; production
verifies RS256/ES256 against a configured public key or a JWKS URL and accepts no HS256.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import jwt
from fastapi.concurrency import run_in_threadpool

from api.http.problems import Problem
from domain.actors import Actor
from domain.codes import Role, jurisdiction_is_valid

if TYPE_CHECKING:
    from api.settings import Settings

ASYMMETRIC = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256"]
# Roles a token may carry; `system` is the service itself and never comes from outside.
PERSON_ROLES = frozenset(Role) - {Role.SYSTEM}
DEV_TOKEN_LIFETIME = timedelta(hours=12)
VERIFIED_CACHE_SIZE = 10_000


def unauthenticated(detail: str) -> Problem:
    """A 401 problem asking for a valid bearer token."""
    return Problem(
        401, "unauthenticated", "A valid bearer token is required", detail,
        headers={"WWW-Authenticate": 'Bearer realm="wardship"'},
    )


class TokenVerifier:
    """Turns a bearer token into an `Actor`, or refuses it with a 401 problem."""

    def __init__(self, settings: Settings) -> None:
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        # PyJWT then requires both claims; without them a token minted for another service of
        # the same identity provider would pass.
        if settings.environment == "production" and not (self._issuer and self._audience):
            raise RuntimeError("production verifies tokens only with an issuer and audience")
        self._jwks: jwt.PyJWKClient | None = None
        # Verified tokens until they expire: a client sends the same token many times.
        self._verified: dict[str, tuple[Actor, float]] = {}
        self._key: Any
        if settings.jwt_jwks_url:
            self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True)
            self._algorithms = ASYMMETRIC
        elif settings.jwt_public_key:
            self._key = settings.jwt_public_key
            self._algorithms = ASYMMETRIC
        else:
            # Only development reaches here: Settings refuses production without a key.
            self._key = settings.effective_jwt_secret()
            self._algorithms = ["HS256"]

    async def actor(self, token: str) -> Actor:
        """The caller named by a valid token; 401 for anything else."""
        cached = self._verified.get(token)  # the hot path: no further await
        if cached is not None and cached[1] > time.time():
            return cached[0]
        actor, _ = await self.verify(token)
        return actor

    async def verify(self, token: str) -> tuple[Actor, float]:
        """The caller named by a valid token and when it expires (epoch seconds); else 401."""
        cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time():
            return cached
        if self._jwks is not None:
            # Fetching the key set is network I/O: keep it off the event loop.
            claims = await run_in_threadpool(self._claims, token)
        else:
            claims = self._claims(token)
        verified = (actor_from_claims(claims), float(claims["exp"]))
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = verified
        return verified

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            key = self._jwks.get_signing_key_from_jwt(token).key if self._jwks else self._key
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=self._algorithms, audience=self._audience,
                issuer=self._issuer,
                options={"require": ["sub", "exp"], "verify_aud": self._audience is not None},
            )
        except (jwt.PyJWTError, ValueError) as error:
            raise unauthenticated(f"the token was refused: {type(error).__name__}") from None
        return claims


def actor_from_claims(claims: dict[str, Any]) -> Actor:
    """Check the Wardship claims (sub, name, roles, jurisdiction) and build the Actor."""
    subject, name = claims.get("sub"), claims.get("name", "")
    roles, jurisdiction = claims.get("roles"), claims.get("jurisdiction")
    if not isinstance(subject, str) or not subject or len(subject) > 200:
        raise unauthenticated("the token's 'sub' must be a non-empty text")
    if not isinstance(name, str):
        raise unauthenticated("the token's 'name' must be a text")
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, list) or not roles or not all(
            isinstance(r, str) and r in PERSON_ROLES for r in roles):
        known = ", ".join(sorted(PERSON_ROLES))
        raise unauthenticated(f"the token's 'roles' must list some of: {known}")
    if not isinstance(jurisdiction, str) or not jurisdiction_is_valid(jurisdiction):
        raise unauthenticated("the token's 'jurisdiction' must be a 2-12 digit division code")
    return Actor(subject=subject, roles=frozenset(Role(r) for r in roles),
                 jurisdiction=jurisdiction, name=name)


def dev_token(
    settings: Settings, *, subject: str, roles: list[str], jurisdiction: str, name: str = "",
    lifetime: timedelta = DEV_TOKEN_LIFETIME,
) -> str:
    """An HS256 token signed with the development key; refused in production."""
    if settings.environment == "production":
        raise RuntimeError("development tokens are not issued in production")
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject, "name": name or subject, "roles": roles, "jurisdiction": jurisdiction,
        "iat": now, "exp": now + lifetime,
    }
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    actor_from_claims(claims)  # the same checks a request gets, before anyone uses it
    return jwt.encode(claims, settings.effective_jwt_secret(), algorithm="HS256")

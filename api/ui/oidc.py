"""Production sign-in: OpenID Connect, authorization code with PKCE (Authlib's OAuth 2
client). The provider's access token becomes the session, verified as every bearer token is
(`TokenVerifier`: issuer, audience, key set, Wardship's claims); its ID token must carry the
nonce this browser was given."""

from __future__ import annotations

import base64
import hmac
import json
import time
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import jwt
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from api.http.problems import Problem
from api.ui.render import PageRoute, render
from api.ui.session import role_forbidden, safe_next, secure_cookies, start_session
from domain import access

if TYPE_CHECKING:
    from api.http.auth import TokenVerifier
    from api.settings import Settings

router = APIRouter(prefix="/ui/oidc", route_class=PageRoute)
# The sign-in under way: state, PKCE verifier, nonce and the page to return to. SameSite=Lax:
# the provider's redirect back is a cross-site navigation, which a Strict cookie would miss.
FLOW_COOKIE = "wardship_oidc"
FLOW_SECONDS = 600
DISCOVERY_SECONDS = 3600
_discovered: dict[str, tuple[dict[str, Any], float]] = {}


def oidc_enabled(settings: Settings) -> bool:
    """Whether the pages offer sign-in with the identity provider."""
    return bool(settings.oidc_issuer and settings.oidc_client_id)


async def _provider(settings: Settings) -> dict[str, Any]:
    """The provider's discovery document, read at most once an hour."""
    issuer = str(settings.oidc_issuer).rstrip("/")
    cached = _discovered.get(issuer)
    if cached is not None and cached[1] > time.time():
        return cached[0]
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.get(f"{issuer}/.well-known/openid-configuration")
            answer.raise_for_status()
            document: dict[str, Any] = answer.json()
    except (httpx.HTTPError, ValueError):
        raise Problem(503, "identity_provider_unavailable", "Sign-in is not available now",
                      "the identity provider did not answer") from None
    _discovered[issuer] = (document, time.time() + DISCOVERY_SECONDS)
    return document


def _client(settings: Settings) -> AsyncOAuth2Client:
    secret = settings.oidc_client_secret
    return AsyncOAuth2Client(
        client_id=settings.oidc_client_id,
        client_secret=secret.get_secret_value() if secret else None,
        # A public client (no secret) sends its id in the form; PKCE protects the code.
        token_endpoint_auth_method="client_secret_basic" if secret else "none",
        scope=settings.oidc_scope, redirect_uri=_callback(settings),
        code_challenge_method="S256", timeout=5)


def _callback(settings: Settings) -> str:
    return f"{settings.public_url.rstrip('/')}/ui/oidc/callback"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    if not oidc_enabled(settings):
        raise Problem(404, "not_found", "Not found", "no identity provider is configured")
    return settings


@router.get("/start")
async def start(
    request: Request, next_page: Annotated[str | None, Query(alias="next", max_length=300)] = None,
) -> Response:
    """Send the browser to the provider with a fresh state, nonce and PKCE challenge."""
    settings = _settings(request)
    provider = await _provider(settings)
    verifier, nonce = generate_token(64), generate_token(32)
    async with _client(settings) as client:
        url, state = client.create_authorization_url(
            provider["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    flow = {"state": state, "verifier": verifier, "nonce": nonce, "next": safe_next(next_page)}
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(FLOW_COOKIE, base64.urlsafe_b64encode(json.dumps(flow).encode()).decode(),
                        max_age=FLOW_SECONDS, httponly=True, samesite="lax",
                        secure=secure_cookies(request), path="/ui/oidc")
    return response


def _flow(request: Request, state: str | None) -> dict[str, str]:
    """The sign-in this browser started, if `state` is its own; else 403."""
    try:
        flow: dict[str, str] = json.loads(base64.urlsafe_b64decode(
            request.cookies.get(FLOW_COOKIE, "")))
    except ValueError:
        flow = {}
    if not state or not flow.get("state") or not hmac.compare_digest(
            flow["state"].encode(), state.encode()):
        raise Problem(403, "oidc_state_refused", "The sign-in has expired",
                      "start the sign-in again from the sign-in page")
    return flow


@router.get("/callback")
async def callback(
    request: Request,
    code: Annotated[str | None, Query(max_length=2000)] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Trade the code (with the PKCE verifier) for tokens; check the ID token's nonce and the
    access token as the API does; start the session."""
    settings = _settings(request)
    flow = _flow(request, state)
    if not code:
        raise Problem(403, "oidc_refused", "The identity provider refused the sign-in")
    provider = await _provider(settings)
    async with _client(settings) as client:
        try:
            tokens = await client.fetch_token(provider["token_endpoint"], code=code,
                                              code_verifier=flow["verifier"])
        except Exception:  # the provider's refusal, in whatever shape it comes
            raise Problem(403, "oidc_refused", "The identity provider refused the sign-in",
                          "the code could not be exchanged") from None
    await run_in_threadpool(_check_id_token, settings, provider, str(tokens.get("id_token", "")),
                            flow["nonce"])
    verifier: TokenVerifier = request.app.state.token_verifier
    token = str(tokens.get("access_token", ""))
    user, expires_at = await verifier.verify(token)
    if access.is_client_only(user):
        raise role_forbidden()
    # A page of our own, which then moves on: browsers that withhold Strict cookies on a
    # redirect chain begun at another site (the provider's) still send the session then.
    response = render(request, "signed_in.html", next_page=flow["next"])
    start_session(response, token, expires_at, secure_cookies(request))
    response.delete_cookie(FLOW_COOKIE, path="/ui/oidc")
    return response


def _check_id_token(settings: Settings, provider: dict[str, Any], id_token: str,
                    nonce: str) -> None:
    """The ID token is the provider's, for this client, and carries this sign-in's nonce."""
    try:
        key = jwt.PyJWKClient(provider["jwks_uri"]).get_signing_key_from_jwt(id_token).key
        claims = jwt.decode(id_token, key, algorithms=provider.get(
            "id_token_signing_alg_values_supported", ["RS256"]),
            audience=settings.oidc_client_id, issuer=provider["issuer"],
            options={"require": ["exp", "iat", "sub", "nonce"]})
    except (jwt.PyJWTError, KeyError, ValueError):
        raise Problem(403, "oidc_refused", "The identity provider refused the sign-in",
                      "the ID token is not valid") from None
    if not hmac.compare_digest(str(claims["nonce"]).encode(), nonce.encode()):
        raise Problem(403, "oidc_refused", "The identity provider refused the sign-in",
                      "the ID token is for another sign-in")

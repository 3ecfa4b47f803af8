"""`POST /v1/oauth/token`: the 12345 platform's client-credentials grant (RFC 6749 §4.4),
for development and installations without an identity provider of their own.

Production verifies only the identity provider's tokens (RS256/ES256, `auth.py`): there the
platform is a client of that provider, which issues its token with the claims `roles:
["hotline"]` and `jurisdiction`, and this route answers 404.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, unquote

from fastapi import APIRouter, Request

from api.deps import SettingsDep
from api.http.auth import dev_token
from api.http.problems import Problem, problem_answers
from api.http.responses import OrjsonResponse
from domain.codes import Role

router = APIRouter(prefix="/v1/oauth", tags=["auth"])

# Short-lived: the platform asks again when it expires, and a leaked token soon lapses.
CLIENT_TOKEN_LIFETIME = timedelta(minutes=15)


def _refused(status: int, error: str, detail: str) -> Problem:
    # `error` is the member OAuth clients read (RFC 6749 §5.2); the rest is problem details.
    headers = {"WWW-Authenticate": 'Basic realm="wardship"'} if status == 401 else None
    return Problem(status, error, "The token request was refused", detail, error=error,
                   headers=headers)


def _client(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """The client id and secret: HTTP Basic (as RFC 6749 §2.3.1 prefers) or the form."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _refused(401, "invalid_client", "malformed Basic credentials") from None
        return unquote(client_id), unquote(secret)
    return form.get("client_id", ""), form.get("client_secret", "")


# The form RFC 6749 §4.4.2 sends; read from the raw body (no multipart parser is installed).
_FORM: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["grant_type"],
        "properties": {"grant_type": {"type": "string", "enum": ["client_credentials"]},
                       "client_id": {"type": "string"},
                       "client_secret": {"type": "string"}}}}}}}


@router.post(
    "/token", response_class=OrjsonResponse,
    responses={200: {"description": "a short-lived bearer token with the role hotline"},
               **problem_answers(400, 401, 404)},
    openapi_extra=_FORM,
)
async def issue_token(request: Request, settings: SettingsDep) -> OrjsonResponse:
    """Issue the 12345 platform's token for its client id and secret (form-encoded,
    `grant_type=client_credentials`)."""
    expected_id, expected_secret = settings.hotline_client_id, settings.hotline_client_secret
    if settings.environment == "production" or not expected_id or expected_secret is None:
        raise Problem(404, "not_found", "No token endpoint here",
                      "clients get their tokens from the installation's identity provider")
    raw = (await request.body()).decode("utf-8", errors="replace")
    form = {k: v[0] for k, v in parse_qs(raw).items()}
    if form.get("grant_type") != "client_credentials":
        raise _refused(400, "unsupported_grant_type", "send grant_type=client_credentials")
    client_id, secret = _client(request, form)
    known = hmac.compare_digest(client_id.encode(), expected_id.encode()) and \
        hmac.compare_digest(secret.encode(), expected_secret.get_secret_value().encode())
    if not known:
        raise _refused(401, "invalid_client", "unknown client or wrong secret")
    token = dev_token(settings, subject=expected_id, roles=[Role.HOTLINE.value],
                      jurisdiction=settings.hotline_jurisdiction, name="12345",
                      lifetime=CLIENT_TOKEN_LIFETIME)
    body: dict[str, Any] = {"access_token": token, "token_type": "Bearer",
                            "expires_in": int(CLIENT_TOKEN_LIFETIME.total_seconds())}
    return OrjsonResponse(body, headers={"Cache-Control": "no-store"})

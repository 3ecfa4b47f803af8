"""A small OpenID Connect provider for the sign-in tests: discovery, authorize (it signs in
the one user it was made for), a token endpoint that checks PKCE (S256), and its key set."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse

KID = "test-key-1"


def identity_provider(issuer: str, client_id: str, audience: str,
                      claims: dict[str, Any]) -> FastAPI:
    """The provider at `issuer`, signing in a user with `claims` for `client_id`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    codes: dict[str, dict[str, str]] = {}
    app = FastAPI()

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        return {"issuer": issuer, "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token", "jwks_uri": f"{issuer}/jwks",
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"]}

    @app.get("/jwks")
    async def jwks() -> dict[str, Any]:
        return {"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}

    @app.get("/authorize")
    async def authorize(request: Request) -> RedirectResponse:
        asked = request.query_params
        if asked.get("client_id") != client_id or asked.get("response_type") != "code" \
                or asked.get("code_challenge_method") != "S256":
            raise HTTPException(400, "not an authorization-code request with PKCE")
        code = secrets.token_urlsafe(16)
        codes[code] = {"challenge": asked["code_challenge"], "nonce": asked.get("nonce", ""),
                       "redirect_uri": asked["redirect_uri"]}
        return RedirectResponse(f"{asked['redirect_uri']}?"
                                + urlencode({"code": code, "state": asked["state"]}))

    @app.post("/token")
    async def token(
        grant_type: str = Form(), code: str = Form(), code_verifier: str = Form(),
        redirect_uri: str = Form(), client_id_sent: str = Form(alias="client_id"),
    ) -> JSONResponse:
        issued = codes.pop(code, None)
        digest = hashlib.sha256(code_verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        if issued is None or grant_type != "authorization_code" or client_id_sent != client_id \
                or redirect_uri != issued["redirect_uri"] or challenge != issued["challenge"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        common = {"iss": issuer, "sub": claims["sub"], "iat": now, "exp": now + 600}
        id_token = jwt.encode({**common, "aud": client_id, "nonce": issued["nonce"]}, key,
                              algorithm="RS256", headers={"kid": KID})
        access = jwt.encode({**common, **claims, "aud": audience}, key, algorithm="RS256",
                            headers={"kid": KID})
        return JSONResponse({"access_token": access, "id_token": id_token,
                             "token_type": "Bearer", "expires_in": 600})

    return app

"""Tokens signed by an identity provider: verified against its public key, HS256 refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from api.http.auth import TokenVerifier
from api.settings import Settings
from tests.api.support import case_body, running_api

if TYPE_CHECKING:
    from pathlib import Path


def test_tokens_are_checked_against_the_configured_public_key(
    tmp_path: Path, db_url: str
) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    claims = {"sub": "cw-1", "name": "Caseworker One", "roles": ["caseworker"],
              "jurisdiction": "5111", "exp": datetime.now(UTC) + timedelta(minutes=5)}
    signed = jwt.encode(claims, private, algorithm="ES256")
    with running_api(tmp_path, db_url, jwt_public_key=public_pem) as api:
        # A token signed with the development secret is no longer accepted.
        hs256 = jwt.encode(claims, api.settings.effective_jwt_secret(), algorithm="HS256")
        refused = api.client.post("/v1/cases", json=case_body(),
                                  headers={"Authorization": f"Bearer {hs256}"})
        accepted = api.client.post("/v1/cases", json=case_body(),
                                   headers={"Authorization": f"Bearer {signed}"})
    assert refused.status_code == 401
    assert accepted.status_code == 201


def test_production_verifier_refuses_to_work_without_issuer_and_audience() -> None:
    # Built past the settings' own check, as a hand-made configuration could be.
    settings = Settings.model_construct(environment="production", jwt_public_key="pem",
                                        jwt_issuer=None, jwt_audience=None, jwt_jwks_url=None)
    with pytest.raises(RuntimeError, match="issuer and audience"):
        TokenVerifier(settings)


def test_tokens_without_the_configured_issuer_or_audience_are_refused(
    tmp_path: Path, db_url: str
) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    claims = {"sub": "cw-1", "name": "Caseworker One", "roles": ["caseworker"],
              "jurisdiction": "5111", "exp": datetime.now(UTC) + timedelta(minutes=5)}
    issued = {**claims, "iss": "https://idp", "aud": "wardship"}
    with running_api(tmp_path, db_url, jwt_public_key=public_pem, jwt_issuer="https://idp",
                     jwt_audience="wardship") as api:
        def status(token_claims: dict[str, object]) -> int:
            token = jwt.encode(token_claims, private, algorithm="ES256")
            answer = api.client.post("/v1/cases", json=case_body(),
                                     headers={"Authorization": f"Bearer {token}"})
            return int(answer.status_code)

        assert status(claims) == 401
        assert status({**issued, "aud": "other-service"}) == 401
        assert status({**issued, "iss": "https://other-idp"}) == 401
        assert status(issued) == 201

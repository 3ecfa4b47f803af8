"""Tokens signed by an identity provider: verified against its public key, HS256 refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

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

"""Configuration comes from the environment, with safe development defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from api.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path


class TestSettings:
    def test_reads_plain_database_url_and_temporal_address(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DATABASE_URL", "postgresql://db/wardship")
        monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal:7233")
        monkeypatch.setenv("WARDSHIP_PORT", "9001")
        settings = Settings()
        assert settings.database_url == "postgresql://db/wardship"
        assert settings.temporal_address == "temporal:7233"
        assert settings.port == 9001

    def test_development_keys_are_generated_once_and_kept(self, tmp_path: Path) -> None:
        first = Settings(state_dir=tmp_path).effective_cipher_key()
        assert Settings(state_dir=tmp_path).effective_cipher_key() == first
        assert Settings(state_dir=tmp_path).effective_jwt_secret() != first

    def test_production_refuses_to_start_without_real_keys(self) -> None:
        with pytest.raises(ValidationError, match="WARDSHIP_CIPHER_KEY"):
            Settings(environment="production")

    def test_production_requires_the_token_issuer_and_audience(self) -> None:
        keys = {"environment": "production", "cipher_key": "k", "database_url": "postgresql://db",
                "temporal_address": "t:7233", "jwt_public_key": "pem"}
        with pytest.raises(ValidationError, match="WARDSHIP_JWT_ISSUER, WARDSHIP_JWT_AUDIENCE"):
            Settings.model_validate(keys)
        Settings.model_validate({**keys, "jwt_issuer": "https://idp", "jwt_audience": "wardship"})

"""Configuration comes from the environment, with safe development defaults."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from api.settings import Settings
from tests.api.support import HSM_KEYS

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

    def test_refused_settings_do_not_show_the_secrets_read(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("WARDSHIP_KEY_PROVIDER", "pkcs11")
        monkeypatch.setenv("WARDSHIP_PKCS11_PIN", "pin-9911")
        monkeypatch.setenv("WARDSHIP_CIPHER_KEY", "cipher-5555")
        with pytest.raises(ValidationError) as refused:
            Settings()  # no token nor key labels
        assert "WARDSHIP_PKCS11_TOKEN" in str(refused.value)
        assert "WARDSHIP_PKCS11_KEYS" in str(refused.value)
        assert "9911" not in str(refused.value)
        assert "5555" not in str(refused.value)

    def test_production_requires_the_token_issuer_and_audience(self) -> None:
        keys = {"environment": "production", "cipher_key": "k", "database_url": "postgresql://db",
                "temporal_address": "t:7233", "jwt_public_key": "pem", **HSM_KEYS}
        with pytest.raises(ValidationError, match="WARDSHIP_JWT_ISSUER, WARDSHIP_JWT_AUDIENCE"):
            Settings.model_validate(keys)
        Settings.model_validate({**keys, "jwt_issuer": "https://idp", "jwt_audience": "wardship"})

    def test_production_keeps_the_master_keys_in_an_hsm(self) -> None:
        keys = {"environment": "production", "cipher_key": "k", "database_url": "postgresql://db",
                "temporal_address": "t:7233", "jwt_public_key": "pem",
                "jwt_issuer": "https://idp", "jwt_audience": "wardship"}
        refused = "WARDSHIP_KEY_PROVIDER=pkcs11"
        # Neither a master key derived from the cipher key nor one from the environment.
        with pytest.raises(ValidationError, match=refused):
            Settings.model_validate(keys)
        with pytest.raises(ValidationError, match=refused):
            Settings.model_validate(
                {**keys, "master_keys": "m1:" + base64.b64encode(b"1" * 32).decode()})
        Settings.model_validate({**keys, **HSM_KEYS})

    def test_production_refuses_plain_smtp(self) -> None:
        keys = {"environment": "production", "cipher_key": "k", "database_url": "postgresql://db",
                "temporal_address": "t:7233", "jwt_public_key": "pem",
                "jwt_issuer": "https://idp", "jwt_audience": "wardship", "smtp_host": "mail",
                **HSM_KEYS}
        with pytest.raises(ValidationError, match="WARDSHIP_SMTP_SECURITY=plain"):
            Settings.model_validate({**keys, "smtp_security": "plain"})
        assert Settings.model_validate(keys).smtp_security == "starttls"

    def test_malformed_master_keys_refuse_to_start_without_showing_them(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        good = "m2:" + base64.b64encode(b"2" * 32).decode()
        monkeypatch.setenv("WARDSHIP_MASTER_KEYS", f"{good},m1:c2hvcnQ=")
        with pytest.raises(ValidationError, match="'m1' is not `id:base64` of a 32-byte key"
                           ) as refused:
            Settings()
        assert "c2hvcnQ=" not in str(refused.value)
        assert good.split(":")[1] not in str(refused.value)
        monkeypatch.setenv("WARDSHIP_MASTER_KEYS", good)
        assert Settings().master_keys is not None

    def test_notification_settings_are_read_with_secrets_hidden(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("WARDSHIP_SMTP_SECURITY", "ssl")
        monkeypatch.setenv("WARDSHIP_SMTP_PASSWORD", "mail-pw")
        monkeypatch.setenv("WARDSHIP_SMS_GATEWAY_URL", "https://sms.example/send")
        monkeypatch.setenv("WARDSHIP_SMS_GATEWAY_TOKEN", "sms-token")
        monkeypatch.setenv("WARDSHIP_PUBLIC_URL", "https://wardship.example")
        settings = Settings()
        assert (settings.smtp_security, settings.public_url) == ("ssl", "https://wardship.example")
        assert settings.sms_gateway_token is not None
        assert settings.sms_gateway_token.get_secret_value() == "sms-token"
        assert "mail-pw" not in repr(settings)
        assert "sms-token" not in repr(settings)

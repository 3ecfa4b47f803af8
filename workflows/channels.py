"""Notification channels: a signed HTTP webhook and e-mail over SMTP.

A notification carries no personal data: case id, notification id, deadline kind, level, due
time and jurisdictions only. Delivery is at-least-once, so every message carries the
notification id as its idempotency key (webhook `Idempotency-Key` header, e-mail Message-ID).

How a webhook receiver verifies a request (see `verify_signature`):

1. read `X-Wardship-Timestamp` (Unix seconds) and `X-Wardship-Signature` (`v1=<hex>`);
2. reject the request if the timestamp is more than 5 minutes from its own clock (replay);
3. compute HMAC-SHA256 with the shared secret over `<timestamp>.<raw body bytes>` and compare
   it with the signature in constant time; reject on mismatch;
4. treat an `Idempotency-Key` it has already processed as done (answer 2xx, do nothing), since
   a retried delivery repeats the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol

import httpx

TIMESTAMP_HEADER = "X-Wardship-Timestamp"
SIGNATURE_HEADER = "X-Wardship-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_TOLERANCE = 300.0


@dataclass(frozen=True)
class Notification:
    """What a supervisor is told: which case, which deadline kind, which level, when it was due."""

    notification_id: str
    case_id: str
    kind: str
    level: int
    due_at: str
    recipient_jurisdiction: str
    case_jurisdiction: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "deadline_missed", "notification_id": self.notification_id,
            "case_id": self.case_id, "kind": self.kind, "level": self.level,
            "due_at": self.due_at, "recipient_jurisdiction": self.recipient_jurisdiction,
            "case_jurisdiction": self.case_jurisdiction,
        }


class DeliveryError(Exception):
    """A channel could not deliver now; the activity's retry policy tries again."""


class Channel(Protocol):
    """Sends one notification; returns a short detail for the record, raises on failure."""

    name: str

    def send(self, notification: Notification) -> str: ...


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for a body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def verify_signature(
    secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None,
    tolerance: float = REPLAY_TOLERANCE,
) -> bool:
    """What a receiver checks: a fresh timestamp and a matching signature (constant time)."""
    try:
        sent = float(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookChannel:
    """POSTs the notification as JSON, signed with HMAC-SHA256 over `timestamp.body`."""

    name = "webhook"

    def __init__(self, url: str, secret: str, timeout: float = 5.0) -> None:
        self.url = url
        self._secret = secret
        self.timeout = timeout

    def send(self, notification: Notification) -> str:
        body = json.dumps(notification.as_dict(), separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            IDEMPOTENCY_HEADER: notification.notification_id,
        }
        try:
            response = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as error:
            raise DeliveryError(f"webhook unreachable: {type(error).__name__}") from None
        if response.status_code >= 300:
            raise DeliveryError(f"webhook answered {response.status_code}")
        return f"webhook answered {response.status_code}"


class EmailChannel:
    """Sends a plain-text mail over SMTP; the Message-ID lets mail systems drop duplicates."""

    name = "email"

    def __init__(
        self, host: str, port: int, sender: str, recipients: list[str], timeout: float = 10.0
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = recipients
        self.timeout = timeout

    def send(self, notification: Notification) -> str:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = (
            f"[Wardship] level {notification.level}: {notification.kind} missed "
            f"(case {notification.case_id})"
        )
        message["Date"] = formatdate(localtime=False)
        key = hashlib.sha256(notification.notification_id.encode()).hexdigest()[:32]
        message["Message-ID"] = f"<{key}@wardship>"
        message[IDEMPOTENCY_HEADER] = notification.notification_id
        message.set_content(
            "A deadline was missed and its step is still not done.\n\n"
            + "".join(f"{k}: {v}\n" for k, v in notification.as_dict().items())
        )
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryError(f"smtp failed: {type(error).__name__}") from None
        return f"mail accepted by {self.host}"


def build_channels(
    webhook_url: str | None = None, webhook_secret: str | None = None,
    smtp_host: str | None = None, smtp_port: int = 25, smtp_from: str | None = None,
    smtp_to: str | None = None,
) -> list[Channel]:
    """The channels the given settings configure (none: notifications stay in the inbox)."""
    channels: list[Channel] = []
    if webhook_url:
        if not webhook_secret:
            raise ValueError("a webhook needs a secret to sign with (WARDSHIP_WEBHOOK_SECRET)")
        channels.append(WebhookChannel(webhook_url, webhook_secret))
    if smtp_host and smtp_to:
        recipients = [address.strip() for address in smtp_to.split(",") if address.strip()]
        channels.append(EmailChannel(smtp_host, smtp_port, smtp_from or "wardship@localhost",
                                     recipients))
    return channels

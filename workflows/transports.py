"""How a message reaches one contact channel: mail, SMS, WeCom and DingTalk robots, a signed
webhook. One small interface, one implementation per channel type of `domain.contacts`.

A transport returns a short detail for the record or raises `DeliveryError`; neither ever
names the address, number, robot URL or secret (they are staff contact details and keys).
Delivery is at-least-once, so every request carries the message key: the mail's Message-ID,
the webhook's `Idempotency-Key`, the SMS gateway's `id`.

How a receiver of the signed webhook verifies a request (see `verify_signature`):

1. read `X-Wardship-Timestamp` (Unix seconds) and `X-Wardship-Signature` (`v1=<hex>`);
2. reject the request if the timestamp is more than 5 minutes from its own clock (replay);
3. compute HMAC-SHA256 with the shared secret over `<timestamp>.<raw body bytes>` and compare
   it with the signature in constant time; reject on mismatch;
4. treat an `Idempotency-Key` it has already processed as done (answer 2xx, do nothing), since
   a retried delivery repeats the same key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import quote_plus

import httpx

if TYPE_CHECKING:
    from domain.contacts import ContactChannel
    from workflows.notices import Message

TIMESTAMP_HEADER = "X-Wardship-Timestamp"
SIGNATURE_HEADER = "X-Wardship-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_TOLERANCE = 300.0
# WeCom group robots take at most 2048 bytes of text (its robot documentation).
WECOM_TEXT_BYTES = 2048
# DingTalk robots take longer texts; 4000 bytes keeps a long digest readable in a chat.
DINGTALK_TEXT_BYTES = 4000

SmtpSecurity = Literal["starttls", "ssl", "plain"]


class DeliveryError(Exception):
    """A channel could not deliver now; the activity's retry policy tries again. Its message
    names the channel type and the failure, never the address or secret."""


class Transport(Protocol):
    """Sends one message to one contact channel; returns a short detail for the record."""

    type: str

    def send(self, channel: ContactChannel, message: Message) -> str: ...


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


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """DingTalk's robot signature: base64 HMAC-SHA256 of `<timestamp>\\n<secret>` keyed by the
    secret (not yet URL-encoded)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def clip(text: str, limit: int) -> str:
    """The text cut to whole lines within `limit` UTF-8 bytes, saying how much was left out."""
    if len(text.encode()) <= limit:
        return text
    lines = text.split("\n")
    for keep in range(len(lines) - 1, 0, -1):
        clipped = "\n".join([*lines[:keep], f"……另有{len(lines) - keep}行，请登录系统查看。"])
        if len(clipped.encode()) <= limit:
            return clipped
    return text.encode()[:limit].decode(errors="ignore")


def _post(kind: str, url: str, timeout: float, **request: Any) -> httpx.Response:
    try:
        return httpx.post(url, timeout=timeout, **request)
    except httpx.HTTPError as error:
        # The exception's text names the URL, which is the robot's credential.
        raise DeliveryError(f"{kind} unreachable: {type(error).__name__}") from None


def _robot_answer(kind: str, response: httpx.Response) -> str:
    """Robots answer HTTP 200 with `errcode` 0 on success and another code on refusal."""
    if response.status_code != 200:
        raise DeliveryError(f"{kind} answered HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        raise DeliveryError(f"{kind} answered no JSON") from None
    code = answer.get("errcode") if isinstance(answer, dict) else None
    if code != 0:
        # errmsg is left out: WeCom's echoes hints about the request.
        raise DeliveryError(f"{kind} refused the message: errcode {code}")
    return f"{kind} accepted"


class EmailTransport:
    """One mail per recipient over SMTP, with STARTTLS or SMTPS; plain SMTP only when so
    configured (development), and then never with credentials."""

    type = "email"

    def __init__(
        self, host: str, port: int, sender: str, security: SmtpSecurity,
        username: str | None = None, password: str | None = None, timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in ("starttls", "ssl", "plain"):
            raise ValueError(f"unknown SMTP security {security!r}: starttls, ssl or plain")
        if username and security == "plain":
            raise ValueError("refusing to send SMTP credentials without TLS: "
                             "set WARDSHIP_SMTP_SECURITY to starttls or ssl")
        if username and not password:
            raise ValueError("an SMTP user needs a password (WARDSHIP_SMTP_PASSWORD)")
        self.host = host
        self.port = port
        self.sender = sender
        self.security = security
        self._username = username
        self._password = password
        self.timeout = timeout
        self._context = ssl_context or ssl.create_default_context()

    def _mail(self, address: str, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = address
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False)
        # The same key gives the same Message-ID, so a retried send is dropped as a duplicate.
        mail["Message-ID"] = f"<{hashlib.sha256(message.key.encode()).hexdigest()[:32]}@wardship>"
        mail[IDEMPOTENCY_HEADER] = message.key
        mail.set_content(message.text)
        return mail

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                    context=self._context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                # Raises when the server offers no STARTTLS: never fall back to plain text.
                smtp.starttls(context=self._context)
            except (OSError, smtplib.SMTPException):
                smtp.close()
                raise
        return smtp

    def send(self, channel: ContactChannel, message: Message) -> str:
        mail = self._mail(channel.address, message)
        try:
            with self._connect() as smtp:
                if self._username and self._password:
                    smtp.login(self._username, self._password)
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as error:
            # Only the type: SMTPRecipientsRefused's text holds the address.
            raise DeliveryError(f"email failed: {type(error).__name__}") from None
        return "mail accepted"


class WeComTransport:
    """A WeCom (企业微信) group robot: its documented `text` message, POSTed to the robot URL."""

    type = "wecom"

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout

    def send(self, channel: ContactChannel, message: Message) -> str:
        body = {"msgtype": "text", "text": {"content": clip(message.text, WECOM_TEXT_BYTES)}}
        return _robot_answer(self.type, _post(self.type, channel.address, self.timeout, json=body))


class DingTalkTransport:
    """A DingTalk (钉钉) custom robot: its documented `text` message, signed with the robot's
    secret (加签) as DingTalk documents: `&timestamp=<ms>&sign=<urlencoded base64 HMAC>`.
    Without a secret the request is unsigned (a robot secured by keyword or IP list); every
    text contains 督办, a keyword such robots can require."""

    type = "dingtalk"

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout

    def send(self, channel: ContactChannel, message: Message) -> str:
        url = channel.address
        if channel.secret:
            timestamp = str(int(time.time() * 1000))
            signature = quote_plus(dingtalk_sign(channel.secret, timestamp))
            url += ("&" if "?" in url else "?") + f"timestamp={timestamp}&sign={signature}"
        body = {"msgtype": "text", "text": {"content": clip(message.text, DINGTALK_TEXT_BYTES)}}
        return _robot_answer(self.type, _post(self.type, url, self.timeout, json=body))


class WebhookTransport:
    """POSTs the message's JSON payload, signed with HMAC-SHA256 over `timestamp.body`."""

    type = "webhook"

    def __init__(self, secret: str, timeout: float = 5.0) -> None:
        if not secret:
            raise ValueError("a webhook needs a secret to sign with (WARDSHIP_WEBHOOK_SECRET)")
        self._secret = secret
        self.timeout = timeout

    def send(self, channel: ContactChannel, message: Message) -> str:
        body = json.dumps(message.payload, separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            IDEMPOTENCY_HEADER: message.key,
        }
        response = _post(self.type, channel.address, self.timeout, content=body,
                         headers=headers)
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"webhook answered HTTP {response.status_code}")
        return f"webhook answered HTTP {response.status_code}"


class SmsGateway(Protocol):
    """An SMS provider's adapter: accepts one text for one number, or raises DeliveryError.
    `key` is the same on every retry of one message to one number."""

    def send(self, number: str, text: str, key: str) -> str: ...


class HttpSmsGateway:
    """A generic HTTP SMS gateway: POST `{"to", "text", "id"}` with a bearer token; any 2xx
    answer means accepted."""

    def __init__(self, url: str, token: str, timeout: float = 5.0) -> None:
        self.url = url
        self._token = token
        self.timeout = timeout

    def send(self, number: str, text: str, key: str) -> str:
        response = _post("sms", self.url, self.timeout, json={"to": number, "text": text,
                                                              "id": key},
                         headers={"Authorization": f"Bearer {self._token}"})
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"sms gateway answered HTTP {response.status_code}")
        return f"sms gateway answered HTTP {response.status_code}"


class SmsTransport:
    """The short text of a message, to the channel's number through an SMS gateway."""

    type = "sms"

    def __init__(self, gateway: SmsGateway) -> None:
        self.gateway = gateway

    def send(self, channel: ContactChannel, message: Message) -> str:
        # One gateway serves every number: its id must differ per number or a gateway that
        # drops repeated ids would send one contact's copy only. Hashed: ids end up in logs.
        number_tag = hashlib.sha256(channel.address.encode()).hexdigest()[:12]
        return self.gateway.send(channel.address, message.sms, f"{message.key}:{number_tag}")


def build_transports(
    *, smtp_host: str | None = None, smtp_port: int = 25, smtp_from: str | None = None,
    smtp_security: SmtpSecurity = "starttls", smtp_user: str | None = None,
    smtp_password: str | None = None, sms_gateway_url: str | None = None,
    sms_gateway_token: str | None = None, webhook_secret: str | None = None,
    timeout: float = 5.0,
) -> dict[str, Transport]:
    """The transports the settings configure, by channel type: mail needs an SMTP host, SMS a
    gateway URL, the signed webhook its secret; the robots need nothing but their contacts."""
    transports: dict[str, Transport] = {
        "wecom": WeComTransport(timeout), "dingtalk": DingTalkTransport(timeout),
    }
    if smtp_host:
        transports["email"] = EmailTransport(
            smtp_host, smtp_port, smtp_from or "wardship@localhost", smtp_security,
            smtp_user, smtp_password, timeout=max(timeout, 10.0))
    if sms_gateway_url:
        if not sms_gateway_token:
            raise ValueError("an SMS gateway needs a token (WARDSHIP_SMS_GATEWAY_TOKEN)")
        transports["sms"] = SmsTransport(HttpSmsGateway(sms_gateway_url, sms_gateway_token,
                                                        timeout))
    if webhook_secret:
        transports["webhook"] = WebhookTransport(webhook_secret, timeout)
    return transports

"""Loopback stand-ins for where notifications go: an HTTP receiver (WeCom and DingTalk robots,
the SMS gateway, a signed webhook) and an SMTP server, with or without TLS. Each records what
it received; the robots answer as the real services document."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeAlias
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deploy import ports

if TYPE_CHECKING:
    from collections.abc import Callable
    from email.message import EmailMessage
    from types import TracebackType

# DingTalk refuses a signed request whose timestamp is more than an hour off its clock.
DINGTALK_TOLERANCE_MS = 3600 * 1000


@dataclass(frozen=True)
class Request:
    """One request an HTTP receiver got."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


# What a receiver answers a request: the status and a JSON body (None: no body).
Responder: TypeAlias = "Callable[[Request], tuple[int, Any]]"


def answer(status: int, body: Any = None) -> Responder:
    """Always the same answer: `answer(202)` for an SMS gateway, `answer(204)` for a webhook."""
    return lambda request: (status, body)


def robot(errcode: int = 0, errmsg: str = "ok") -> Responder:
    """A WeCom or DingTalk robot: HTTP 200 and `errcode` (0 accepted, else refused)."""
    return answer(200, {"errcode": errcode, "errmsg": errmsg})


def dingtalk_robot(secret: str) -> Responder:
    """A DingTalk robot with 加签: it checks `timestamp` (ms, within an hour) and `sign` (the
    URL-encoded base64 HMAC-SHA256 of `<timestamp>\\n<secret>`) as DingTalk does."""

    def respond(request: Request) -> tuple[int, Any]:
        timestamp, signature = request.query.get("timestamp", ""), request.query.get("sign", "")
        if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > \
                DINGTALK_TOLERANCE_MS:
            return 200, {"errcode": 310000, "errmsg": "invalid timestamp"}
        expected = base64.b64encode(hmac.new(
            secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, signature):
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    return respond


class Receiver:
    """A loopback HTTP server recording every POST; `respond` decides each answer.

    `with Receiver(robot(), "/cgi-bin/webhook/send?key=k") as hook:` ... `hook.url`,
    `hook.requests`.
    """

    def __init__(self, respond: Responder | None = None,
                 path: str = "/hook") -> None:
        self.respond = respond or answer(204)
        self.path = path
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "use the receiver as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                request = Request("POST", parts.path,
                                  {k: v[0] for k, v in parse_qs(parts.query).items()},
                                  dict(self.headers), body)
                with receiver._lock:
                    receiver.requests.append(request)
                status, reply = receiver.respond(request)
                content = b"" if reply is None else json.dumps(reply).encode()
                self.send_response(status)
                if content:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: Any) -> None:
                del args

        return Handler

    def __enter__(self) -> Self:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Tls:
    """A self-signed certificate for 127.0.0.1 and localhost: the server's context, and a
    client context that trusts it (and nothing else)."""

    server_context: ssl.SSLContext
    client_context: ssl.SSLContext


def self_signed_tls() -> Tls:
    """A fresh key and certificate, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain reads files only.
    with tempfile.TemporaryDirectory() as directory:
        cert_file, key_file = Path(directory, "cert.pem"), Path(directory, "key.pem")
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return Tls(server, client)


@dataclass(frozen=True)
class Mail:
    """One mail the SMTP receiver accepted: envelope, parsed message, and how it came."""

    sender: str
    recipients: list[str]
    message: EmailMessage
    tls: bool
    login: str | None

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())


@dataclass
class _Handler:
    mails: list[Mail] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          options: list[str]) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content or envelope.content,
                                     policy=policy.default)
        login = session.auth_data.login.decode() if session.authenticated else None
        # STARTTLS records the handshake in the session; SMTPS is TLS from the transport up.
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message, tls,
                               login))
        return "250 OK"


class SmtpReceiver:
    """A loopback aiosmtpd server keeping every mail. With `tls`, it offers STARTTLS and
    refuses mail without it (or, with `implicit=True`, speaks TLS from the start, SMTPS);
    with `users`, it accepts those logins (only over TLS). `refuse` lists recipients it
    answers 550 for."""

    def __init__(self, tls: Tls | None = None, *, implicit: bool = False,
                 users: dict[str, str] | None = None, refuse: set[str] | None = None) -> None:
        self.port = ports.free_port(2525)
        self._handler = _Handler(refuse=set(refuse or ()))
        options: dict[str, Any] = {}
        if tls is not None and implicit:
            options["ssl_context"] = tls.server_context
        elif tls is not None:
            options.update(tls_context=tls.server_context, require_starttls=True)
        if users is not None:
            options["authenticator"] = _authenticator(users)
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port,
                                      **options)

    @property
    def mails(self) -> list[Mail]:
        return self._handler.mails

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._controller.stop()


def _authenticator(users: dict[str, str]) -> Callable[..., AuthResult]:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and users.get(auth_data.login.decode()) == auth_data.password.decode())
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    return authenticate

"""Each transport against a real local server: mail over plain SMTP, STARTTLS and SMTPS
(aiosmtpd), and loopback HTTP receivers standing in for WeCom, DingTalk, the SMS gateway and a
signed webhook. Each receives exactly what it should; no error names an address or secret."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest

from deploy import ports
from domain.contacts import CHANNEL_TYPES, ContactChannel
from tests.workflows.receivers import (
    Receiver,
    SmtpReceiver,
    answer,
    dingtalk_robot,
    robot,
    self_signed_tls,
)
from workflows.notices import Notice, case_link, digest_message, message_for
from workflows.transports import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WECOM_TEXT_BYTES,
    DeliveryError,
    DingTalkTransport,
    EmailTransport,
    HttpSmsGateway,
    SmsTransport,
    WebhookTransport,
    WeComTransport,
    build_transports,
    verify_signature,
)

CASE_ID = "7c1d2e3f-0000-4000-8000-000000000001"
NOTICE = Notice(
    notification_id=f"{CASE_ID}:d-1:L1", case_id=CASE_ID, kind="intake_danger", level=1,
    due_at=datetime(2026, 11, 20, 1, 0, tzinfo=UTC), stage="report",
    recipient_jurisdiction="511102001", case_jurisdiction="511102001005",
    overdue=timedelta(hours=2, minutes=15), link=case_link("http://127.0.0.1:8000", CASE_ID),
)
MESSAGE = message_for(NOTICE)
MAILBOX = "wang@example.org"
NUMBER = "13800000000"
SENDER = "wardship@test.invalid"
ROBOT_KEY = "robot-key-693a91f6"
DINGTALK_SECRET = "SECabc123+/=secret"
WEBHOOK_SECRET = "test-webhook-secret"


def refuses_without_leaking(error: pytest.ExceptionInfo[DeliveryError], *secrets: str) -> None:
    for secret in secrets:
        assert secret not in str(error.value)
    # Raised `from None`: no chained exception carries a URL into a log either.
    assert error.value.__cause__ is None
    assert error.value.__context__ is None or error.value.__suppress_context__


class TestEmail:
    def test_plain_smtp_sends_one_chinese_mail_to_the_channels_address(self) -> None:
        with SmtpReceiver() as smtp:
            transport = EmailTransport("127.0.0.1", smtp.port, SENDER, "plain")
            detail = transport.send(ContactChannel("email", MAILBOX), MESSAGE)
        [mail] = smtp.mails
        assert (mail.sender, mail.recipients) == (SENDER, [MAILBOX])
        assert not mail.tls
        assert mail.message["To"] == MAILBOX
        assert mail.message["Subject"] == "【一级督办】紧急受理时限超时未办（511102001）"
        assert mail.body.strip() == MESSAGE.text
        assert "截止时间：2026-11-20 09:00（北京时间）" in mail.body
        assert MAILBOX not in detail

    def test_a_retry_repeats_the_message_id_so_mailers_drop_the_duplicate(self) -> None:
        with SmtpReceiver() as smtp:
            transport = EmailTransport("127.0.0.1", smtp.port, SENDER, "plain")
            transport.send(ContactChannel("email", MAILBOX), MESSAGE)
            transport.send(ContactChannel("email", MAILBOX), MESSAGE)
            transport.send(ContactChannel("email", MAILBOX), message_for(
                Notice(**{**NOTICE.__dict__, "notification_id": f"{CASE_ID}:d-1:L2"})))
        first, retry, other = (mail.message["Message-ID"] for mail in smtp.mails)
        assert first == retry != other
        assert first == f"<{hashlib.sha256(MESSAGE.key.encode()).hexdigest()[:32]}@wardship>"

    def test_starttls_with_a_login_sends_the_credentials_and_the_mail_encrypted(self) -> None:
        tls = self_signed_tls()
        with SmtpReceiver(tls, users={"duty-mailer": "pw-1"}) as smtp:
            transport = EmailTransport("127.0.0.1", smtp.port, SENDER, "starttls",
                                       "duty-mailer", "pw-1", ssl_context=tls.client_context)
            transport.send(ContactChannel("email", MAILBOX), MESSAGE)
        [mail] = smtp.mails
        assert mail.tls
        assert mail.login == "duty-mailer"
        assert mail.recipients == [MAILBOX]

    def test_smtps_speaks_tls_from_the_first_byte(self) -> None:
        tls = self_signed_tls()
        with SmtpReceiver(tls, implicit=True) as smtp:
            EmailTransport("127.0.0.1", smtp.port, SENDER, "ssl",
                           ssl_context=tls.client_context).send(
                ContactChannel("email", MAILBOX), MESSAGE)
        [mail] = smtp.mails
        assert mail.tls

    def test_starttls_never_falls_back_to_plain_when_the_server_offers_no_tls(self) -> None:
        with SmtpReceiver() as smtp:
            transport = EmailTransport("127.0.0.1", smtp.port, SENDER, "starttls")
            with pytest.raises(DeliveryError) as error:
                transport.send(ContactChannel("email", MAILBOX), MESSAGE)
        assert smtp.mails == []
        refuses_without_leaking(error, MAILBOX)

    def test_an_untrusted_certificate_is_refused(self) -> None:
        # The default context trusts the system's authorities, not this self-signed server.
        with SmtpReceiver(self_signed_tls()) as smtp:
            transport = EmailTransport("127.0.0.1", smtp.port, SENDER, "starttls")
            with pytest.raises(DeliveryError, match="SSLCertVerificationError"):
                transport.send(ContactChannel("email", MAILBOX), MESSAGE)
        assert smtp.mails == []

    def test_a_refused_recipient_fails_without_naming_the_address(self) -> None:
        with SmtpReceiver(refuse={MAILBOX}) as smtp:
            transport = EmailTransport("127.0.0.1", smtp.port, SENDER, "plain")
            with pytest.raises(DeliveryError) as error:
                transport.send(ContactChannel("email", MAILBOX), MESSAGE)
        refuses_without_leaking(error, MAILBOX)

    def test_credentials_are_never_configured_over_plain_smtp(self) -> None:
        with pytest.raises(ValueError, match="without TLS"):
            EmailTransport("127.0.0.1", 25, SENDER, "plain", "duty-mailer", "pw-1")


class TestWeCom:
    def test_the_robot_gets_its_documented_text_message(self) -> None:
        with Receiver(robot(), f"/cgi-bin/webhook/send?key={ROBOT_KEY}") as wecom:
            detail = WeComTransport().send(ContactChannel("wecom", wecom.url), MESSAGE)
        [request] = wecom.requests
        assert request.query == {"key": ROBOT_KEY}
        assert request.headers["Content-Type"] == "application/json"
        assert request.json() == {"msgtype": "text", "text": {"content": MESSAGE.text}}
        assert detail == "wecom accepted"

    def test_an_errcode_other_than_0_is_a_failed_delivery(self) -> None:
        refusal = robot(93000, f"invalid webhook url, hint: {ROBOT_KEY}")
        with (Receiver(refusal, f"/cgi-bin/webhook/send?key={ROBOT_KEY}") as wecom,
              pytest.raises(DeliveryError, match="errcode 93000") as error):
            WeComTransport().send(ContactChannel("wecom", wecom.url), MESSAGE)
        refuses_without_leaking(error, ROBOT_KEY, wecom.url)

    def test_an_http_error_or_an_answer_without_json_is_a_failed_delivery(self) -> None:
        for respond in (answer(502), answer(200)):
            with Receiver(respond) as wecom, pytest.raises(DeliveryError):
                WeComTransport().send(ContactChannel("wecom", wecom.url), MESSAGE)

    def test_an_unreachable_robot_fails_without_naming_its_url(self) -> None:
        url = f"http://127.0.0.1:{ports.free_port()}/cgi-bin/webhook/send?key={ROBOT_KEY}"
        with pytest.raises(DeliveryError, match="unreachable") as error:
            WeComTransport(timeout=2).send(ContactChannel("wecom", url), MESSAGE)
        refuses_without_leaking(error, ROBOT_KEY, url)

    def test_a_long_digest_is_cut_to_the_robots_2048_bytes_at_a_line(self) -> None:
        misses = [Notice(**{**NOTICE.__dict__, "notification_id": f"n{i}", "case_id": f"c{i}"})
                  for i in range(40)]
        digest = digest_message(misses, date(2026, 11, 20), "digest-1")
        with Receiver(robot()) as wecom:
            WeComTransport().send(ContactChannel("wecom", wecom.url), digest)
        content = wecom.requests[0].json()["text"]["content"]
        assert len(content.encode()) <= WECOM_TEXT_BYTES
        assert content.startswith("【每日督办汇总】2026-11-20：超时未办 40 件\n1. ")
        assert content.endswith("行，请登录系统查看。")


class TestDingTalk:
    def test_a_signed_request_passes_dingtalks_check_and_carries_the_text(self) -> None:
        with Receiver(dingtalk_robot(DINGTALK_SECRET), "/robot/send?access_token=tok-1") as ding:
            channel = ContactChannel("dingtalk", ding.url, DINGTALK_SECRET)
            detail = DingTalkTransport().send(channel, MESSAGE)
        [request] = ding.requests
        assert request.path == "/robot/send"
        assert request.query["access_token"] == "tok-1"
        assert request.json() == {"msgtype": "text", "text": {"content": MESSAGE.text}}
        assert detail == "dingtalk accepted"

    def test_a_wrong_secret_is_refused_by_the_robot_and_the_error_hides_it(self) -> None:
        with Receiver(dingtalk_robot(DINGTALK_SECRET), "/robot/send?access_token=tok-1") as ding:
            channel = ContactChannel("dingtalk", ding.url, "SECsomething-else")
            with pytest.raises(DeliveryError, match="errcode 310000") as error:
                DingTalkTransport().send(channel, MESSAGE)
        refuses_without_leaking(error, "SECsomething-else", "tok-1")

    def test_a_robot_without_a_secret_gets_an_unsigned_request(self) -> None:
        with Receiver(robot(), "/robot/send?access_token=tok-1") as ding:
            DingTalkTransport().send(ContactChannel("dingtalk", ding.url), MESSAGE)
        assert ding.requests[0].query == {"access_token": "tok-1"}


class TestWebhook:
    def test_the_body_is_the_payload_signed_and_keyed(self) -> None:
        with Receiver(answer(204)) as hook:
            detail = WebhookTransport(WEBHOOK_SECRET).send(
                ContactChannel("webhook", hook.url), MESSAGE)
        [request] = hook.requests
        timestamp, signature = request.headers[TIMESTAMP_HEADER], request.headers[SIGNATURE_HEADER]
        assert verify_signature(WEBHOOK_SECRET, timestamp, request.body, signature)
        assert not verify_signature("another-secret", timestamp, request.body, signature)
        assert request.headers[IDEMPOTENCY_HEADER] == MESSAGE.key
        assert request.json() == MESSAGE.payload
        assert detail == "webhook answered HTTP 204"

    def test_a_non_2xx_answer_is_a_failed_delivery(self) -> None:
        with Receiver(answer(500)) as hook, pytest.raises(DeliveryError, match="HTTP 500") as error:
            WebhookTransport(WEBHOOK_SECRET).send(ContactChannel("webhook", hook.url), MESSAGE)
        refuses_without_leaking(error, hook.url, WEBHOOK_SECRET)


class TestSms:
    def test_the_gateway_gets_the_number_the_short_text_and_a_stable_id(self) -> None:
        with Receiver(answer(202), "/v1/sms") as gateway:
            transport = SmsTransport(HttpSmsGateway(gateway.url, "gw-token"))
            detail = transport.send(ContactChannel("sms", NUMBER), MESSAGE)
            transport.send(ContactChannel("sms", NUMBER), MESSAGE)
            transport.send(ContactChannel("sms", "13900000000"), MESSAGE)
        first, retry, other = gateway.requests
        assert first.headers["Authorization"] == "Bearer gw-token"
        assert first.json() == {
            "to": NUMBER, "id": first.json()["id"],
            "text": f"【一级督办】511102001 紧急受理时限超时未办，已超时 2小时15分。{NOTICE.link}",
        }
        # A retry repeats the id; another number of the same message gets its own.
        assert first.json()["id"] == retry.json()["id"] != other.json()["id"]
        assert first.json()["id"].startswith(MESSAGE.key + ":")
        assert NUMBER not in first.json()["id"]
        assert NUMBER not in detail

    def test_a_refusal_fails_without_naming_the_number_or_token(self) -> None:
        with Receiver(answer(401, {"error": f"bad token for {NUMBER}"})) as gateway:
            transport = SmsTransport(HttpSmsGateway(gateway.url, "gw-token"))
            with pytest.raises(DeliveryError, match="HTTP 401") as error:
                transport.send(ContactChannel("sms", NUMBER), MESSAGE)
        refuses_without_leaking(error, NUMBER, "gw-token", gateway.url)


class TestBuildTransports:
    def test_only_configured_transports_are_built(self) -> None:
        assert set(build_transports()) == {"wecom", "dingtalk"}
        every = build_transports(smtp_host="mail.example", sms_gateway_url="http://sms.example",
                                 sms_gateway_token="t", webhook_secret="s")
        assert set(every) == set(CHANNEL_TYPES)
        assert all(transport.type == kind for kind, transport in every.items())

    def test_an_sms_gateway_without_a_token_is_a_configuration_error(self) -> None:
        with pytest.raises(ValueError, match="WARDSHIP_SMS_GATEWAY_TOKEN"):
            build_transports(sms_gateway_url="http://sms.example")

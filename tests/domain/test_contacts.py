"""The notification contact directory: what a contact must say, who keeps it, and where a
notice goes as contacts come and go (nearest covering jurisdiction with someone on duty)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from domain.actors import Actor
from domain.application import Wardship
from domain.codes import Role
from domain.contacts import contact_view, parse_contact
from domain.errors import ContactNotFound, InvalidCommand, OutsideJurisdiction
from domain.storage import event_store_env
from tests.domain.builders import CASEWORKER, CIPHER_KEY, TOWNSHIP, open_case
from tests.domain.builders import SPEC_CONTACT as SPEC_BODY

if TYPE_CHECKING:
    from collections.abc import Iterator

COUNTY_ADMIN = Actor("ad-1", frozenset({Role.ADMIN}), "511102", "County Admin")
OTHER_ADMIN = Actor("ad-9", frozenset({Role.ADMIN}), "511103", "Neighbouring Admin")
VILLAGE = TOWNSHIP + "001"



def body(jurisdiction: str = TOWNSHIP, name: str = "王督导", **changes: Any) -> dict[str, Any]:
    return {**SPEC_BODY, "jurisdiction": jurisdiction, "name": name, **changes}


def with_channel(channel: dict[str, Any]) -> dict[str, Any]:
    return body(channels=[channel])


class TestContactBody:
    def test_specs_example_reads_as_five_channels(self) -> None:
        entry = parse_contact(SPEC_BODY, "c-1")
        assert [(c.type, c.address) for c in entry.channels] == [
            ("wecom", "https://qyapi.example/cgi-bin/webhook/send?key=wecom-key-1"),
            ("dingtalk", "https://oapi.example/robot/send?access_token=ding-tok-1"),
            ("email", "wang@example.org"), ("sms", "13800000000"),
            ("webhook", "https://ops.example/hook")]
        assert entry.channels[1].secret == "SECding-secret-1"
        assert (entry.jurisdiction, entry.name, entry.role) == (TOWNSHIP, "王督导", "supervisor")

    @pytest.mark.parametrize(("channel", "named"), [
        ({"type": "fax", "number": "1"}, "channels[0].type"),
        ({"address": "wang@example.org"}, "channels[0].type"),
        ({"type": "email", "address": "wang.example.org"}, "channels[0].address"),
        ({"type": "email"}, "channels[0].address"),
        ({"type": "sms", "number": "1380000000"}, "channels[0].number"),
        ({"type": "sms", "number": "23800000000"}, "channels[0].number"),
        ({"type": "sms", "number": "+1234567"}, "channels[0].number"),
        ({"type": "wecom", "url": "http://qyapi.example/send?key=k"}, "channels[0].url"),
        ({"type": "wecom", "url": "ftp://qyapi.example/send"}, "channels[0].url"),
        ({"type": "webhook", "url": "https://user:pw@ops.example/hook"}, "channels[0].url"),
        ({"type": "webhook", "url": "not a url"}, "channels[0].url"),
        ({"type": "dingtalk", "url": "https://oapi.example/robot/send"}, "channels[0].secret"),
        ({"type": "dingtalk", "url": "https://oapi.example/robot/send", "secret": " "},
         "channels[0].secret"),
        ({"type": "email", "address": "wang@example.org", "secret": "x"}, "secret"),
        ({"type": "dingtalk", "url": "https://oapi.example/robot/send", "secret": "SEC 1"},
         "channels[0].secret"),
        ({"type": "webhook", "url": "https://ops.example/ho\u0085ok"}, "channels[0].url"),
        ({"type": "webhook", "url": "https://ops.example:99999/hook"}, "channels[0].url"),
    ], ids=["unknown-type", "no-type", "mail-without-at", "mail-missing", "sms-short",
            "sms-not-mobile", "sms-e164-short", "http-robot", "ftp-robot", "credentials-in-url",
            "not-a-url", "dingtalk-without-secret", "dingtalk-blank-secret",
            "secret-on-email", "secret-with-space", "control-in-url", "port-out-of-range"])
    def test_a_bad_channel_is_refused_naming_its_field(
        self, channel: dict[str, Any], named: str
    ) -> None:
        with pytest.raises(InvalidCommand, match=re.escape(named)):
            parse_contact(with_channel(channel))

    @pytest.mark.parametrize(("changes", "named"), [
        ({"jurisdiction": "991102001"}, "jurisdiction"),
        ({"jurisdiction": "5111020"}, "jurisdiction"),
        ({"name": "  "}, "name"),
        ({"name": "王" * 101}, "name"),
        ({"name": "王\u0007督导"}, "name"),
        ({"role": "mayor"}, "role"),
        ({"channels": []}, "channels"),
        ({"channels": "wang@example.org"}, "channels"),
        ({"phone": "13800000000"}, "phone"),
    ], ids=["no-such-province", "bad-length", "blank-name", "long-name", "control-in-name",
            "unknown-role", "no-channel", "channels-not-a-list", "unknown-field"])
    def test_a_bad_contact_is_refused_naming_its_field(
        self, changes: dict[str, Any], named: str
    ) -> None:
        with pytest.raises(InvalidCommand, match=named):
            parse_contact(body(**changes))

    @pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://localhost/hook",
                                     "http://[::1]:9000/hook"])
    def test_plain_http_is_allowed_only_to_this_machine(self, url: str) -> None:
        assert parse_contact(with_channel({"type": "webhook", "url": url})).channels[0].address \
            == url

    def test_an_e164_number_is_a_valid_sms_number(self) -> None:
        entry = parse_contact(with_channel({"type": "sms", "number": "+85291234567"}))
        assert entry.channels[0].address == "+85291234567"

    def test_the_shown_contact_carries_no_secret_and_masks_url_keys(self) -> None:
        shown = contact_view(parse_contact(SPEC_BODY, "c-1"))
        text = json.dumps(shown, ensure_ascii=False, default=str)
        for secret in ("wecom-key-1", "ding-tok-1", "SECding-secret-1"):
            assert secret not in text
        wecom, dingtalk = shown["channels"][:2]
        assert wecom == {"type": "wecom",
                         "url": "https://qyapi.example/cgi-bin/webhook/send?key=***"}
        assert dingtalk == {"type": "dingtalk", "secret_set": True,
                            "url": "https://oapi.example/robot/send?access_token=***"}
        assert shown["channels"][2:4] == [{"type": "email", "address": "wang@example.org"},
                                          {"type": "sms", "number": "13800000000"}]

    def test_a_contact_in_a_log_line_shows_no_address_or_secret(self) -> None:
        text = repr(parse_contact(SPEC_BODY, "c-1"))
        assert "wang@example.org" not in text
        assert "SECding-secret-1" not in text


class TestKeepingTheDirectory:
    def test_an_admin_puts_a_contact_on_duty_and_the_township_is_routed_to_them(
        self, app: Wardship
    ) -> None:
        view = app.register_contact(COUNTY_ADMIN, body())
        route = app.contact_directory().route(VILLAGE)
        assert route.covered_by == TOWNSHIP
        assert [c.id for c in route.contacts] == [view["id"]]
        assert (view["recorded_by"], view["recorded"]) == ("ad-1", True)

    def test_the_registration_is_an_event_naming_who_made_it(self, app: Wardship) -> None:
        view = app.register_contact(COUNTY_ADMIN, body())
        (event,) = app.events.get(UUID(view["id"]))
        assert type(event).__name__ == "ContactRegistered"
        assert event.recorded_by == "ad-1"  # type: ignore[attr-defined]

    def test_an_admin_of_another_county_may_not_and_nothing_is_recorded(
        self, app: Wardship
    ) -> None:
        with pytest.raises(OutsideJurisdiction, match="511103"):
            app.register_contact(OTHER_ADMIN, body())
        assert app.recorder.max_notification_id() is None
        assert app.contact_directory().route(TOWNSHIP).covered_by is None

    def test_a_caseworker_may_not_keep_the_directory(self, app: Wardship) -> None:
        with pytest.raises(OutsideJurisdiction):
            app.register_contact(CASEWORKER, body())

    def test_a_bad_channel_records_nothing(self, app: Wardship) -> None:
        with pytest.raises(InvalidCommand, match=r"channels\[0\]\.number"):
            app.register_contact(COUNTY_ADMIN, with_channel({"type": "sms", "number": "1"}))
        assert app.recorder.max_notification_id() is None

    def test_removing_the_township_contact_routes_its_notices_to_the_county(
        self, app: Wardship
    ) -> None:
        county = app.register_contact(COUNTY_ADMIN, body("511102", "County Duty"))
        township = app.register_contact(COUNTY_ADMIN, body())
        app.remove_contact(COUNTY_ADMIN, UUID(township["id"]))
        route = app.contact_directory().route(VILLAGE)
        assert (route.covered_by, route.unattended) == ("511102", True)
        assert [c.id for c in route.contacts] == [county["id"]]
        assert [c["id"] for c in app.contacts(COUNTY_ADMIN)] == [county["id"]]

    def test_removing_twice_records_one_removal(self, app: Wardship) -> None:
        contact_id = UUID(app.register_contact(COUNTY_ADMIN, body())["id"])
        app.remove_contact(COUNTY_ADMIN, contact_id)
        app.remove_contact(COUNTY_ADMIN, contact_id)
        events = list(app.events.get(contact_id))
        assert [type(e).__name__ for e in events] == ["ContactRegistered", "ContactRemoved"]
        assert events[1].removed_by == "ad-1"  # type: ignore[attr-defined]

    def test_another_counties_admin_cannot_remove_or_see_it(self, app: Wardship) -> None:
        contact_id = UUID(app.register_contact(COUNTY_ADMIN, body())["id"])
        with pytest.raises(ContactNotFound):
            app.remove_contact(OTHER_ADMIN, contact_id)
        with pytest.raises(ContactNotFound):
            app.contact(OTHER_ADMIN, contact_id)
        assert app.contacts(OTHER_ADMIN) == []
        with pytest.raises(OutsideJurisdiction):
            app.contacts(OTHER_ADMIN, under="511102")
        assert app.contact_directory().route(TOWNSHIP).covered_by == TOWNSHIP

    def test_an_unknown_contact_is_not_found(self, app: Wardship) -> None:
        with pytest.raises(ContactNotFound):
            app.remove_contact(COUNTY_ADMIN, UUID(int=7))

    def test_a_retried_registration_answers_the_same_contact_once(self, app: Wardship) -> None:
        first = app.register_contact(COUNTY_ADMIN, body(), command_id="cmd-1")
        again = app.register_contact(COUNTY_ADMIN, body(), command_id="cmd-1")
        assert (again["id"], again["recorded"]) == (first["id"], False)
        assert len(app.contact_directory().at(TOWNSHIP)) == 1

    def test_a_listing_can_be_narrowed_to_a_part_of_the_area(self, app: Wardship) -> None:
        app.register_contact(COUNTY_ADMIN, body("511102", "County Duty"))
        township = app.register_contact(COUNTY_ADMIN, body())
        assert [c["id"] for c in app.contacts(COUNTY_ADMIN, under=TOWNSHIP)] == [township["id"]]
        assert len(app.contacts(COUNTY_ADMIN)) == 2


class TestDirectoryFromTheLog:
    def test_a_directory_handed_out_is_never_changed_afterwards(
        self, memory_app: Wardship
    ) -> None:
        before = memory_app.contact_directory()
        memory_app.register_contact(COUNTY_ADMIN, body())
        assert before.at(TOWNSHIP) == []
        assert len(memory_app.contact_directory().at(TOWNSHIP)) == 1

    def test_max_age_spares_the_read_until_it_has_passed(self, memory_app: Wardship) -> None:
        memory_app.contact_directory()
        memory_app.register_contact(COUNTY_ADMIN, body())
        assert memory_app.contact_directory(max_age=60).at(TOWNSHIP) == []
        assert len(memory_app.contact_directory(max_age=0).at(TOWNSHIP)) == 1

    def test_another_process_sees_contacts_registered_and_removed_elsewhere(
        self, two_processes: tuple[Wardship, Wardship]
    ) -> None:
        api, worker = two_processes
        assert worker.contact_directory().route(VILLAGE).covered_by is None
        view = api.register_contact(COUNTY_ADMIN, body())
        open_case(api)  # case events in between are passed over
        api.register_contact(COUNTY_ADMIN, body("511102", "County Duty"))
        assert worker.contact_directory().route(VILLAGE).covered_by == TOWNSHIP
        api.remove_contact(COUNTY_ADMIN, UUID(view["id"]))
        assert worker.contact_directory().route(VILLAGE).covered_by == "511102"
        assert len(worker.contact_directory().at("511102")) == 1


@pytest.fixture
def two_processes(db_url: str) -> Iterator[tuple[Wardship, Wardship]]:
    """Two applications on one PostgreSQL database: the API and the worker."""
    first = Wardship(env=event_store_env(db_url, CIPHER_KEY))
    second = Wardship(env=event_store_env(db_url, CIPHER_KEY))
    yield first, second
    first.close()
    second.close()

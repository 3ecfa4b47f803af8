"""`/v1/contacts`: admins keep their area's notification directory on a real PostgreSQL store;
nobody else does, nobody sees another area's contacts, and no secret ever comes back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg

from api.bootstrap import bootstrap
from tests.api.support import LESHAN_TOWNSHIP, LESHAN_VILLAGE, Api, api
from tests.domain.builders import SPEC_CONTACT

__all__ = ["api"]

if TYPE_CHECKING:
    import httpx

SECRETS = ("wecom-key-1", "ding-tok-1", "SECding-secret-1")
CONTACT: dict[str, Any] = {**SPEC_CONTACT, "jurisdiction": LESHAN_TOWNSHIP}


def admin(api: Api, jurisdiction: str = "511102", sub: str = "ad-1") -> dict[str, str]:
    return api.auth(sub, ["admin"], jurisdiction)


def register(api: Api, body: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
    response: httpx.Response = api.client.post("/v1/contacts", json=body or CONTACT,
                                               headers=headers or admin(api))
    return response


def listed(api: Api, headers: dict[str, str] | None = None, **params: str) -> list[str]:
    response = api.client.get("/v1/contacts", headers=headers or admin(api), params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def stored_events(api: Api) -> int:
    with psycopg.connect(str(api.settings.database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM wardship_events").fetchone()
    return int(row[0]) if row else 0


class TestRegistering:
    def test_a_county_admin_puts_a_township_contact_on_duty(self, api: Api) -> None:
        response = register(api)
        assert response.status_code == 201, response.text
        contact = response.json()
        assert response.headers["Location"] == f"/v1/contacts/{contact['id']}"
        assert contact["recorded_by"] == "ad-1"
        assert contact["recorded_at"]
        assert (contact["jurisdiction"], contact["name"]) == (LESHAN_TOWNSHIP, "王督导")
        assert listed(api) == [contact["id"]]
        got = api.client.get(f"/v1/contacts/{contact['id']}", headers=admin(api))
        assert got.json() == contact

    def test_no_secret_comes_back_in_any_answer(self, api: Api) -> None:
        contact = register(api).json()
        answers = [register(api).text,
                   api.client.get("/v1/contacts", headers=admin(api)).text,
                   api.client.get(f"/v1/contacts/{contact['id']}", headers=admin(api)).text]
        for text in answers:
            for secret in SECRETS:
                assert secret not in text
        wecom, dingtalk = contact["channels"][:2]
        assert wecom["url"] == "https://qyapi.example/cgi-bin/webhook/send?key=***"
        assert dingtalk == {"type": "dingtalk", "secret_set": True,
                            "url": "https://oapi.example/robot/send?access_token=***"}

    def test_an_admin_of_another_county_may_not_and_does_not_see_it(self, api: Api) -> None:
        other = admin(api, "511103", "ad-9")
        refused = register(api, headers=other)
        assert refused.status_code == 403
        assert refused.json()["code"] == "outside_jurisdiction"
        contact_id = register(api).json()["id"]
        assert listed(api, other) == []
        assert api.client.get(f"/v1/contacts/{contact_id}", headers=other).status_code == 404
        assert api.client.get("/v1/contacts", headers=other,
                              params={"jurisdiction": "511102"}).status_code == 403
        assert api.client.delete(f"/v1/contacts/{contact_id}",
                                 headers=other).status_code == 404
        assert listed(api) == [contact_id]

    def test_a_caseworker_or_supervisor_gets_403(self, api: Api) -> None:
        contact_id = register(api).json()["id"]
        for role in ("caseworker", "supervisor"):
            headers = api.auth("u-1", [role], "511102")
            answers = [register(api, headers=headers),
                       api.client.get("/v1/contacts", headers=headers),
                       api.client.get(f"/v1/contacts/{contact_id}", headers=headers),
                       api.client.delete(f"/v1/contacts/{contact_id}", headers=headers)]
            for answer in answers:
                assert answer.status_code == 403, answer.text
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.json()["code"] == "role_forbidden"
        assert listed(api) == [contact_id]

    def test_a_bad_channel_is_422_naming_it_and_records_nothing(self, api: Api) -> None:
        before = stored_events(api)
        for channel, named in [
            ({"type": "sms", "number": "12345"}, ["body", "channels", 0, "sms", "number"]),
            ({"type": "dingtalk", "url": "https://oapi.example/robot/send"},
             ["body", "channels", 0, "dingtalk", "secret"]),
            ({"type": "email", "address": "wang@example"},
             ["body", "channels", 0, "email", "address"]),
            ({"type": "wecom", "url": "http://qyapi.example/send?key=k"},
             ["body", "channels", 0, "wecom", "url"]),
            ({"type": "webhook", "url": "https://ops.example:99999/hook"},
             ["body", "channels", 0, "webhook", "url"]),
        ]:
            response = register(api, {**CONTACT, "channels": [channel]})
            assert response.status_code == 422
            assert response.json()["errors"][0]["loc"] == named
        assert stored_events(api) == before
        assert listed(api) == []

    def test_an_idempotency_key_retry_answers_the_same_contact(self, api: Api) -> None:
        headers = {**admin(api), "Idempotency-Key": "contact-1"}
        first = register(api, headers=headers)
        again = register(api, headers=headers)
        assert again.status_code == 201
        assert again.json()["id"] == first.json()["id"]
        assert listed(api) == [first.json()["id"]]

    def test_a_listing_narrows_to_a_part_of_the_area(self, api: Api) -> None:
        county = register(api, {**CONTACT, "jurisdiction": "511102"}).json()["id"]
        township = register(api).json()["id"]
        assert set(listed(api)) == {county, township}
        assert listed(api, jurisdiction=LESHAN_TOWNSHIP) == [township]


class TestRemoving:
    def test_a_removed_contact_is_no_longer_listed_and_routing_falls_back_to_the_county(
        self, api: Api
    ) -> None:
        county = register(api, {**CONTACT, "jurisdiction": "511102", "name": "县值班"})
        township = register(api).json()["id"]
        worker = bootstrap(api.settings, pool_size=1)  # the worker's process, on its own
        try:
            assert worker.contact_directory().route(LESHAN_VILLAGE).covered_by == \
                LESHAN_TOWNSHIP
            removed = api.client.delete(f"/v1/contacts/{township}", headers=admin(api))
            assert removed.status_code == 204
            assert listed(api) == [county.json()["id"]]
            assert api.client.get(f"/v1/contacts/{township}",
                                  headers=admin(api)).status_code == 404
            route = worker.contact_directory().route(LESHAN_VILLAGE)
            assert (route.covered_by, route.unattended) == ("511102", True)
        finally:
            worker.close()
        again = api.client.delete(f"/v1/contacts/{township}", headers=admin(api))
        assert again.status_code == 204

    def test_an_unknown_contact_is_404(self, api: Api) -> None:
        response = api.client.delete("/v1/contacts/00000000-0000-0000-0000-000000000007",
                                     headers=admin(api))
        assert response.status_code == 404
        assert response.json()["code"] == "contact_not_found"

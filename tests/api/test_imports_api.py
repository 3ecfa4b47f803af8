"""`POST /v1/imports` and `GET /v1/imports/{id}`: an upload runs in the background and
reports its progress and rejected rows; a job stopped half way resumes when the same file is
posted again; admins and supervisors of the area only; bad uploads are problem details."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from api.bootstrap import bootstrap
from api.imports.reader import open_import
from api.imports.runner import run_job, start_job
from domain.actors import Actor
from domain.codes import Role
from tests.api.support import Api, api, project, running_api
from tests.imports_data import school_roll

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

__all__ = ["api"]

COUNTY = "511102"


def post_csv(api: Api, text: str, headers: dict[str, str], query: str = "source=school_roll"
             ) -> httpx.Response:
    response: httpx.Response = api.client.post(
        f"/v1/imports?{query}", content=text.encode(),
        headers={**headers, "Content-Type": "text/csv"})
    return response


def finished(api: Api, location: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = api.client.get(location, headers=headers).json()
        if job["status"] == "finished":
            return job
        time.sleep(0.1)
    raise AssertionError("the import did not finish")


class TestUpload:
    def test_a_posted_roll_runs_in_the_background_and_reports_each_bad_row(
        self, api: Api
    ) -> None:
        admin = api.auth("ad-1", ["admin"], COUNTY)
        roll = school_roll(2000)
        response = post_csv(api, roll.text, admin)
        assert response.status_code == 202, response.text
        assert response.headers["Location"] == f"/v1/imports/{response.json()['id']}"
        job = finished(api, response.headers["Location"], admin)
        assert (job["accepted"], job["rejected"], job["cases_opened"]) == (
            len(roll.good), len(roll.bad_lines), len(roll.dropouts))
        assert {(r["line"], r["column"]) for r in job["rejections"]} == set(
            roll.bad_lines.items())
        report = api.client.get(response.headers["Location"],
                                headers={**admin, "Accept": "text/csv"})
        assert report.text.splitlines()[0] == "line,column,reason"
        assert len(report.text.splitlines()) == 1 + len(roll.bad_lines)

    def test_a_multipart_upload_by_a_supervisor_of_the_township(self, api: Api) -> None:
        supervisor = api.auth("sv-1", ["supervisor"], "511102001")
        roll = school_roll(30, bad=False)
        response = api.client.post(
            "/v1/imports", headers=supervisor, data={"source": "school_roll"},
            files={"file": ("roll.csv", roll.text.encode(), "text/csv")})
        assert response.status_code == 202, response.text
        job = finished(api, response.headers["Location"], supervisor)
        assert (job["jurisdiction"], job["accepted"]) == ("511102001", 30)

    def test_a_job_stopped_half_way_resumes_when_the_same_file_is_posted_again(
        self, api: Api
    ) -> None:
        roll = school_roll(3000)
        file = open_import(roll.text.encode(), "school_roll")
        admin = Actor("ad-1", frozenset({Role.ADMIN}), COUNTY)
        # A first run stops after its first batch (as the API's threads do on shutdown).
        stop = threading.Event()
        app = bootstrap(api.settings, pool_size=2)
        try:
            job = start_job(app, admin, file, COUNTY)
            job = run_job(app, admin, file, job, batch_rows=500, stop=stop,
                          progress=lambda _: stop.set())
        finally:
            app.close()
        assert (job["rows_done"], job["finished"]) == (500, False)
        headers = api.auth("ad-1", ["admin"], COUNTY)
        shown = api.client.get(f"/v1/imports/{job['id']}", headers=headers).json()
        assert shown["status"] in ("stopped", "running")
        response = post_csv(api, roll.text, headers)
        assert response.status_code == 202
        assert response.json()["id"] == job["id"]
        done = finished(api, response.headers["Location"], headers)
        assert (done["rows_done"], done["accepted"], done["files_created"]) == (
            3000, len(roll.good), len(roll.good))


class TestAccess:
    def test_an_admin_of_another_county_gets_403(self, api: Api) -> None:
        admin = api.auth("ad-1", ["admin"], COUNTY)
        response = post_csv(api, school_roll(20, bad=False).text, admin)
        location = response.headers["Location"]
        other = api.auth("ad-2", ["admin"], "511103")
        assert api.client.get(location, headers=other).status_code == 403
        refused = post_csv(api, "x", other, f"source=school_roll&jurisdiction={COUNTY}")
        assert refused.status_code == 403
        assert refused.headers["Content-Type"] == "application/problem+json"
        finished(api, location, admin)

    def test_an_import_is_for_a_township_or_wider(self, api: Api) -> None:
        village = api.auth("sv-9", ["supervisor"], "511102001001")
        response = post_csv(api, school_roll(3, bad=False).text, village)
        assert response.status_code == 422
        assert "township" in response.json()["detail"]

    def test_caseworkers_and_inspectors_may_not_import(self, api: Api) -> None:
        for role in ("caseworker", "inspector", "reporter"):
            headers = api.auth("u-1", [role], COUNTY)
            assert post_csv(api, "x", headers).status_code == 403


class TestBadUploads:
    def test_a_wrong_header_names_the_columns(self, api: Api) -> None:
        admin = api.auth("ad-1", ["admin"], COUNTY)
        response = post_csv(api, "id_number,name,village\n", admin)
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "invalid_import_file"
        assert "unknown: village" in problem["detail"]
        assert "missing: division_code" in problem["detail"]

    def test_other_uploads_are_refused_with_what_to_send(self, api: Api) -> None:
        admin = api.auth("ad-1", ["admin"], COUNTY)
        not_utf8 = api.client.post("/v1/imports?source=school_roll", content="姓名".encode(
            "gbk"), headers={**admin, "Content-Type": "text/csv"})
        assert "not UTF-8" in not_utf8.json()["detail"]
        no_source = post_csv(api, school_roll(1).text, admin, "")
        assert "source=" in no_source.json()["detail"]
        json_body = api.client.post("/v1/imports?source=school_roll", json={}, headers=admin)
        assert json_body.status_code == 422
        assert "Content-Type" in json_body.json()["detail"]
        not_xlsx = api.client.post("/v1/imports?source=school_roll", content=b"PK\x03\x04x",
                                   headers={**admin, "Content-Type": "text/csv"})
        assert not_xlsx.status_code == 422

    def test_a_list_over_the_limit_is_413(self, tmp_path: Path, db_url: str) -> None:
        with running_api(tmp_path, db_url, import_max_bytes=4096) as limited:
            admin = limited.auth("ad-1", ["admin"], COUNTY)
            response = post_csv(limited, school_roll(200).text, admin)
            assert response.status_code == 413
            assert response.json()["code"] == "payload_too_large"
            # Other routes keep their own (smaller) limit.
            assert limited.client.post("/v1/cases", content=b"x" * 70_000, headers={
                **admin, "Content-Type": "application/json"}).status_code == 413



class TestImportedFile:
    def test_an_imported_childs_details_show_to_readers_of_the_area_only(
        self, api: Api
    ) -> None:
        admin = api.auth("ad-1", ["admin"], COUNTY)
        roll = ("record_id,id_number,name,division_code,dropped_out\n"
                "r-1,511102201403020023,Invented Pupil,511102001001,0\n")
        finished(api, post_csv(api, roll, admin).headers["Location"], admin)
        app: Any = api.client.app
        [file_id] = app.state.wardship.child_file_ids()
        project(api)
        inside = api.client.get(f"/v1/children/{file_id}",
                                headers=api.auth("sv-1", ["supervisor"], COUNTY))
        assert inside.status_code == 200, inside.text
        [detail] = inside.json()["details"]
        assert (detail["source"], detail["values"]["name"]) == ("school_roll", "Invented Pupil")
        outside = api.client.get(f"/v1/children/{file_id}",
                                 headers=api.auth("sv-9", ["supervisor"], "511103"))
        assert outside.status_code == 404

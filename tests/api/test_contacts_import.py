"""`wardship contacts import FILE`: a CSV of contacts into the directory on PostgreSQL, every
row checked first, each change recorded under the admin, and a second import adding nobody."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from api.bootstrap import bootstrap
from api.cli import main as wardship
from api.cli.migrate import migrate_database
from api.settings import get_settings

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from domain.application import Wardship

HEADER = ("jurisdiction,name,role,email,sms,wecom_url,dingtalk_url,dingtalk_secret,"
          "webhook_url\n")
ROWS = (
    "511102001,王督导,supervisor,wang@example.org,13800000000,"
    "https://qyapi.example/send?key=wecom-key-1,,,\n"
    "511102002,李督导,child_supervisor,,,,https://oapi.example/robot/send?access_token=t,"
    "SECding-secret-1,\n"
    "511102,县值班,caseworker_lead,,+8613900000000,,,,https://ops.example/hook\n"
)


@pytest.fixture
def store(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Wardship]:
    """`wardship` set up on this test's migrated database, and the application reading it."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("WARDSHIP_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    migrate_database(get_settings())
    app = bootstrap(get_settings(), pool_size=1)
    try:
        yield app
    finally:
        app.close()
        get_settings.cache_clear()


def csv_file(tmp_path: Path, rows: str, *, bom: bool = False) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_text(("\ufeff" if bom else "") + HEADER + rows, encoding="utf-8")
    return path


def import_as_county_admin(path: Path) -> int:
    return wardship(["contacts", "import", str(path), "--by", "ad-1",
                     "--jurisdiction", "511102"])


class TestImport:
    @pytest.mark.parametrize("bom", [False, True], ids=["plain", "with-bom"])
    def test_each_row_becomes_a_contact_recorded_under_the_admin(
        self, store: Wardship, tmp_path: Path, bom: bool, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert import_as_county_admin(csv_file(tmp_path, ROWS, bom=bom)) == 0
        assert "imported 3 contacts; 0 already in the directory" in capsys.readouterr().out
        directory = store.contact_directory()
        (township,) = directory.at("511102001")
        assert (township.name, township.role, township.recorded_by) == (
            "王督导", "supervisor", "ad-1")
        assert [c.type for c in township.channels] == ["email", "sms", "wecom"]
        (dingtalk,) = directory.at("511102002")[0].channels
        assert dingtalk.secret == "SECding-secret-1"
        assert directory.route("511102003").covered_by == "511102"
        (event,) = store.events.get(UUID(township.id))
        assert event.recorded_by == "ad-1"  # type: ignore[attr-defined]

    def test_importing_the_same_file_again_adds_nobody(
        self, store: Wardship, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = csv_file(tmp_path, ROWS)
        assert import_as_county_admin(path) == 0
        events = store.recorder.max_notification_id()
        capsys.readouterr()
        assert import_as_county_admin(path) == 0
        assert "imported 0 contacts; 3 already in the directory" in capsys.readouterr().out
        assert store.recorder.max_notification_id() == events
        assert len(store.contact_directory().under("511102")) == 3

    def test_rejected_rows_are_named_by_line_and_nothing_is_recorded(
        self, store: Wardship, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        rows = ROWS + (
            "511102003,No Channel,supervisor,,,,,,\n"                       # line 5
            "511103001,Neighbour,supervisor,n@example.org,,,,,\n"           # line 6
            "511102004,Bad Number,supervisor,,12345,,,,\n"                  # line 7
            "511102005,No Url,supervisor,,,,,SEC-x,\n"                      # line 8
        )
        assert import_as_county_admin(csv_file(tmp_path, rows)) == 1
        err = capsys.readouterr().err
        assert "line 5: 'channels' must list at least one way" in err
        assert "line 6: jurisdiction 511103001 is outside 511102" in err
        assert "line 7: 'channels[0].number'" in err
        assert "line 8: dingtalk_secret is set but dingtalk_url is empty" in err
        assert "4 of 7 rows rejected; nothing was recorded" in err
        assert "SEC-x" not in err
        assert store.recorder.max_notification_id() is None

    def test_an_unknown_column_is_refused(
        self, store: Wardship, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "contacts.csv"
        path.write_text("jurisdiction,name,role,phone\n511102001,A,supervisor,1\n",
                        encoding="utf-8")
        assert import_as_county_admin(path) == 2
        assert "unknown: ['phone']" in capsys.readouterr().err
        assert store.recorder.max_notification_id() is None

    def test_the_listing_shows_no_secret(
        self, store: Wardship, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert import_as_county_admin(csv_file(tmp_path, ROWS)) == 0
        capsys.readouterr()
        assert wardship(["contacts", "list", "--jurisdiction", "511102001"]) == 0
        out = capsys.readouterr().out
        assert "王督导" in out
        assert "https://qyapi.example/send?key=***" in out
        assert "李督导" not in out
        assert "wecom-key-1" not in out

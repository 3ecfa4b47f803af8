"""What a notification says: Chinese, in 北京时间, and nothing about the child but the facts
a supervisor needs to act (kind, level, township, stage, due time, how overdue, a link)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta

import pytest

from workflows.notices import (
    Notice,
    case_link,
    digest_message,
    digest_text,
    message_for,
    notice_text,
    overdue_text,
)

CASE_ID = "0b9f3c1e-6a43-4d59-9d7e-2f1c1c1a7e01"
LINK = case_link("https://wardship.example.gov.cn/", CASE_ID)


def notice(**changes: object) -> Notice:
    """A level-1 miss of an urgent intake in a village of township 511102001, due at 09:00
    Beijing time and 2 h 15 min overdue."""
    values: dict[str, object] = {
        "notification_id": f"{CASE_ID}:d-1:L1", "case_id": CASE_ID, "kind": "intake_danger",
        "level": 1, "due_at": datetime(2026, 11, 20, 1, 0, tzinfo=UTC), "stage": "report",
        "recipient_jurisdiction": "511102001", "case_jurisdiction": "511102001005",
        "overdue": timedelta(hours=2, minutes=15), "link": LINK,
    }
    return Notice(**{**values, **changes})  # type: ignore[arg-type]


class TestNoticeText:
    def test_says_only_the_kind_level_township_stage_due_time_overdue_and_link(self) -> None:
        assert notice_text(notice()) == (
            "【一级督办】紧急受理时限超时未办\n"
            "乡镇（街道）：511102001\n"
            "阶段：报告\n"
            "截止时间：2026-11-20 09:00（北京时间）\n"
            "已超时 2小时15分\n"
            f"案件链接：https://wardship.example.gov.cn/v1/cases/{CASE_ID}"
        )

    def test_a_notice_has_no_field_for_personal_data(self) -> None:
        # A child's name, ID number, address or phone could only reach a chat group through
        # a field of the notice; these are all it has.
        assert {f.name for f in dataclasses.fields(Notice)} == {
            "notification_id", "case_id", "kind", "level", "due_at", "stage",
            "recipient_jurisdiction", "case_jurisdiction", "overdue", "link"}

    def test_due_time_is_shown_in_beijing_time_whatever_zone_it_comes_in(self) -> None:
        # 23:30 UTC is 07:30 the next morning in Beijing.
        late = notice(due_at=datetime(2026, 11, 19, 23, 30, tzinfo=UTC))
        assert "截止时间：2026-11-20 07:30（北京时间）" in notice_text(late)

    def test_a_naive_due_time_is_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            notice(due_at=datetime(2026, 11, 20, 9, 0))

    def test_higher_levels_and_a_county_case(self) -> None:
        text = notice_text(notice(level=3, case_jurisdiction="511102", kind="assessment",
                                  stage="assessment"))
        assert text.startswith("【三级督办】评估时限超时未办\n辖区：511102\n阶段：评估\n")

    @pytest.mark.parametrize(("overdue", "said"), [
        (timedelta(days=3, hours=4, minutes=20), "已超时 3天4小时"),
        (timedelta(days=2), "已超时 2天"),
        (timedelta(hours=2, minutes=15), "已超时 2小时15分"),
        (timedelta(hours=5), "已超时 5小时"),
        (timedelta(minutes=40, seconds=59), "已超时 40分钟"),
        (timedelta(seconds=30), "已超时 不足1分钟"),
    ])
    def test_how_overdue(self, overdue: timedelta, said: str) -> None:
        assert overdue_text(overdue) == said


class TestMessage:
    def test_a_miss_is_keyed_by_its_notification_and_its_webhook_body_keeps_todays_keys(
        self,
    ) -> None:
        message = message_for(notice())
        assert message.key == f"{CASE_ID}:d-1:L1"
        assert message.subject == "【一级督办】紧急受理时限超时未办（511102001）"
        assert message.text == notice_text(notice())
        assert json.loads(json.dumps(message.payload)) == {
            "type": "deadline_missed", "notification_id": f"{CASE_ID}:d-1:L1",
            "case_id": CASE_ID, "kind": "intake_danger", "level": 1,
            "due_at": "2026-11-20T01:00:00+00:00", "recipient_jurisdiction": "511102001",
            "case_jurisdiction": "511102001005", "stage": "report", "overdue_seconds": 8100,
            "link": LINK, "text": message.text,
        }

    def test_the_sms_is_short_kind_township_level_overdue_and_link(self) -> None:
        assert message_for(notice()).sms == (
            f"【一级督办】511102001 紧急受理时限超时未办，已超时 2小时15分。{LINK}")


class TestDigest:
    def blue_misses(self) -> list[Notice]:
        return [
            notice(notification_id=f"c{i}:d:L1", case_id=f"c{i}", kind="home_visit",
                   stage="assistance", link=case_link("https://w.example", f"c{i}"),
                   due_at=datetime(2026, 11, 19, hour, 0, tzinfo=UTC),
                   overdue=timedelta(hours=23 - hour))
            for i, hour in ((1, 8), (2, 2), (3, 5))
        ]

    def test_three_misses_make_one_text_with_a_count_and_a_line_each_oldest_first(
        self,
    ) -> None:
        text = digest_text(self.blue_misses(), date(2026, 11, 20))
        assert text.split("\n") == [
            "【每日督办汇总】2026-11-20：超时未办 3 件",
            "1. 一级督办｜511102001｜走访时限｜帮扶｜截止 2026-11-19 10:00（北京时间）｜"
            "已超时 21小时｜https://w.example/v1/cases/c2",
            "2. 一级督办｜511102001｜走访时限｜帮扶｜截止 2026-11-19 13:00（北京时间）｜"
            "已超时 18小时｜https://w.example/v1/cases/c3",
            "3. 一级督办｜511102001｜走访时限｜帮扶｜截止 2026-11-19 16:00（北京时间）｜"
            "已超时 15小时｜https://w.example/v1/cases/c1",
        ]

    def test_the_digest_message_carries_every_miss_under_the_callers_key(self) -> None:
        message = digest_message(self.blue_misses(), date(2026, 11, 20), "digest:k-1:2026-11-20")
        assert message.key == "digest:k-1:2026-11-20"
        assert message.subject == "【每日督办汇总】2026-11-20 超时未办 3 件"
        assert message.payload["count"] == 3
        assert [n["case_id"] for n in message.payload["notices"]] == ["c2", "c3", "c1"]
        json.dumps(message.payload)

    def test_the_sms_digest_lists_three_and_counts_the_rest(self) -> None:
        misses = [*self.blue_misses(), *(notice(notification_id=f"x{i}", case_id=f"x{i}")
                                         for i in range(2))]
        sms = digest_message(misses, date(2026, 11, 20), "k").sms
        assert sms.split("\n")[0] == "【每日督办汇总】2026-11-20 超时未办5件："
        assert len(sms.split("\n")) == 5
        assert sms.endswith("另有2件，请登录系统查看。")

    def test_an_empty_digest_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least one"):
            digest_message([], date(2026, 11, 20), "k")

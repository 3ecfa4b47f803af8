"""What a notification says: Chinese texts of a missed deadline and of a morning digest.

A notice carries no personal data of the child (no name, ID number, address, phone or free
text): only the deadline kind, level, stage, township code, due time, how overdue it is and a
link to the case page, which asks the reader to sign in. Times are shown in 北京时间.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from domain.labels import DEADLINE_KINDS, PATTERNS, SIGNALS, STAGES, label

BEIJING = timezone(timedelta(hours=8), "北京时间")
# Length of a township (乡镇、街道) code: the place a notice names, never anything finer.
TOWNSHIP_CODE_LENGTH = 9
# Case lines an SMS digest lists before "另有N件": a long SMS is split and billed per 67 chars.
SMS_DIGEST_LINES = 3
_NUMERALS = "一二三四五六七八九十"


@dataclass(frozen=True)
class Notice:
    """One missed deadline told to one jurisdiction at one escalation level."""

    notification_id: str
    case_id: str
    kind: str
    level: int
    due_at: datetime
    stage: str
    recipient_jurisdiction: str
    case_jurisdiction: str
    overdue: timedelta
    link: str

    def __post_init__(self) -> None:
        # A naive time would be shown as if it were Beijing's, silently eight hours off.
        if self.due_at.tzinfo is None or self.due_at.utcoffset() is None:
            raise ValueError("a notice's due_at must be timezone-aware")

    @property
    def township(self) -> str:
        return self.case_jurisdiction[:TOWNSHIP_CODE_LENGTH]

    def as_dict(self) -> dict[str, Any]:
        """The JSON body of the signed webhook."""
        return {
            "type": "deadline_missed", "notification_id": self.notification_id,
            "case_id": self.case_id, "kind": self.kind, "level": self.level,
            "due_at": self.due_at.astimezone(UTC).isoformat(),
            "recipient_jurisdiction": self.recipient_jurisdiction,
            "case_jurisdiction": self.case_jurisdiction, "stage": self.stage,
            "overdue_seconds": int(self.overdue.total_seconds()), "link": self.link,
            "text": notice_text(self),
        }


def case_link(public_url: str, case_id: str) -> str:
    """The case page a notice links to (the reader signs in to see it)."""
    return f"{public_url.rstrip('/')}/v1/cases/{case_id}"


def beijing_time(moment: datetime) -> str:
    """`2026-11-20 09:00（北京时间）`."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") + "（北京时间）"


def overdue_text(overdue: timedelta) -> str:
    """`已超时 3天4小时`, `已超时 2小时15分`, `已超时 40分钟`, `已超时 不足1分钟`."""
    minutes = max(0, int(overdue.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        amount = f"{days}天{hours}小时" if hours else f"{days}天"
    elif hours:
        amount = f"{hours}小时{minutes}分" if minutes else f"{hours}小时"
    elif minutes:
        amount = f"{minutes}分钟"
    else:
        amount = "不足1分钟"
    return f"已超时 {amount}"


def level_text(level: int) -> str:
    """`一级督办` for level 1."""
    numeral = _NUMERALS[level - 1] if 1 <= level <= len(_NUMERALS) else str(level)
    return f"{numeral}级督办"


def _place(notice: Notice) -> str:
    name = "乡镇（街道）" if len(notice.township) == TOWNSHIP_CODE_LENGTH else "辖区"
    return f"{name}：{notice.township}"


def notice_text(notice: Notice) -> str:
    """The full Chinese text of one missed deadline (mail, WeCom, DingTalk, webhook)."""
    kind = label(DEADLINE_KINDS, notice.kind, "zh")
    return "\n".join((
        f"【{level_text(notice.level)}】{kind}超时未办",
        _place(notice),
        f"阶段：{label(STAGES, notice.stage, 'zh')}",
        f"截止时间：{beijing_time(notice.due_at)}",
        overdue_text(notice.overdue),
        f"案件链接：{notice.link}",
    ))


def _subject(notice: Notice) -> str:
    kind = label(DEADLINE_KINDS, notice.kind, "zh")
    return f"【{level_text(notice.level)}】{kind}超时未办（{notice.township}）"


def sms_text(notice: Notice) -> str:
    """The short text of one miss: kind, township, level, how overdue, link."""
    kind = label(DEADLINE_KINDS, notice.kind, "zh")
    return (f"【{level_text(notice.level)}】{notice.township} {kind}超时未办，"
            f"{overdue_text(notice.overdue)}。{notice.link}")


def _ordered(notices: list[Notice]) -> list[Notice]:
    return sorted(notices, key=lambda n: (n.due_at, n.case_id, n.notification_id))


def _digest_line(index: int, notice: Notice) -> str:
    return (f"{index}. {level_text(notice.level)}｜{notice.township}｜"
            f"{label(DEADLINE_KINDS, notice.kind, 'zh')}｜{label(STAGES, notice.stage, 'zh')}｜"
            f"截止 {beijing_time(notice.due_at)}｜{overdue_text(notice.overdue)}｜{notice.link}")


def digest_text(notices: list[Notice], day: date) -> str:
    """One morning digest of several misses: a count header, then one line each, oldest due
    first."""
    header = f"【每日督办汇总】{day.isoformat()}：超时未办 {len(notices)} 件"
    return "\n".join([header, *(_digest_line(i, n) for i, n in enumerate(_ordered(notices), 1))])


def digest_sms_text(notices: list[Notice], day: date) -> str:
    """The short digest: the count, and the first few misses by township, kind and link."""
    ordered = _ordered(notices)
    lines = [f"【每日督办汇总】{day.isoformat()} 超时未办{len(ordered)}件："]
    lines += [f"{n.township} {label(DEADLINE_KINDS, n.kind, 'zh')} {n.link}"
              for n in ordered[:SMS_DIGEST_LINES]]
    if len(ordered) > SMS_DIGEST_LINES:
        lines.append(f"另有{len(ordered) - SMS_DIGEST_LINES}件，请登录系统查看。")
    return "\n".join(lines)


@dataclass(frozen=True)
class Message:
    """What a transport sends: an idempotency key (the same on every retry), a subject and
    text, the JSON body of webhooks, and a short text for SMS ("" means use `text`)."""

    key: str
    subject: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    short: str = ""

    @property
    def sms(self) -> str:
        return self.short or self.text


def message_for(notice: Notice) -> Message:
    """The message of one missed deadline, keyed by its notification id."""
    return Message(key=notice.notification_id, subject=_subject(notice),
                   text=notice_text(notice), payload=notice.as_dict(), short=sms_text(notice))


@dataclass(frozen=True)
class Alarm:
    """One pattern alarm (监测预警) told to a township: the rule, the kinds and times of the
    signals that made it, and a link to the child's file; nothing personal."""

    notification_id: str
    file_id: str
    rule: str
    signals: list[tuple[str, datetime]]
    window_days: int | None
    recipient_jurisdiction: str
    case_jurisdiction: str
    link: str

    @property
    def township(self) -> str:
        return self.case_jurisdiction[:TOWNSHIP_CODE_LENGTH]

    def text(self) -> str:
        """The full Chinese text (mail, WeCom, DingTalk, webhook)."""
        counts: dict[str, int] = {}
        for kind, _ in self.signals:
            counts[kind] = counts.get(kind, 0) + 1
        what = "、".join(f"{label(SIGNALS, kind, 'zh')}{n}次" for kind, n in counts.items())
        within = f"{self.window_days}天内" if self.window_days else ""
        newest = max(at for _, at in self.signals)
        return "\n".join((
            f"【监测预警】{label(PATTERNS, self.rule, 'zh')}",
            f"乡镇（街道）：{self.township}",
            f"信号：{within}{what}，最近一次 {beijing_time(newest)}",
            "请核查该儿童情况并跟进处置。",
            f"儿童档案链接：{self.link}",
        ))

    def message(self) -> Message:
        """The alarm's message, keyed by its notification id."""
        subject = f"【监测预警】{label(PATTERNS, self.rule, 'zh')}（{self.township}）"
        payload = {
            "type": "pattern_alarm", "notification_id": self.notification_id,
            "child_file_id": self.file_id, "rule": self.rule,
            "signals": [{"kind": kind, "at": at.astimezone(UTC).isoformat()}
                        for kind, at in self.signals],
            "recipient_jurisdiction": self.recipient_jurisdiction,
            "case_jurisdiction": self.case_jurisdiction, "link": self.link,
            "text": self.text(),
        }
        short = (f"【监测预警】{self.township} {label(PATTERNS, self.rule, 'zh')}，"
                 f"请核查。{self.link}")
        return Message(key=self.notification_id, subject=subject, text=self.text(),
                       payload=payload, short=short)


def digest_message(notices: list[Notice], day: date, key: str) -> Message:
    """The morning digest of several misses, under the caller's key (one per contact and day)."""
    if not notices:
        raise ValueError("a digest needs at least one notice")
    text = digest_text(notices, day)
    payload: dict[str, Any] = {
        "type": "deadline_digest", "day": day.isoformat(), "count": len(notices),
        "notices": [{k: v for k, v in n.as_dict().items() if k != "text"}
                    for n in _ordered(notices)],
        "text": text,
    }
    return Message(key=key, subject=f"【每日督办汇总】{day.isoformat()} 超时未办 {len(notices)} 件",
                   text=text, payload=payload, short=digest_sms_text(notices, day))

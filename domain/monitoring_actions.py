"""The monitoring action table (监测预防): for each action on a monitored child's record, who
may take it, whether the record must be under monitoring, which deadlines it meets, the event
that records it and its Chinese term.

The aggregate, the access policy (`access.may_monitor`) and the API read this table only.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain import monitoring_events as mev
from domain.codes import Role

# Caseworkers and supervisors of the area do everything; inspectors read; reporters and the
# hotline client nothing.
_WORKERS = frozenset({Role.CASEWORKER, Role.SUPERVISOR, Role.ADMIN})
# 儿童主任: the village's child director visits and checks.
_DIRECTOR = frozenset({Role.CHILD_DIRECTOR})
# 儿童督导员: the township's child supervisor keeps and reviews the ledger.
_TOWNSHIP = frozenset({Role.CHILD_SUPERVISOR})


@dataclass(frozen=True)
class MonitoringRule:
    """One row: the action, its event, its term, its roles and the deadlines it meets."""

    name: str
    event: type[mev.MonitoringEvent]
    term: str
    roles: frozenset[Role]
    meets: tuple[str, ...] = ()
    # False only for the action that starts monitoring (the record does not exist yet).
    while_monitoring: bool = True


MONITORING_ACTIONS: tuple[MonitoringRule, ...] = (
    MonitoringRule("start_monitoring", mev.MonitoringStarted, "纳入台账", _WORKERS | _TOWNSHIP,
                   while_monitoring=False),
    MonitoringRule("record_visit", mev.MonitoringVisitRecorded, "定期走访", _WORKERS | _DIRECTOR,
                   meets=("visit",)),
    MonitoringRule("set_risk_level", mev.RiskLevelSet, "调整监护风险等级",
                   _WORKERS | _DIRECTOR | _TOWNSHIP),
    MonitoringRule("record_care_agreement", mev.CareAgreementRecorded, "签订书面照护协议",
                   _WORKERS | _DIRECTOR, meets=("care_agreement_renewal",)),
    MonitoringRule("review_file", mev.ChildFileReviewed, "台账复核", _WORKERS | _TOWNSHIP,
                   meets=("child_file_review",)),
    MonitoringRule("raise_concern", mev.ConcernRaised, "发现报告", _WORKERS | _DIRECTOR),
    MonitoringRule("stop_monitoring", mev.MonitoringStopped, "退出台账", _WORKERS | _TOWNSHIP),
)

MONITORING_RULES: dict[str, MonitoringRule] = {rule.name: rule for rule in MONITORING_ACTIONS}
MONITORING_ACTION_NAMES: tuple[str, ...] = tuple(MONITORING_RULES)
# Every role that takes at least one monitoring action.
MONITORING_ROLES: frozenset[Role] = frozenset().union(*(r.roles for r in MONITORING_ACTIONS))

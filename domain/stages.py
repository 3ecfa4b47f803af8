"""The stage table: which actions each stage allows and where each leads (data, not code)."""

from __future__ import annotations

from domain.codes import Role, Stage

OPEN_STAGES = tuple(stage for stage in Stage if stage is not Stage.CLOSED)

# Actions proper to one stage, with the stage each leads to. None: the case stays where it is;
# "decided": the command's outcome or grade decides (see ProtectionCase).
STAGE_ACTIONS: dict[Stage, dict[str, Stage | str | None]] = {
    Stage.DISCOVERY: {"file_report": Stage.REPORT, "dismiss": Stage.CLOSED},
    Stage.REPORT: {"accept_report": "decided", "screen_out": Stage.CLOSED},
    Stage.EMERGENCY_RESPONSE: {
        "dispatch_response": None,
        "place_child": None,
        "complete_emergency": Stage.ASSESSMENT,
    },
    Stage.ASSESSMENT: {"record_assessment": None, "complete_assessment": "decided"},
    Stage.ASSISTANCE: {
        "create_plan": None,
        "deliver_service": None,
        "record_visit": None,
        "sign_care_agreement": None,
        "record_guardian_contact": None,
        "complete_assistance": "decided",
    },
    Stage.GUARDIANSHIP_INTERVENTION: {
        "admonish_guardian": None,
        "order_family_education": None,
        "start_temporary_guardianship": None,
        "petition_court": None,
        "record_court_decision": None,
        "start_long_term_guardianship": None,
        "end_intervention": "decided",
    },
    Stage.CLOSED: {"reopen": Stage.REPORT, "add_note": None},
}

# Actions allowed in every open stage.
ANY_OPEN_STAGE: dict[str, Stage | str | None] = {
    "assign": None,
    "add_note": None,
    "refer": None,
    "record_referral_response": None,
    "escalate": Stage.EMERGENCY_RESPONSE,
    "transfer_jurisdiction": None,
    "close": Stage.CLOSED,
    "review_case": None,
    "review_guardianship": None,
    "request_approval": None,
    "approve": None,
    "reject": None,
}

ALL_ACTIONS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [action for table in STAGE_ACTIONS.values() for action in table] + list(ANY_OPEN_STAGE)
    )
)

# Who may perform what. Inspectors never write; reporters only open cases (via the API).
SUPERVISOR_ONLY = frozenset({"approve", "reject", "review_case"})
ROLE_ACTIONS: dict[Role, frozenset[str]] = {
    Role.REPORTER: frozenset(),
    Role.INSPECTOR: frozenset(),
    Role.CASEWORKER: frozenset(ALL_ACTIONS) - SUPERVISOR_ONLY,
    Role.SUPERVISOR: frozenset(ALL_ACTIONS),
    Role.ADMIN: frozenset(ALL_ACTIONS),
    Role.SYSTEM: frozenset(),
}


def stage_actions(stage: str) -> dict[str, Stage | str | None]:
    """Every action the stage allows, with its target."""
    table = dict(STAGE_ACTIONS[Stage(stage)])
    if stage != Stage.CLOSED:
        table.update(ANY_OPEN_STAGE)
        if stage == Stage.EMERGENCY_RESPONSE:
            del table["escalate"]  # already there
    return table


def role_may(roles: frozenset[Role] | set[Role], action: str) -> bool:
    return any(action in ROLE_ACTIONS[role] for role in roles)

"""Who may see and do what: the one access policy of the service.

A user with division code C works only on cases whose code starts with C. Within that area,
roles decide: caseworkers and supervisors act, inspectors read but never write, reporters
see only what they reported. Routes and the aggregate ask this module; none decides itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.codes import Role

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from domain.actions import ActionRule
    from domain.actors import Actor
    from domain.monitoring_actions import MonitoringRule

# Who may open a case (reporters file the reports they make; child directors and child
# supervisors file what their visits and reviews find, as mandatory reporters do).
OPENERS = frozenset({Role.REPORTER, Role.CASEWORKER, Role.SUPERVISOR, Role.ADMIN,
                     Role.CHILD_DIRECTOR, Role.CHILD_SUPERVISOR})
# Who may take a case action at all (each action's own roles are in the action table).
WRITERS = frozenset({Role.CASEWORKER, Role.SUPERVISOR, Role.ADMIN})
# Who reads lists, boards, statistics and child files: everyone but reporters.
READERS = frozenset({Role.CASEWORKER, Role.SUPERVISOR, Role.INSPECTOR, Role.ADMIN})
# Who reads the monitoring ledger (台账) and its records: the readers, and the village and
# township staff who keep it (they read no case lists, boards or statistics).
LEDGER_READERS = READERS | frozenset({Role.CHILD_DIRECTOR, Role.CHILD_SUPERVISOR})
# Who works the supervisors' inbox and acknowledges notifications.
SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})
# Who reads the access log (who looked at which child).
AUDITORS = frozenset({Role.INSPECTOR, Role.ADMIN})
# Who inspects any case of their area; a caseworker inspects only their own cases.
INSPECTORS = frozenset({Role.INSPECTOR, Role.SUPERVISOR, Role.ADMIN})
# Who keeps the notification contact directory of their area.
CONTACT_KEEPERS = frozenset({Role.ADMIN})
# Clients rather than people: the 12345 platform files work orders and reads its own tickets,
# and nothing else (no case, list, board or child file).
HOTLINE_CLIENTS = frozenset({Role.HOTLINE})
# Who imports other departments' lists (摸底排查、数据比对) for their area, and reads the jobs.
IMPORTERS = frozenset({Role.ADMIN, Role.SUPERVISOR})
# Who approves or rejects the erasure of a child's personal data, like a closure.
ERASURE_APPROVERS = frozenset({Role.SUPERVISOR})
# Who puts and lifts legal holds on a child's file or case.
HOLD_KEEPERS = frozenset({Role.INSPECTOR, Role.SUPERVISOR})
# Inspectors audit what was known; supervisors lead the case work in their area.
SEES_PERSONAL_DATA = frozenset({Role.INSPECTOR, Role.SUPERVISOR})


def covers(actor: Actor, jurisdiction: str) -> bool:
    """Whether the jurisdiction lies in the actor's area (their code is a prefix of it)."""
    return jurisdiction.startswith(actor.jurisdiction)


def holds_any(actor: Actor, roles: Iterable[Role]) -> bool:
    """Whether the actor holds at least one of the roles."""
    return not actor.roles.isdisjoint(roles)


def may_open_case(actor: Actor, jurisdiction: str) -> bool:
    """Openers open cases in their own area (the 12345 desk by its work orders); the
    service itself anywhere."""
    if Role.SYSTEM in actor.roles:
        return True
    return holds_any(actor, OPENERS | HOTLINE_CLIENTS) and covers(actor, jurisdiction)


def may_file_hotline_order(actor: Actor, jurisdiction: str) -> bool:
    """The 12345 platform files work orders about children in its own area."""
    return holds_any(actor, HOTLINE_CLIENTS) and covers(actor, jurisdiction)


def is_client_only(actor: Actor) -> bool:
    """A client (the 12345 platform) with no person's role: it reads no case at all."""
    return actor.roles <= HOTLINE_CLIENTS


def may_take(actor: Actor, rule: ActionRule, jurisdiction: str) -> bool:
    """Whether the actor's roles allow the action on a case in that jurisdiction."""
    if Role.SYSTEM in actor.roles:
        return True
    return holds_any(actor, rule.roles) and covers(actor, jurisdiction)


def may_monitor(actor: Actor, rule: MonitoringRule, jurisdiction: str) -> bool:
    """Whether the actor's roles allow the monitoring action on a record in that jurisdiction
    (a village's child director there, a township's child supervisor over it, caseworkers and
    supervisors of the area)."""
    if Role.SYSTEM in actor.roles:
        return True
    return holds_any(actor, rule.roles) and covers(actor, jurisdiction)


def may_read_ledger(actor: Actor, jurisdiction: str) -> bool:
    """Whether the actor reads the monitoring record of a child in that jurisdiction,
    guardian and caregiver included (the people who visit need them)."""
    return holds_any(actor, LEDGER_READERS) and covers(actor, jurisdiction)


def may_transfer(actor: Actor, from_jurisdiction: str, to_jurisdiction: str) -> bool:
    """A case moves only between codes the actor covers both of: a caseworker within their
    own area, beyond it a supervisor over both."""
    if Role.SYSTEM in actor.roles:
        return True
    return covers(actor, from_jurisdiction) and covers(actor, to_jurisdiction)


def may_hand_over(actor: Actor, from_jurisdiction: str) -> bool:
    """A case leaves for another province on the word of a supervisor over its area: nobody's
    code covers two provinces, and the receiving province takes it as it arrives."""
    if Role.SYSTEM in actor.roles:
        return True
    return holds_any(actor, SUPERVISORS) and covers(actor, from_jurisdiction)


def may_merge_child_files(actor: Actor, first: str, second: str) -> bool:
    """Two files are found to be one child by someone who acts on cases in both areas."""
    return holds_any(actor, WRITERS) and covers(actor, first) and covers(actor, second)


def may_see_case(actor: Actor, jurisdiction: str, opened_by: str) -> bool:
    """Within the actor's area; someone who neither reads nor works cases (a reporter, a
    child director or child supervisor, the hotline) sees only the cases they opened."""
    if not covers(actor, jurisdiction) or is_client_only(actor):
        return False
    if not holds_any(actor, READERS | WRITERS):
        return opened_by == actor.subject
    return True


def may_inspect_cases(actor: Actor) -> bool:
    """Whether the actor's roles allow inspection (history, state, verify) at all."""
    return holds_any(actor, INSPECTORS | {Role.CASEWORKER})


def may_inspect(actor: Actor, assignee: str | None, opened_by: str) -> bool:
    """Inspection of a case the actor may see: inspecting roles, or the caseworker who leads
    or opened it."""
    return holds_any(actor, INSPECTORS) or actor.subject in (assignee, opened_by)


def sees_personal_data(actor: Actor) -> bool:
    """Whether the actor reads children's and reporters' names, ID numbers, addresses."""
    return holds_any(actor, SEES_PERSONAL_DATA)


def may_export(actor: Actor) -> bool:
    """The signed case file holds every field (its hashes cover them): only those who see
    personal data export it."""
    return sees_personal_data(actor)


def visible_jurisdictions(actor: Actor, jurisdictions: Sequence[str]) -> list[bool]:
    """For each case of a child file (by its jurisdiction), whether the actor may see it."""
    return [covers(actor, code) for code in jurisdictions]


def may_read_child_file(actor: Actor, file_jurisdiction: str, case_jurisdictions: Sequence[str],
                        monitored_in: str | None = None) -> bool:
    """A reader sees a child's file when it, or one of the child's cases, is in their area;
    the ledger's keepers see the files of the children monitored in their area."""
    if monitored_in is not None and may_read_ledger(actor, monitored_in):
        return True
    if not holds_any(actor, READERS):
        return False
    return covers(actor, file_jurisdiction) or any(visible_jurisdictions(actor,
                                                                         case_jurisdictions))


def may_acknowledge(actor: Actor, recipient_jurisdiction: str) -> bool:
    """A notification is acknowledged by a supervisor holding exactly its addressed code."""
    return holds_any(actor, SUPERVISORS) and actor.jurisdiction == recipient_jurisdiction


def may_manage_contacts(actor: Actor, jurisdiction: str) -> bool:
    """The notification directory of an area is kept by an admin whose code covers it."""
    return holds_any(actor, CONTACT_KEEPERS) and covers(actor, jurisdiction)


def may_import(actor: Actor, jurisdiction: str) -> bool:
    """Lists are imported, and their jobs read, by admins and supervisors of the area."""
    return holds_any(actor, IMPORTERS) and covers(actor, jurisdiction)


def may_request_erasure(actor: Actor, jurisdiction: str) -> bool:
    """Erasing a child's personal data is asked for by those who act on cases in the area,
    or by the service when retention runs out."""
    if Role.SYSTEM in actor.roles:
        return True
    return holds_any(actor, WRITERS) and covers(actor, jurisdiction)


def may_approve_erasure(actor: Actor, jurisdiction: str) -> bool:
    """...and approved, like a closure, by a supervisor of the area."""
    return holds_any(actor, ERASURE_APPROVERS) and covers(actor, jurisdiction)


def may_hold(actor: Actor, jurisdiction: str) -> bool:
    """Legal holds are put and lifted by an inspector or supervisor of the area."""
    return holds_any(actor, HOLD_KEEPERS) and covers(actor, jurisdiction)


def may_read_erasures(actor: Actor) -> bool:
    """The erasure audit (what, when, approved by whom) is read by auditors and supervisors."""
    return holds_any(actor, AUDITORS | SUPERVISORS)

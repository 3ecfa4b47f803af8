"""The service's code lists: stages, grades, roles, categories, channels, legal grounds."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """Where a case stands in the linked response (发现、报告、应急处置、评估、帮扶、监护干预)."""

    DISCOVERY = "discovery"
    REPORT = "report"
    EMERGENCY_RESPONSE = "emergency_response"
    ASSESSMENT = "assessment"
    ASSISTANCE = "assistance"
    GUARDIANSHIP_INTERVENTION = "guardianship_intervention"
    CLOSED = "closed"


class Grade(StrEnum):
    """Graded intervention (分级介入): red is immediate danger, blue is monitoring."""

    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    BLUE = "blue"

    @property
    def is_urgent(self) -> bool:
        return self in (Grade.RED, Grade.ORANGE)

    @property
    def severity(self) -> int:
        """Blue 0 to red 3: a re-grade to a higher severity is a re-grade upwards."""
        return (Grade.BLUE, Grade.YELLOW, Grade.ORANGE, Grade.RED).index(self)


class Role(StrEnum):
    """Who a user is to the service."""

    REPORTER = "reporter"
    CASEWORKER = "caseworker"
    SUPERVISOR = "supervisor"
    INSPECTOR = "inspector"
    ADMIN = "admin"
    # 儿童主任: a village's child director (12-digit code), visits and checks monitored children.
    CHILD_DIRECTOR = "child_director"
    # 儿童督导员: a township's child supervisor (9-digit code), reviews the village ledgers.
    CHILD_SUPERVISOR = "child_supervisor"
    # The 12345 platform's minor-protection desk, a client rather than a person.
    HOTLINE = "hotline"
    SYSTEM = "system"


class RiskLevel(StrEnum):
    """A monitored child's guardianship risk (监护风险等级): how often they are visited."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Higher for a higher risk (a rise is a signal of `domain.patterns`)."""
        return (RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH).index(self)


class Entry(StrEnum):
    """The stage a new case enters at."""

    DISCOVERY = "discovery"
    REPORT = "report"


class ChildCategory(StrEnum):
    """The child's welfare category in the child file."""

    ORPHAN = "orphan"
    DE_FACTO_UNSUPPORTED = "de_facto_unsupported"
    LEFT_BEHIND = "left_behind"
    IN_DIFFICULTY = "in_difficulty"
    STREET_CHILD = "street_child"
    OTHER = "other"


class Sex(StrEnum):
    """The child's sex as recorded in the file."""

    FEMALE = "female"
    MALE = "male"
    UNKNOWN = "unknown"


class ConcernCategory(StrEnum):
    """What the concern is about."""

    PHYSICAL_ABUSE = "physical_abuse"
    SEXUAL_ABUSE = "sexual_abuse"
    EMOTIONAL_ABUSE = "emotional_abuse"
    NEGLECT = "neglect"
    ABANDONMENT = "abandonment"
    UNATTENDED = "unattended"
    BEGGING_OR_UNIDENTIFIED = "begging_or_unidentified"
    GUARDIAN_MISSING = "guardian_missing"
    GUARDIAN_INCAPABLE = "guardian_incapable"
    EXPLOITATION = "exploitation"
    BULLYING = "bullying"
    SELF_HARM = "self_harm"
    OTHER = "other"


class SourceChannel(StrEnum):
    """How the concern reached the service."""

    HOME_VISIT = "home_visit"
    DATA_MATCH = "data_match"
    SCHOOL = "school"
    HOSPITAL = "hospital"
    POLICE = "police"
    VILLAGE_COMMITTEE = "village_committee"
    HOTLINE_12345 = "hotline_12345"
    PUBLIC = "public"
    SELF = "self"
    OTHER = "other"


class Placement(StrEnum):
    """Where a child was placed in an emergency."""

    RELATIVES = "relatives"
    FOSTER_FAMILY = "foster_family"
    INSTITUTION = "institution"
    HOSPITAL = "hospital"


class GuardianshipCapacity(StrEnum):
    """The guardianship-capacity finding of an assessment (监护能力评估)."""

    ADEQUATE = "adequate"
    IMPAIRED = "impaired"
    ABSENT = "absent"
    HARMFUL = "harmful"


class AssessmentOutcome(StrEnum):
    """Where a completed assessment sends the case."""

    ASSISTANCE = "assistance"
    INTERVENTION = "intervention"
    CLOSE = "close"


class AssistanceOutcome(StrEnum):
    """Where completed assistance sends the case."""

    CLOSE = "close"
    INTERVENTION = "intervention"
    REASSESS = "reassess"


class InterventionOutcome(StrEnum):
    """Where an ended guardianship intervention sends the case."""

    ASSISTANCE = "assistance"
    CLOSE = "close"


class Partner(StrEnum):
    """Departments a case is referred to (部门联动)."""

    POLICE = "police"
    EDUCATION = "education"
    HEALTH = "health"
    COURT = "court"
    PROCURATORATE = "procuratorate"
    WOMENS_FEDERATION = "womens_federation"
    DISABLED_PERSONS_FEDERATION = "disabled_persons_federation"
    HUMAN_RESOURCES = "human_resources"


class ApprovalSubject(StrEnum):
    """Decisions that need a second person's approval."""

    CLOSURE = "closure"
    LONG_TERM_GUARDIANSHIP = "long_term_guardianship"
    COURT_PETITION = "court_petition"


class ApprovalStatus(StrEnum):
    """Where an approval request stands (a rejected one is removed, so it can be asked again)."""

    REQUESTED = "requested"
    APPROVED = "approved"


class LegalGround(StrEnum):
    """Minor Protection Law (2020) grounds for state guardianship and court petitions."""

    ART92_UNIDENTIFIED = "art92_unidentified"
    ART92_GUARDIAN_MISSING = "art92_guardian_missing"
    ART92_GUARDIAN_UNABLE = "art92_guardian_unable"
    ART92_UNATTENDED = "art92_unattended"
    ART92_USED_FOR_CRIME = "art92_used_for_crime"
    ART92_SERIOUS_HARM = "art92_serious_harm"
    ART92_OTHER = "art92_other"
    ART94_PARENTS_NOT_FOUND = "art94_parents_not_found"
    ART94_GUARDIAN_DEAD = "art94_guardian_dead"
    ART94_GUARDIAN_INCAPACITATED = "art94_guardian_incapacitated"
    ART94_REVOKED_BY_COURT = "art94_revoked_by_court"
    ART94_OTHER = "art94_other"
    ART108_REVOKE_GUARDIANSHIP = "art108_revoke_guardianship"
    ART108_PROTECTION_ORDER = "art108_protection_order"

    @property
    def article(self) -> int:
        return int(self.value[3:].split("_", 1)[0])


class DeadlineStatus(StrEnum):
    """Where a deadline stands: open until met, missed or cancelled."""

    OPEN = "open"
    MET = "met"
    MISSED = "missed"
    CANCELLED = "cancelled"


# The 34 provincial-level divisions (GB/T 2260), the first two digits of every code.
PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82",
})


def jurisdiction_is_valid(code: str) -> bool:
    """A statutory division code: 2, 4, 6, 9 or 12 digits under a province that exists."""
    return (code.isascii() and code.isdigit() and len(code) in (2, 4, 6, 9, 12)
            and code[:2] in PROVINCES)

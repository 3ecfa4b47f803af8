"""The signed link record of `wardship reseal`: each case's head hash in the store it was
copied from beside its head hash in the resealed store, signed with the service's Ed25519
key, so an inspector holding an old export or head can show the new chain is the old one
resealed (docs/privacy.md). Kept in the resealed store (`wardship_reseal_links`) and
printed; `wardship verify --links` checks it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from api.inspection.casefile import canonical
from api.inspection.signing import key_id, sign, signature_is_valid
from domain.errors import CaseNotFound

if TYPE_CHECKING:
    from datetime import datetime

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from domain.application import Wardship
    from domain.reseal import ResealResult

FORMAT = "wardship-reseal-links/1"
LINKS_TABLE = "wardship_reseal_links"


def link_document(result: ResealResult, *, source: str, made_at: datetime,
                  key: Ed25519PrivateKey) -> dict[str, Any]:
    """The signed record of one copy: where from, when, how much, and each case's heads."""
    body = {"format": FORMAT, "source": source, "made_at": made_at.isoformat(),
            "position": result.position, "events": result.events,
            "resealed": result.resealed, "links": result.links()}
    return {**body, "signature": sign(key, canonical(body))}


def store_links(app: Wardship, document: dict[str, Any]) -> None:
    """Keep the record in the store it vouches for."""
    with app.recorder.datastore.transaction(commit=True) as curs:  # type: ignore[attr-defined]
        curs.execute(f"INSERT INTO {LINKS_TABLE} (document) VALUES (%s)",  # noqa: S608
                     (canonical(document).decode("utf-8"),))


def stored_links(app: Wardship) -> list[dict[str, Any] | None]:
    """Every link record kept in the store, oldest first (None: one that is not JSON)."""
    with app.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(f"SELECT document FROM {LINKS_TABLE} ORDER BY id").fetchall()  # noqa: S608
    return [_parsed(row["document"]) for row in rows]


def _parsed(text: str) -> dict[str, Any] | None:
    try:
        found = json.loads(text)
    except json.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None


@dataclass(frozen=True)
class LinksCheck:
    """The verdict on a link record: valid or why not, and who signed it."""

    valid: bool
    message: str
    signer: str | None = None


def check_links(app: Wardship, document: Any, trusted_public_key: str | None = None
                ) -> LinksCheck:
    """Check the record's signature, and that each case of `app`'s store holds its new head
    at its version in a chain that verifies."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return LinksCheck(False, f"not a Wardship link record (expected format {FORMAT})")
    body = {k: v for k, v in document.items() if k != "signature"}
    signature = document.get("signature")
    public = signature.get("public_key") if isinstance(signature, dict) else None
    value = signature.get("value") if isinstance(signature, dict) else None
    if not (isinstance(public, str) and isinstance(value, str)
            and signature_is_valid(public, value, canonical(body))):
        return LinksCheck(False, "the signature does not match: the record was changed after "
                          "it was made, or it was not signed by a Wardship service")
    signer = key_id(public)
    if trusted_public_key is not None and public != trusted_public_key:
        return LinksCheck(False, f"signed by key {signer}, not by the key you trust "
                          f"({key_id(trusted_public_key)})", signer)
    links = body.get("links")
    if not isinstance(links, list):
        return LinksCheck(False, "the record has no list of links", signer)
    for link in links:
        problem = _link_problem(app, link)
        if problem:
            return LinksCheck(False, f"case {link.get('case_id')}: {problem}", signer)
    return LinksCheck(True, f"valid: {len(links)} cases link their old head to a chain here "
                      f"that verifies; signed by key {signer}", signer)


def _link_problem(app: Wardship, link: dict[str, Any]) -> str | None:
    case_id, version = UUID(str(link["case_id"])), int(link["version"])
    try:
        chain = app.verify_chain(case_id)
    except CaseNotFound:
        return "not in this store"
    if not chain["valid"]:
        return f"its chain breaks at event {chain['first_bad_version']}: {chain['problem']}"
    found = app.case_events(case_id, gt=version - 1, lte=version)
    if not found or found[0].hash != link["new_head"]:
        return f"event {version} here is not the new head the record names"
    return None

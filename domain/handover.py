"""A case's move from one partition (province) to another, keeping one verifiable hash chain.

The source records the hand-over (`CaseHandedOver`: the target partition, and as its
prev_hash the head it hands over), and the case is frozen there. The target stores the
source's events up to that one unchanged, hashes and all, then `ReceivedFromPartition`,
whose prev_hash is the hand-over's hash. So the target's chain is the source's chain carried
on: `verify` recomputes it on either side with no rule of its own for moves, and the source's
head hash can be found in the target's history.

The two stores share no transaction. The hand-over is recorded first: from then on the
history to copy is fixed. A move cut off between the two saves is completed by running it
again, which records no second hand-over and no second arrival.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.errors import InvalidCommand
from domain.partitions import partition_of

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from domain.actors import Actor
    from domain.application import Wardship


def move_case(
    source: Wardship, target: Wardship, case_id: UUID, actor: Actor, *, jurisdiction: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Move the case from `source`'s partition to `target`'s, into `jurisdiction` there;
    the case as the target now holds it."""
    if source.partition is None or target.partition is None:
        raise InvalidCommand("a move is between partitions: transfer the case instead")
    if source.partition == target.partition:
        raise InvalidCommand("the case is already in that partition: transfer it instead")
    if partition_of(jurisdiction) != target.partition:
        raise InvalidCommand(f"{jurisdiction} does not lie in partition {target.partition}")
    history = source.hand_over(case_id, actor, jurisdiction=jurisdiction,
                               to_partition=target.partition, now=now)
    return target.receive_case(history, actor, now=now)

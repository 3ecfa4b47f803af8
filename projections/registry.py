"""Every read model by name, as `wardship project NAME` and the runner know them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from projections.cases import CasesModel
from projections.children import ChildrenModel
from projections.deadlines import DeadlinesModel
from projections.inbox import InboxModel
from projections.ledger import LedgerModel
from projections.stats import StatsModel

if TYPE_CHECKING:
    from projections.base import ReadModel

MODELS: dict[str, type[ReadModel]] = {
    model.name: model
    for model in (CasesModel, DeadlinesModel, InboxModel, ChildrenModel, StatsModel,
                  LedgerModel)
}

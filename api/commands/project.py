"""`wardship project NAME`: run one read model in its own process."""

from __future__ import annotations

from api.commands.projections import PROJECT

COMMAND = PROJECT

"""The `wardship` command table and which processes `./run` starts."""

from __future__ import annotations

from api.cli import COMMANDS, build_parser
from api.cli.dev import CHILDREN


class TestCommandTable:
    def test_dev_and_api_are_registered(self) -> None:
        assert {"dev", "api"} <= {command.name for command in COMMANDS}
        assert build_parser().parse_args(["api"]).command == "api"

    def test_run_starts_the_api_the_worker_and_the_projections(self) -> None:
        assert {child.name for child in CHILDREN} == {"api", "worker", "projections"}

    def test_every_process_run_starts_is_a_subcommand(self) -> None:
        for child in CHILDREN:
            assert build_parser().parse_args(list(child.args)).command == child.args[0]

"""The `wardship` command table and which processes `./run` starts."""

from __future__ import annotations

from api.cli import build_parser, command_names
from api.commands.dev import CHILDREN, DevChild


class TestCommandTable:
    def test_dev_and_api_are_registered(self) -> None:
        assert {"dev", "api"} <= command_names()
        assert build_parser().parse_args(["api"]).command == "api"

    def test_run_starts_the_api(self) -> None:
        api = next(child for child in CHILDREN if child.name == "api")
        assert api.available()

    def test_a_process_whose_subcommand_is_not_registered_yet_is_skipped(self) -> None:
        assert not DevChild("later", ("not-yet-a-command",)).available()

    def test_a_process_whose_code_does_not_exist_yet_is_skipped(self) -> None:
        assert not DevChild("worker", ("api",), requires="no_such_package.worker").available()

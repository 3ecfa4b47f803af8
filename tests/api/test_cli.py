"""The `wardship` command table, which processes `./run` starts, and the deployment manifests."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml  # type: ignore[import-untyped]  # PyYAML comes with uvicorn[standard]

from api.cli import COMMANDS, build_parser
from api.cli import main as wardship
from api.cli.dev import CHILDREN
from api.settings import Settings, get_settings
from deploy.ports import free_port
from deploy.supervisor import Shutdown
from tests.api.support import HSM_KEYS

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pytest

    from deploy.supervisor import Child

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


class TestCommandTable:
    def test_dev_and_api_are_registered(self) -> None:
        assert {"dev", "api"} <= {command.name for command in COMMANDS}
        assert build_parser().parse_args(["api"]).command == "api"

    def test_run_starts_the_api_the_worker_and_the_projections(self) -> None:
        assert {child.name for child in CHILDREN} == {"api", "worker", "projections"}

    def test_every_process_run_starts_is_a_subcommand(self) -> None:
        for child in CHILDREN:
            assert build_parser().parse_args(list(child.args)).command == child.args[0]


class TestDevStartsMigratedServices:
    def test_run_migrates_once_before_it_starts_any_service(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`./run` changes the schema once, as `wardship migrate`; the services never do."""
        steps: list[str] = []

        class Recording:
            def __init__(self, *args: object) -> None:
                self.running: dict[str, object] = {}

            def stop_leftovers(self, names: object) -> None:
                del names

            def start(self, child: Child, env: object) -> None:
                steps.append(child.name)

            def run_once(self, args: Sequence[str], env: object) -> int:
                steps.append(" ".join(args[3:]))
                return 0

            def supervise(self) -> None:
                raise Shutdown("SIGTERM")

            def stop_all(self) -> None:
                steps.append("stopped")

        def run_once(args: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
            steps.append(" ".join(args[3:]))
            return subprocess.CompletedProcess(args, 0)

        for name, value in {"DATABASE_URL": "postgresql://x/y", "TEMPORAL_ADDRESS": "x:7233",
                            "WARDSHIP_STATE_DIR": str(tmp_path),
                            "WARDSHIP_PORT": str(free_port())}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr("api.logs.configure_logging", lambda *args: None)
        monkeypatch.setattr("deploy.supervisor.Supervisor", Recording)
        monkeypatch.setattr("deploy.supervisor.raise_shutdown_on_signals", lambda: None)
        monkeypatch.setattr("deploy.supervisor.ignore_signals", lambda: None)
        monkeypatch.setattr("api.cli.dev._wait_ready", lambda *args: None)
        monkeypatch.setattr(subprocess, "run", run_once)
        get_settings.cache_clear()
        try:
            assert wardship(["dev"]) == 0  # stopped by a signal
        finally:
            get_settings.cache_clear()
        assert steps[:4] == ["migrate", "api", "worker", "projections"]
        assert steps.count("migrate") == 1


class TestDeployments:
    """compose and Kubernetes: one migrate step as the owner, which every service waits for."""

    def test_compose_services_wait_for_the_one_shot_migrate(self) -> None:
        services = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))["services"]
        assert services["migrate"]["command"] == ["wardship", "migrate"]
        assert "wardship_owner" in services["migrate"]["environment"]["DATABASE_URL"]
        for name in ("api", "worker", "projections"):
            waits = services[name]["depends_on"]["migrate"]
            assert waits == {"condition": "service_completed_successfully"}, name
            assert "wardship_app" in services[name]["environment"]["DATABASE_URL"], name
            assert "CREATE_TABLE" not in services[name]["environment"], name

    def test_kubernetes_deployments_wait_for_the_migrate_job(self) -> None:
        documents = list(yaml.safe_load_all((DEPLOY / "k8s" / "wardship.yaml").read_text("utf-8")))
        [job] = [d for d in documents if d["kind"] == "Job"]
        [migrate] = job["spec"]["template"]["spec"]["containers"]
        assert migrate["command"] == ["wardship", "migrate"]
        assert secret_of(migrate, "DATABASE_URL") == "owner-database-url"
        deployments = [d for d in documents if d["kind"] == "Deployment"]
        assert len(deployments) == 3
        for deployment in deployments:
            pod = deployment["spec"]["template"]["spec"]
            [wait] = pod["initContainers"]
            assert wait["command"][:3] == ["wardship", "migrate", "--wait"]
            for container in [wait, *pod["containers"]]:
                assert secret_of(container, "DATABASE_URL") == "app-database-url"

    def test_every_wardship_process_deployed_meets_the_production_rules(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Secrets are invented stand-ins: only their shape matters to the settings.
        invented = {"PKCS11_KEYS": HSM_KEYS["pkcs11_keys"]}
        services = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))["services"]
        environments = {f"compose {name}": {
            key: re.sub(r"\$\{(\w+)\}", lambda m: invented.get(m[1], "x"), str(value))
            for key, value in services[name]["environment"].items()}
            for name in ("migrate", "api", "worker", "projections")}
        documents = list(yaml.safe_load_all((DEPLOY / "k8s" / "wardship.yaml").read_text("utf-8")))
        [config] = [d["data"] for d in documents if d["kind"] == "ConfigMap"]
        for document in documents:
            if document["kind"] in ("Deployment", "Job"):
                pod = document["spec"]["template"]["spec"]
                for container in [*pod.get("initContainers", []), *pod["containers"]]:
                    environments[f"k8s {container['name']}"] = {**config, **{
                        e["name"]: e.get("value") or invented.get(
                            e["valueFrom"]["secretKeyRef"]["key"], "postgresql://x/y")
                        for e in container.get("env", [])}}
        for where, environment in environments.items():
            for name in list(os.environ):
                if name.startswith("WARDSHIP_") or name in ("DATABASE_URL", "TEMPORAL_ADDRESS"):
                    monkeypatch.delenv(name)
            for name, value in environment.items():
                monkeypatch.setenv(name, value)
            settings = Settings()
            assert settings.environment == "production", where
            assert settings.key_provider == "pkcs11", where
            assert settings.pkcs11_key_labels(), where


class TestRestartsProbesAndLimits:
    """Every process restarts, is probed for liveness and readiness, and has bounded resources."""

    def test_compose_services(self) -> None:
        services = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))["services"]
        for name, service in services.items():
            one_shot = name in ("roles", "migrate")
            assert service["restart"] == ("on-failure" if one_shot else "unless-stopped"), name
            resources = service["deploy"]["resources"]
            assert {"cpus", "memory"} <= set(resources["limits"]), name
            assert "memory" in resources["reservations"], name
            if not one_shot:
                assert service["healthcheck"]["test"], name
        assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
        for name in ("worker", "projections"):
            heartbeat = services[name]["environment"]["WARDSHIP_HEARTBEAT_FILE"]
            assert heartbeat in " ".join(services[name]["healthcheck"]["test"]), name

    def test_kubernetes_containers(self) -> None:
        documents = list(yaml.safe_load_all((DEPLOY / "k8s" / "wardship.yaml").read_text("utf-8")))
        pods = {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in documents
                if d["kind"] in ("Deployment", "Job")}
        assert set(pods) == {"wardship-migrate", "wardship-api", "wardship-worker",
                             "wardship-projections"}
        assert pods.pop("wardship-migrate")["restartPolicy"] == "OnFailure"
        for name, pod in pods.items():
            assert pod["restartPolicy"] == "Always", name
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                resources = container["resources"]
                for kind in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(resources[kind]), (name, kind)
            [container] = pod["containers"]
            assert container["livenessProbe"], name
            assert container["readinessProbe"], name
        api = pods["wardship-api"]["containers"][0]
        assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
        for name in ("wardship-worker", "wardship-projections"):
            [container] = pods[name]["containers"]
            [file] = [e["value"] for e in container["env"]
                      if e["name"] == "WARDSHIP_HEARTBEAT_FILE"]
            for probe in ("livenessProbe", "readinessProbe"):
                assert file in " ".join(container[probe]["exec"]["command"]), (name, probe)

    def test_postgres_and_temporal_pods_are_bounded(self) -> None:
        cluster = yaml.safe_load((DEPLOY / "k8s" / "postgres.yaml").read_text("utf-8"))
        temporal = yaml.safe_load((DEPLOY / "k8s" / "temporal-values.yaml").read_text("utf-8"))
        for resources in (cluster["spec"]["resources"], temporal["server"]["resources"]):
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[kind])


def secret_of(container: dict[str, Any], name: str) -> str:
    [value] = [e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if e["name"] == name]
    return str(value)

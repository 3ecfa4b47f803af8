"""Memory soak: `wardship dev` under a steady action load with deadlines falling due, for a
given duration, sampling the memory of every process of the stack.

Run by hand (it takes as long as you ask):
    .venv/bin/python -m tests.bench.soak --minutes 60 --rate 20

It starts `wardship dev` in a fresh state dir (so embedded PostgreSQL and the Temporal dev
server are its own, and their memory is the stack's alone), with a policy whose urgent intake
falls due 30 s after a report and escalates at once and 60 s later. One action in ten
(`--open-every`) opens such a report; half are screened out in time, half after both
escalations (so the number of live cases stays steady, as in service); the rest add notes to
recent cases. Every minute it
writes RSS and PSS of each process tree (api, worker, projections, temporal, postgres) to
`<state dir>/soak.csv`; at the end it prints the start/end table in Markdown.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from api.http.auth import dev_token
from api.settings import Settings
from deploy import processes
from deploy.ports import free_port
from tests.api.support import LESHAN_VILLAGE, case_body
from tests.workflows.support import seconds_policy_toml

PROCESSES = ("api", "worker", "projections", "temporal", "postgres")
SAMPLE_EVERY = 60.0
CLIENTS = 4
SETTLE_ON_TIME = 5.0  # seconds after opening: screened out before the intake falls due
SETTLE_LATE = 100.0  # after the intake (30 s) and both escalation levels (30 s, 90 s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=20.0, help="actions per second")
    parser.add_argument("--open-every", type=int, default=10,
                        help="one action in this many opens an urgent report")
    parser.add_argument("--state-dir", type=Path, default=None)
    options = parser.parse_args()
    state = options.state_dir or Path(tempfile.mkdtemp(prefix="wardship-soak-"))
    state.mkdir(parents=True, exist_ok=True)
    policy = state / "policy.toml"
    policy.write_text(seconds_policy_toml(intake="30s", levels=("0s", "60s")))
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "TEMPORAL_ADDRESS")}
    env |= {"WARDSHIP_STATE_DIR": str(state), "WARDSHIP_PORT": str(port),
            "WARDSHIP_POLICY": str(policy), "WARDSHIP_LOG_FORMAT": "json",
            "WARDSHIP_LOG_LEVEL": "WARNING"}
    log_file = (state / "dev.log").open("ab")
    print(f"soak: state dir {state}, log {state / 'dev.log'}", flush=True)
    dev = subprocess.Popen([sys.executable, "-m", "api.cli", "dev"], env=env,
                           stdout=log_file, stderr=log_file, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, dev)
        settings = Settings.model_validate({"state_dir": state})
        token = dev_token(settings, subject="soak-cw", roles=["caseworker"],
                          jurisdiction="5111", lifetime=_hours(options.minutes / 60 + 1))
        load = Load(base, token, options.rate, options.open_every)
        samples = state / "soak.csv"
        started = time.monotonic()
        end = started + options.minutes * 60
        threads = [threading.Thread(target=load.client, args=(end,)) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        rows: list[dict[str, Any]] = []
        with samples.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["minute", "process", "pids", "rss_mib", "pss_mib"])
            while True:
                minute = (time.monotonic() - started) / 60
                for name, (pids, rss, pss) in sample(state).items():
                    writer.writerow([f"{minute:.1f}", name, pids, f"{rss:.1f}", f"{pss:.1f}"])
                    rows.append({"minute": minute, "process": name, "rss": rss, "pss": pss})
                out.flush()
                print(f"soak: minute {minute:.1f} {dict(load.outcomes)}", flush=True)
                if dev.poll() is not None:
                    print(f"soak: wardship dev exited with {dev.returncode}", flush=True)
                    break
                if time.monotonic() >= end:
                    break
                time.sleep(min(SAMPLE_EVERY, max(0.0, end - time.monotonic())))
        for thread in threads:
            thread.join()
        _print_table(rows, load, options, time.monotonic() - started)
        print(f"events recorded, by kind: {recorded(state)}")
        return 0 if dev.poll() is None else 1
    finally:
        if dev.poll() is None:
            dev.send_signal(signal.SIGTERM)
            dev.wait(timeout=60)
        log_file.close()


class Load:
    """Paced actions from several client threads: reports, notes and timely/late settling."""

    def __init__(self, base: str, token: str, rate: float, open_every: int) -> None:
        self.base = base
        self.open_every = open_every
        self.headers = {"Authorization": f"Bearer {token}"}
        self.rate = rate
        self.lock = threading.Lock()
        self.next_slot = 0
        self.t0 = time.monotonic()
        self.recent: list[str] = []
        self.settle: list[tuple[float, str]] = []  # (when, case id), a heap
        self.opened = 0
        self.outcomes: Counter[str] = Counter()

    def client(self, end: float) -> None:
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=30) as http:
            while True:
                with self.lock:
                    slot = self.next_slot
                    self.next_slot += 1
                at = self.t0 + slot / self.rate
                if at >= end:
                    return
                time.sleep(max(0.0, at - time.monotonic()))
                try:
                    kind, status = self._act(http, slot)
                except httpx.HTTPError as error:
                    kind, status = "error", type(error).__name__
                with self.lock:
                    self.outcomes[f"{kind} {status}"] += 1

    def _act(self, http: httpx.Client, slot: int) -> tuple[str, object]:
        now = time.monotonic()
        if slot % self.open_every == 0 or not self.recent:
            body = case_body(LESHAN_VILLAGE)
            body["concern"] = {**body["concern"], "danger_now": True}
            body["occurred_at"] = datetime.now(UTC).isoformat()
            response = http.post("/v1/cases", json=body)
            if response.status_code < 300:
                case_id = response.json()["id"]
                with self.lock:
                    self.opened += 1
                    late = self.opened % 2 == 0
                    heapq.heappush(self.settle,
                                   (now + (SETTLE_LATE if late else SETTLE_ON_TIME), case_id))
                    self.recent = [*self.recent[-199:], case_id]
            return "open", response.status_code
        with self.lock:
            due = self.settle and self.settle[0][0] <= now
            case_id = heapq.heappop(self.settle)[1] if due else random.choice(self.recent)
        if due:
            response = http.post(f"/v1/cases/{case_id}/actions",
                                 json={"action": "screen_out", "reason": "soak: no concern"})
            return "screen_out", response.status_code
        response = http.post(f"/v1/cases/{case_id}/actions",
                             json={"action": "add_note", "text": "home visit arranged"})
        # A note on a case screened out a moment ago is refused (409): still a served action.
        return "note", response.status_code


def sample(state: Path) -> dict[str, tuple[int, float, float]]:
    """(process count, RSS MiB, PSS MiB) of each process tree of the stack."""
    roots = {name: _pid(state / "run" / f"{name}.pid") for name in PROCESSES[:4]}
    roots["postgres"] = _pid(state / "pg" / "postmaster.pid")
    children = _children()
    result = {}
    for name, root in roots.items():
        tree = _tree(root, children) if root else []
        rss = sum(_memory(pid, "/status", "VmRSS:") for pid in tree)
        pss = sum(_memory(pid, "/smaps_rollup", "Pss:") for pid in tree)
        result[name] = (len(tree), rss / 1024, pss / 1024)
    return result


def recorded(state: Path) -> dict[str, int]:
    """How many events of the kinds the load and the deadlines make are in the log."""
    fields = (state / "pg" / "postmaster.pid").read_text().splitlines()
    url = f"postgresql://postgres@127.0.0.1:{fields[3]}/postgres"
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT split_part(topic, ':', 2), count(*) FROM wardship_events"
            " WHERE topic LIKE ANY (ARRAY['%%Escalation%%', '%%ScreenedOut', '%%Opened'])"
            " GROUP BY 1 ORDER BY 1").fetchall()
    return {str(kind): int(count) for kind, count in rows}


def _pid(path: Path) -> int | None:
    fields = processes.read_pid_file(path)
    return int(fields[0]) if fields and fields[0].isdigit() else None


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    return children


def _tree(root: int, children: dict[int, list[int]]) -> list[int]:
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def _memory(pid: int, file: str, field: str) -> int:
    """A kB figure from /proc/<pid>/<file> (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}{file}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _wait_ready(base: str, dev: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dev.poll() is not None:
            raise SystemExit(f"wardship dev exited with {dev.returncode} before it was ready")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("wardship dev was not ready in time")


def _hours(hours: float) -> timedelta:
    return timedelta(hours=hours)


def _print_table(rows: list[dict[str, Any]], load: Load, options: argparse.Namespace,
                 elapsed: float) -> None:
    first = rows[0]["minute"]
    last = rows[-1]["minute"]
    at_start = {r["process"]: r for r in rows if r["minute"] == first}
    at_end = {r["process"]: r for r in rows if r["minute"] == last}
    print(f"\nsoak: {elapsed / 60:.1f} min at {options.rate:g} actions/s, {load.opened} reports"
          f" opened; outcomes {dict(load.outcomes)}")
    print("| process | RSS start (MiB) | RSS end (MiB) | PSS start (MiB) | PSS end (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in PROCESSES:
        s, e = at_start[name], at_end[name]
        print(f"| {name} | {s['rss']:.0f} | {e['rss']:.0f} | {s['pss']:.0f} | {e['pss']:.0f} |")


if __name__ == "__main__":
    sys.exit(main())

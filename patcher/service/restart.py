"""Restart an install's running gateway so it loads the changed install, safely.

1. find: the processes running the install's code (patcher.system.processes) and the
   service units that start it (patcher.service.managers); none running: nothing to do.
2. wait: until no cron run is in flight (the store's running markers, `state.runningAtMs`),
   at most `wait_s`, as OpenClaw defers its own config reloads (five minutes); a run still
   in flight then refuses the restart, and the gateway is left running as it was.
3. restart: the install's own `openclaw gateway restart` (it knows its service manager, and
   a foreground gateway gets its SIGUSR1, a full restart with a fresh process); where the
   install has no CLI of its own, the unit's manager command.
4. check: a gateway of the install runs again in a process started after the restart
   (a process from before still runs the old code: an in-process restart, as
   `OPENCLAW_NO_RESPAWN=1` makes it, loads nothing new), and none from before is left.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from patcher.cronstore.location import StoreLocation
from patcher.cronstore.store import inspect_store, running_job_ids
from patcher.errors import EnvironmentMissing, RefusedError
from patcher.service.managers import Unit, run, units_for
from patcher.system.processes import processes_running

DEFAULT_WAIT_S = 300.0  # OpenClaw's own reload deferral for runs in flight
HEALTHY_WAIT_S = 90.0
POLL_S = 1.0


@dataclass
class RestartReport:
    """Each step of a restart, in order, and whether the gateway runs the new code."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    restarted: bool = False

    def step(self, name: str, detail: str, **extra: Any) -> None:
        self.steps.append({"step": name, "detail": detail, **extra})

    def to_json(self) -> dict[str, Any]:
        return {"restarted": self.restarted, "steps": self.steps}


def runs_in_flight(location: StoreLocation) -> list[str]:
    """The jobs whose run the store says is in flight (`runningAtMs` set)."""
    report = inspect_store(location)
    if report.kind == "sqlite":
        return list((report.sqlite or {}).get("running_job_ids") or [])
    return running_job_ids(report)


def _openclaw(root: Path) -> list[str] | None:
    """The install's own CLI, run with the Node that runs its gateway (or PATH's)."""
    entry = root / "openclaw.mjs"
    if not entry.is_file():
        return None
    node = None
    for pid in processes_running(root):
        try:
            node = psutil.Process(pid).exe()
            break
        except (psutil.Error, OSError):
            continue
    node = node or shutil.which("node")
    if node is None:
        raise EnvironmentMissing("no Node runs this install and none is on PATH: cannot run it.")
    return [node, str(entry)]


def restart_command(root: Path, units: list[Unit]) -> str:
    """The command that restarts this install's gateway on this machine, for the user."""
    cli = root / "openclaw.mjs"
    if cli.is_file():
        return f"{shlex.quote(str(cli))} gateway restart"
    if units:
        return units[0].describe()
    return "restart the gateway (openclaw gateway restart)"


def _wait_idle(location: StoreLocation, wait_s: float, report: RestartReport) -> None:
    deadline = time.monotonic() + wait_s
    busy = runs_in_flight(location)
    if busy:
        report.step(
            "wait", f"cron runs in flight ({', '.join(busy)}): waiting up to {wait_s:.0f} s"
        )
    while busy:
        if time.monotonic() >= deadline:
            raise RefusedError(
                f"cron runs are still in flight after {wait_s:.0f} s (jobs {', '.join(busy)} in "
                f"{location.state_dir}): the restart was refused and the gateway left running "
                "as it was; run again when they end, or pass a longer --wait."
            )
        time.sleep(POLL_S)
        busy = runs_in_flight(location)
    report.step("wait", "no cron run in flight")


def _started_after(root: Path, when: float) -> list[int]:
    fresh = []
    for pid in processes_running(root):
        try:
            if psutil.Process(pid).create_time() >= when - 0.5:
                fresh.append(pid)
        except (psutil.Error, OSError):
            continue
    return fresh


def restart_gateway(
    root: Path,
    location: StoreLocation,
    *,
    wait_s: float = DEFAULT_WAIT_S,
    env: dict[str, str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> RestartReport:
    """Restart the gateway of the install at `root` once no cron run is in flight (see the
    module's steps); raises RefusedError when it cannot be done safely, before any change."""
    report = RestartReport()
    before = processes_running(root)
    units = units_for(root)
    if not before:
        report.step("find", "no process of this install is running: nothing to restart")
        return report
    where = ", ".join(f"{u.manager} {u.name}" for u in units) or "a process of its own"
    report.step("find", f"gateway running (pid {', '.join(map(str, before))}; {where})")
    progress("waiting until no cron run is in flight")
    _wait_idle(location, wait_s, report)
    env = {**os.environ, "OPENCLAW_STATE_DIR": str(location.state_dir), **(env or {})}
    started = time.time()
    cli = _openclaw(root)
    commands = (
        [[*cli, "gateway", "restart"]] if cli else [c for u in units for c in u.restart_commands()]
    )
    if not commands:
        raise RefusedError(f"{root} has no CLI and no service unit to restart it with.")
    progress("restarting the gateway")
    for command in commands:
        shown = shlex.join(command)
        try:
            done = (
                subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
                if cli
                else run(command)
            )
        except subprocess.TimeoutExpired as exc:
            raise RefusedError(
                f"{shown} did not return in {exc.timeout:.0f} s: check the gateway "
                "(openclaw gateway status)."
            ) from exc
        except OSError as exc:
            raise EnvironmentMissing(f"{shown} could not be run ({exc.strerror}).") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
            raise RefusedError(f"{shown} exited {done.returncode} ({tail[0]}): check the gateway.")
        report.step("restart", shown)
    progress("checking the gateway runs the new code")
    deadline = time.monotonic() + HEALTHY_WAIT_S
    while time.monotonic() < deadline:
        fresh = _started_after(root, started)
        old = [p for p in processes_running(root) if p in before]
        if fresh and not old:
            report.step(
                "check", f"running again in a new process (pid {', '.join(map(str, fresh))})"
            )
            report.restarted = True
            return report
        time.sleep(POLL_S)
    old = [p for p in processes_running(root) if p in before]
    why = (
        f"the old process still runs (pid {', '.join(map(str, old))}): it restarted in "
        "process (OPENCLAW_NO_RESPAWN=1?) and keeps the old code; stop and start it"
        if old
        else "no gateway of this install runs again"
    )
    raise RefusedError(f"after {shlex.join(commands[-1])}, {why}.")

"""Restart an install's running gateway so it loads the changed install, safely.

1. find: the processes running the install's code (patcher.system.processes) and how
   they run: under a service manager (a unit of patcher.service.managers starts the
   install, or the gateway's environment carries its supervisor's marks: launchd's
   `XPC_SERVICE_NAME`, systemd's `INVOCATION_ID`, OpenClaw's own service markers), or in
   the foreground of a terminal. None running: nothing to do.
2. wait: until no cron run is in flight (the store's running markers, `state.runningAtMs`),
   at most `wait_s`, as OpenClaw defers its own config reloads (five minutes); a run still
   in flight then refuses the restart, and the gateway is left running as it was.
3. restart: a service through the install's own `openclaw gateway restart` (it knows its
   manager and its profile), or the unit's manager command where the install has no CLI;
   a foreground gateway gets SIGUSR1, the signal OpenClaw's own restart sends it, and
   restarts itself with a fresh process. (The install's CLI finds a foreground gateway by
   its command line, which a renamed gateway no longer shows on Linux, so we signal it.)
4. check: a gateway of the install runs again in a process started after the restart
   (a process from before still runs the old code: an in-process restart, as
   `OPENCLAW_NO_RESPAWN=1` makes it, loads nothing new), none from before is left, and it
   answers `/health` on the port it listens on.

The CLI runs with the gateway's own OpenClaw environment (`OPENCLAW_STATE_DIR`,
`OPENCLAW_PROFILE`, its token...), read from the running process where the system lets
us, so it finds and authenticates to the gateway the user started.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
import urllib.request
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


def _node(running: list[int]) -> str:
    """The Node that runs the gateway (or PATH's), to run the install's own CLI with."""
    for pid in running:
        try:
            return psutil.Process(pid).exe()
        except (psutil.Error, OSError):
            continue
    node = shutil.which("node")
    if node is None:
        raise EnvironmentMissing("no Node runs this install and none is on PATH: cannot run it.")
    return node


def _last_line(done: subprocess.CompletedProcess) -> str:
    lines = (done.stderr or "").strip().splitlines() or (done.stdout or "").strip().splitlines()
    return lines[-1].strip() if lines else ""


# What a supervisor leaves in the environment of what it starts (launchd, systemd, and the
# markers OpenClaw's own service installers set).
SUPERVISOR_HINTS = (
    "XPC_SERVICE_NAME", "LAUNCH_JOB_LABEL", "LAUNCH_JOB_NAME", "INVOCATION_ID",
    "SYSTEMD_EXEC_PID", "JOURNAL_STREAM", "OPENCLAW_LAUNCHD_LABEL", "OPENCLAW_SYSTEMD_UNIT",
    "OPENCLAW_WINDOWS_TASK_NAME", "OPENCLAW_SERVICE_MARKER",
)  # fmt: skip


@dataclass
class RestartPlan:
    """How this gateway is restarted: its manager's commands, or a signal to one pid."""

    how: str  # "service" or "foreground"
    commands: list[list[str]] = field(default_factory=list)
    pid: int | None = None
    uses_cli: bool = False

    def describe(self) -> str:
        if self.pid is not None:
            return f"kill -USR1 {self.pid}"
        return " && ".join(shlex.join(c) for c in self.commands)


def _environ(pids: list[int]) -> dict[str, str]:
    """The environment of the first of `pids` the system lets us read; empty where none."""
    for pid in pids:
        try:
            environ = psutil.Process(pid).environ()
        except (psutil.Error, OSError):
            continue
        if environ:
            return environ
    return {}


def _listens_on(pid: int) -> list[tuple[str, int]]:
    """The TCP (address, port) pairs process `pid` listens on; none where we cannot see."""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return []
    return [(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN]


def _listening(pids: list[int]) -> list[int]:
    """Those of `pids` that listen on a TCP port (the gateway, not its entry process)."""
    return [pid for pid in pids if _listens_on(pid)]


def plan_restart(root: Path, running: list[int], units: list[Unit]) -> RestartPlan:
    """How to restart the gateway `running` runs; raises RefusedError where we cannot tell."""
    entry = root / "openclaw.mjs"
    cli = [str(entry), "gateway", "restart"] if entry.is_file() else None
    managed = units or any(k in _environ(running) for k in SUPERVISOR_HINTS)
    if managed or not hasattr(signal, "SIGUSR1"):
        if cli:
            return RestartPlan("service" if managed else "foreground", [cli], uses_cli=True)
        commands = [c for u in units for c in u.restart_commands()]
        if not commands:
            raise RefusedError(
                f"{root} has no CLI (openclaw.mjs) and no service unit to restart its gateway "
                "with: restart it the way you started it."
            )
        return RestartPlan("service", commands)
    listeners = _listening(running)
    if len(listeners) != 1:
        pids = ", ".join(map(str, listeners or running))
        raise RefusedError(
            f"cannot tell which process of {root} is its gateway (pid {pids} "
            f"{'listen' if listeners else 'none listens on a port'}): restart it yourself."
        )
    return RestartPlan("foreground", pid=listeners[0])


def restart_command(root: Path, running: list[int], units: list[Unit]) -> str:
    """The command that restarts this install's gateway on this machine, for the user."""
    try:
        return plan_restart(root, running, units).describe()
    except RefusedError:
        return "restart the gateway the way you started it"


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


def gateway_environment(pids: list[int]) -> dict[str, str]:
    """The OpenClaw variables (and HOME) of the first running gateway whose environment
    can be read; empty where none can (another user, macOS's hardened processes)."""
    environ = _environ(pids)
    return {k: v for k, v in environ.items() if k.startswith("OPENCLAW_") or k == "HOME"}


def _healthy(pids: list[int]) -> int | None:
    """The loopback port on which one of `pids` listens and answers /health ok."""
    for pid in pids:
        for ip, port in _listens_on(pid):
            if ip not in ("127.0.0.1", "::1"):
                continue
            host = "127.0.0.1" if ip == "127.0.0.1" else "[::1]"
            try:
                with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=3) as answer:
                    payload = json.loads(answer.read() or b"null")
            except (OSError, ValueError):
                continue
            if isinstance(payload, dict) and payload.get("ok"):
                return port
    return None


def _identities(pids: list[int]) -> set[tuple[int, float]]:
    """Each process as (pid, start time): a reused pid is another process."""
    found = set()
    for pid in pids:
        with contextlib.suppress(psutil.Error, OSError):
            found.add((pid, psutil.Process(pid).create_time()))
    return found


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
    state = location.state_dir
    before = processes_running(root, state)
    units = units_for(root)
    if not before:
        report.step("find", "no process of this install is running: nothing to restart")
        return report
    plan = plan_restart(root, before, units)
    where = ", ".join(f"{u.manager} {u.name}" for u in units) or (
        "under a service manager" if plan.how == "service" else "in the foreground"
    )
    report.step("find", f"gateway running (pid {', '.join(map(str, before))}; {where})")
    progress("waiting until no cron run is in flight")
    _wait_idle(location, wait_s, report)
    env = {
        **os.environ,
        **gateway_environment(before),
        "OPENCLAW_STATE_DIR": str(location.state_dir),
        **(env or {}),
    }
    old_ones = _identities(before)
    progress("restarting the gateway")
    if plan.pid is not None:
        try:
            os.kill(plan.pid, signal.SIGUSR1)
        except OSError as exc:
            raise RefusedError(
                f"the gateway (pid {plan.pid}) could not be signalled ({exc.strerror}): "
                "restart it yourself."
            ) from exc
        report.step(
            "restart",
            f"SIGUSR1 to the foreground gateway (pid {plan.pid}), as `openclaw gateway "
            "restart` does: it restarts itself in a fresh process",
        )
    node = _node(before) if plan.uses_cli else None
    said = ""
    for command in plan.commands:
        command = [node, *command] if node else command
        shown = shlex.join(command)
        try:
            done = (
                subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
                if plan.uses_cli
                else run(command)
            )
        except subprocess.TimeoutExpired as exc:
            raise RefusedError(
                f"{shown} did not return in {exc.timeout:.0f} s: check the gateway "
                "(openclaw gateway status)."
            ) from exc
        except OSError as exc:
            raise EnvironmentMissing(f"{shown} could not be run ({exc.strerror}).") from exc
        said = _last_line(done)
        if done.returncode != 0:
            raise RefusedError(f"{shown} exited {done.returncode} ({said}): check the gateway.")
        report.step("restart", shown, **({"output": said} if said else {}))
    progress("checking the gateway runs the new code")
    deadline = time.monotonic() + HEALTHY_WAIT_S
    while time.monotonic() < deadline:
        now = _identities(processes_running(root, state))
        fresh = sorted(pid for pid, _ in now - old_ones)
        old = sorted(pid for pid, _ in now & old_ones)
        port = _healthy(fresh) if fresh and not old else None
        if port:
            report.step(
                "check",
                f"running again in a new process (pid {', '.join(map(str, fresh))}), "
                f"/health ok on port {port}",
            )
            report.restarted = True
            return report
        time.sleep(POLL_S)
    why = (
        f"the old process still runs (pid {', '.join(map(str, old))}): it restarted in "
        "process (OPENCLAW_NO_RESPAWN=1?) and keeps the old code; stop and start it"
        if old
        else "no gateway of this install answers /health again"
        if fresh
        else "no gateway of this install runs again"
    )
    after = plan.describe() + (f" (it said: {said})" if said else "")
    raise RefusedError(f"after {after}, {why}.")

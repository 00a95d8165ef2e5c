"""One real `openclaw gateway run` of an install, in a scratch state, on loopback only.

The gateway starts in the foreground (`OPENCLAW_NO_RESPAWN=1`: the pid started is the
gateway, unless the run lets it restart with a fresh pid as a user's does) in its own
process group, with a scratch `OPENCLAW_STATE_DIR`, `HOME` and `TMPDIR`
(never the user's), channels, Gmail, canvas, browser control and Bonjour off, npm offline
(2026.4.x installs plugins' dependencies at start), and a configuration that binds
loopback, authenticates with a throwaway token and sends model calls to this tool's own
stand-in provider (patcher.gateway.model). Every Node process of the run (the gateway and
each CLI call) preloads preload.mjs: its hard-coded /tmp paths read as the scratch's, and
its wall clock is shifted by the offset in one file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from patcher.errors import EnvironmentMissing
from patcher.gateway.model import MODEL_ID, ModelServer
from patcher.system.processes import processes_running

PRELOAD = Path(str(files("patcher.gateway") / "preload.mjs"))
PROVIDER = "patcher"
# The gateway is healthy within seconds here; a cold 2026.4.x start may take a minute.
READY_TIMEOUT = 180.0
CLI_TIMEOUT = 180.0
# How long a `cron` CLI call waits for the gateway's answer (its `--timeout`; the CLI's own
# default is 30 s, which a 2026.4.22 gateway setting up its plugins exceeded beside other
# work on two cores).
GATEWAY_CALL_MS = "120000"
# How long the gateway gives a new connection to finish its handshake before it closes it
# with 1000 and no reason (`OPENCLAW_HANDSHAKE_TIMEOUT_MS`; 10 s through 2026.4.x, 15 s
# later). A 2026.4.22 gateway setting up its plugins beside a test run on two cores missed
# 10 s, and `cron add` failed with "gateway closed (1000)".
HANDSHAKE_MS = GATEWAY_CALL_MS


class GatewayFailed(EnvironmentMissing):
    """The gateway or one of its CLI calls did not do what the run needs."""


def _with_parent() -> list[str]:
    """A prefix that has Linux SIGKILL the gateway if the process that started it dies
    (util-linux `setpriv --pdeathsig`), so no gateway outlives a killed check."""
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class GatewayRun:
    """The scratch world of one side: state, clock, model, and the gateway while it runs."""

    root: Path  # the install: <root>/openclaw.mjs
    node: Path
    scratch: Path
    model: ModelServer
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: os.urandom(12).hex())
    process: subprocess.Popen | None = None
    starts: int = 0
    real_clock: bool = False  # wait out the grace for real instead of moving the clock
    # Let the gateway restart itself with a fresh pid (SIGUSR1), as a user's gateway does;
    # else (the scenarios) an in-process restart, so this Popen stays the gateway.
    respawn: bool = False
    cron_timeout: bool = True  # until the release's cron CLI refuses `--timeout`

    @property
    def state(self) -> Path:
        return self.scratch / "state"

    @property
    def clock_file(self) -> Path:
        return self.scratch / "clock-offset-ms"

    def prepare(self) -> None:
        for name in ("state", "home", "tmp"):
            (self.scratch / name).mkdir(parents=True, exist_ok=True)
        self.clock_file.write_text("0")
        config = {
            "gateway": {
                "mode": "local",
                "bind": "loopback",
                "port": self.port,
                "auth": {"mode": "token", "token": self.token},
            },
            "discovery": {"mdns": {"mode": "off"}},
            "update": {"checkOnStart": False},
            "models": {
                "providers": {
                    PROVIDER: {
                        "api": "openai-completions",
                        "baseUrl": self.model.base_url,
                        "apiKey": "not-a-real-key",
                        "models": [{"id": MODEL_ID, "name": MODEL_ID}],
                    }
                }
            },
            "agents": {"defaults": {"model": {"primary": f"{PROVIDER}/{MODEL_ID}"}}},
        }
        (self.state / "openclaw.json").write_text(json.dumps(config, indent=2))

    def shift_clock(self, ms: int) -> None:
        """Move the wall clock of every Node process of the run by `ms` more (within 1 s);
        with a real clock, wait that long instead."""
        if self.real_clock:
            time.sleep(ms / 1000)
            return
        now = int(self.clock_file.read_text() or 0)
        self.clock_file.write_text(str(now + ms))
        time.sleep(1.5)  # preload.mjs re-reads the file every second

    def env(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if k not in ("VITEST", "NODE_ENV", "NODE_OPTIONS")
        }
        dead_proxy = "http://127.0.0.1:9"  # nothing leaves loopback, whatever the code tries
        env.update(
            HOME=str(self.scratch / "home"),
            TMPDIR=str(self.scratch / "tmp"),
            OPENCLAW_STATE_DIR=str(self.state),
            OPENCLAW_CONFIG_PATH=str(self.state / "openclaw.json"),
            OPENCLAW_SKIP_CHANNELS="1",
            OPENCLAW_SKIP_GMAIL_WATCHER="1",
            OPENCLAW_SKIP_CANVAS_HOST="1",
            OPENCLAW_SKIP_BROWSER_CONTROL_SERVER="1",
            OPENCLAW_DISABLE_BONJOUR="1",
            OPENCLAW_GATEWAY_TOKEN=self.token,
            OPENCLAW_HANDSHAKE_TIMEOUT_MS=HANDSHAKE_MS,
            npm_config_offline="true",
            HTTP_PROXY=dead_proxy,
            HTTPS_PROXY=dead_proxy,
            NO_PROXY="127.0.0.1,localhost",
            OPENCLAW_PATCHER_CLOCK_FILE=str(self.clock_file),
            OPENCLAW_PATCHER_SCRATCH_TMP=str(self.scratch / "tmp"),
            NODE_OPTIONS=f"--import={PRELOAD.as_uri()}",
        )
        if self.respawn:
            env["OPENCLAW_PATCHER_OWNER_PID"] = str(os.getpid())  # preload.mjs, point 3
        else:
            env["OPENCLAW_NO_RESPAWN"] = "1"
        return env

    def healthy(self, within: float = 30.0) -> bool:
        """Whether /health answers ok within `within` seconds (a busy gateway may be slow)."""
        deadline = time.monotonic() + within
        while self.health() is None:
            if time.monotonic() > deadline:
                return False
            time.sleep(1)
        return True

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=3) as r:
                payload = json.loads(r.read() or b"null")
        except (OSError, ValueError):  # URLError is an OSError
            return None
        return payload if isinstance(payload, dict) and payload.get("ok") else None

    def start(self) -> float:
        """Start the gateway and wait until /health answers; returns the seconds it took."""
        if self.process is not None:
            raise GatewayFailed("the gateway is already running")
        self.starts += 1
        log = (self.scratch / f"gateway-{self.starts}.log").open("wb")
        started = time.monotonic()
        self.process = subprocess.Popen(
            [
                *_with_parent(),
                str(self.node),
                str(self.root / "openclaw.mjs"),
                *("gateway", "run", "--port", str(self.port), "--bind", "loopback"),
            ],
            env=self.env(),
            cwd=self.scratch,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        while self.health() is None:
            if self.process.poll() is not None:
                tail = self.log_tail()
                self.process = None
                raise GatewayFailed(f"the gateway exited before it was healthy: {tail}")
            if time.monotonic() - started > READY_TIMEOUT:
                self.kill()
                raise GatewayFailed(f"the gateway was not healthy within {READY_TIMEOUT:.0f} s")
            time.sleep(0.3)
        return time.monotonic() - started

    def log_tail(self, lines: int = 3) -> str:
        path = self.scratch / f"gateway-{self.starts}.log"
        try:
            text = path.read_text("utf-8", "replace")
        except OSError:
            return "no log"
        return " | ".join(ln.strip() for ln in text.strip().splitlines()[-lines:]) or "no output"

    def kill(self) -> None:
        """SIGKILL the gateway's whole process group (what a crash or an OOM kill does), and
        any successor it respawned into a session of its own."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
            self.process = None
        if self.respawn:
            for pid in processes_running(self.root, self.state):  # the copy is this run's own
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(os.getpgid(pid), signal.SIGKILL)

    def _cron(self, args: tuple[str, ...]) -> tuple[str, ...]:
        if args[:1] == ("cron",) and self.cron_timeout:
            return (*args, "--timeout", GATEWAY_CALL_MS)
        return args

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run the install's own CLI (`node openclaw.mjs ARGS`) against this gateway."""
        given = self._cron(args)
        done = self._run_cli(given)
        said = done.stderr + done.stdout
        if done.returncode != 0 and given != args and "--timeout" in said and "unknown" in said:
            self.cron_timeout = False  # refused before any call: the same call, without
            done = self._run_cli(args)
        if check and done.returncode != 0:
            lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
            detail = " | ".join(lines[:2] + lines[-2:] if len(lines) > 4 else lines)
            raise GatewayFailed(f"openclaw {' '.join(args)} failed: {detail or 'no output'}")
        return done

    def _run_cli(self, args: tuple[str, ...]) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(
                [str(self.node), str(self.root / "openclaw.mjs"), *args],
                env=self.env(),
                cwd=self.scratch,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=CLI_TIMEOUT,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as exc:
            raise GatewayFailed(f"openclaw {' '.join(args)} did not finish in time") from exc

    def cli_background(self, *args: str) -> subprocess.Popen:
        """Start a CLI call without waiting for it (`cron run` may wait for its run)."""
        return subprocess.Popen(
            [str(self.node), str(self.root / "openclaw.mjs"), *self._cron(args)],
            env=self.env(),
            cwd=self.scratch,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def cli_json(self, *args: str) -> Any:
        """A CLI call's JSON answer (some releases print it on stderr)."""
        done = self.cli(*args)
        for text in (done.stdout, done.stderr):
            start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
            if start >= 0:
                with contextlib.suppress(ValueError):
                    return json.loads(text[start:])
        raise GatewayFailed(f"openclaw {' '.join(args)} printed no JSON")

    def task_database(self) -> Path | None:
        """The release's task registry: `tasks/runs.sqlite` through 2026.5.x, then the
        `task_runs` table of the state database."""
        for candidate in (
            self.state / "tasks" / "runs.sqlite",
            self.state / "state" / "openclaw.sqlite",
        ):
            if candidate.is_file():
                return candidate
        return None

    def tasks(self) -> list[dict[str, Any]]:
        """The cron task records, read from the registry's database, read-only. Not through
        `openclaw tasks list`: before 2026.4.25 a CLI process reconciles cron records
        itself, with an empty active-jobs set, and would mark live runs lost."""
        database = self.task_database()
        if database is None:
            return []
        try:
            with contextlib.closing(
                sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=10)
            ) as db:
                db.row_factory = sqlite3.Row
                rows = db.execute(
                    "SELECT run_id, status, error, terminal_summary, source_id, started_at,"
                    " ended_at FROM task_runs WHERE runtime = 'cron'"
                ).fetchall()
        except sqlite3.Error as exc:
            raise GatewayFailed(f"the task registry {database} cannot be read: {exc}") from exc
        return [
            {
                "runId": r["run_id"],
                "status": r["status"],
                "error": r["error"],
                "terminalSummary": r["terminal_summary"],
                "sourceId": r["source_id"],
                "startedAt": r["started_at"],
                "endedAt": r["ended_at"],
            }
            for r in rows
        ]

    def close(self) -> None:
        self.kill()

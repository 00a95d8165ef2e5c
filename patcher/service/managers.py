"""The service units that run an install's gateway, found by what they start.

`openclaw onboard --install-daemon` installs the gateway as
- a systemd user unit `openclaw-gateway.service` on Linux (`openclaw-gateway-<profile>`
  with a profile; `clawdbot-gateway*` from the releases before the rename), under
  `~/.config/systemd/user/`;
- a launchd agent `ai.openclaw.gateway` (`.<profile>`) in `~/Library/LaunchAgents/` on
  macOS;
- a scheduled task "OpenClaw Gateway" on Windows.

A unit belongs to an install when the command it starts names a file inside the install
(its `openclaw.mjs`, or a bin link that resolves there). Each unit knows the command its
manager restarts it with; the commands run through `run` so tests can stand in a fake
`systemctl` / `launchctl` / `schtasks` on PATH.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SYSTEMD_UNIT = re.compile(r"^(openclaw|clawdbot)-gateway(-[\w.-]+)?\.service$")
LAUNCHD_LABEL = re.compile(r"^ai\.openclaw\.gateway(\.[\w.-]+)?$")
WINDOWS_TASK = "OpenClaw Gateway"


@dataclass(frozen=True)
class Unit:
    """One service unit that runs the install's gateway."""

    manager: str  # systemd, launchd, schtasks
    name: str  # the unit, label or task name
    path: Path | None  # its definition file

    def restart_commands(self) -> list[list[str]]:
        """What its manager restarts it with, as argument lists."""
        if self.manager == "systemd":
            return [["systemctl", "--user", "restart", self.name]]
        if self.manager == "launchd":
            return [["launchctl", "kickstart", "-k", f"gui/{os.getuid()}/{self.name}"]]
        return [["schtasks", "/End", "/TN", self.name], ["schtasks", "/Run", "/TN", self.name]]

    def describe(self) -> str:
        return " && ".join(shlex.join(c) for c in self.restart_commands())


def _names_install(words: list[str], root: str) -> bool:
    for word in words:
        with contextlib.suppress(OSError, ValueError):
            if word and os.path.isabs(word):
                real = os.path.realpath(word)
                if real == root or real.startswith(root + os.sep):
                    return True
    return False


def _systemd_units(home: Path, root: str) -> list[Unit]:
    folder = home / ".config" / "systemd" / "user"
    found = []
    for path in sorted(folder.glob("*.service")) if folder.is_dir() else []:
        if not SYSTEMD_UNIT.match(path.name):
            continue
        with contextlib.suppress(OSError, UnicodeDecodeError, ValueError):
            text = path.read_text("utf-8")
            starts = [
                line.split("=", 1)[1]
                for line in text.splitlines()
                if line.strip().startswith("ExecStart=")
            ]
            if any(_names_install(shlex.split(s.lstrip("-@+!")), root) for s in starts):
                found.append(Unit("systemd", path.name, path))
    return found


def _launchd_agents(home: Path, root: str) -> list[Unit]:
    folder = home / "Library" / "LaunchAgents"
    found = []
    for path in sorted(folder.glob("ai.openclaw.gateway*.plist")) if folder.is_dir() else []:
        with contextlib.suppress(OSError, ValueError, plistlib.InvalidFileException):
            plist = plistlib.loads(path.read_bytes())
            label = plist.get("Label")
            words = [str(w) for w in plist.get("ProgramArguments") or []]
            ours = isinstance(label, str) and LAUNCHD_LABEL.match(label)
            if ours and _names_install(words, root):
                found.append(Unit("launchd", label, path))
    return found


def _windows_task(root: str) -> list[Unit]:
    if sys.platform != "win32" or not shutil.which("schtasks"):
        return []
    done = subprocess.run(
        ["schtasks", "/Query", "/TN", WINDOWS_TASK, "/XML"], capture_output=True, text=True
    )
    if done.returncode != 0:
        return []
    commands = re.findall(r"<(?:Command|Arguments)>([^<]*)<", done.stdout)
    words = [w for c in commands for w in c.replace('"', " ").split()]
    return [Unit("schtasks", WINDOWS_TASK, None)] if _names_install(words, root) else []


def units_for(root: Path, home: Path | None = None) -> list[Unit]:
    """The service units of this user that start the install at `root`."""
    real = os.path.realpath(root)
    home = home or Path.home()
    return [*_systemd_units(home, real), *_launchd_agents(home, real), *_windows_task(real)]


def run(command: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a manager's command (found on PATH) and return what it did."""
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)

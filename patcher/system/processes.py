"""Which processes run an install's code, on Linux, macOS and Windows (psutil).

A process runs the install when its executable is Node and one of its arguments is a file
inside the install (`node <root>/openclaw.mjs gateway`, or the `openclaw` bin link that
points there). A process that merely names the path (`timeout`, `strace`, an editor, a
second openclaw-patcher) does not run its code and is not counted.

OpenClaw renames its processes (`process.title = "openclaw"`, `"openclaw-gateway"`), which
on Linux overwrites the command line: the gateway then names no file. So a renamed OpenClaw
process counts when an ancestor runs the install (the entry process that respawned it
with its Node flags), or, given the state dir, when its environment points at that state
dir (a gateway that restarted itself with a fresh pid outlives its parent and is orphaned).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import psutil


def _is_node(proc_info: dict) -> bool:
    names = [proc_info.get("name") or ""]
    if proc_info.get("exe"):
        names.append(os.path.basename(proc_info["exe"]))
    return any(
        n.lower().removesuffix(".exe") in ("node", "nodejs") or n.startswith("node")
        for n in names
        if n
    )


def _runs_file_in(args: list[str], root: str, cwd: str | None) -> bool:
    for arg in args[1:]:
        if arg.startswith("-") or not arg:
            continue
        path = arg if os.path.isabs(arg) or cwd is None else os.path.join(cwd, arg)
        with contextlib.suppress(OSError, ValueError):
            real = os.path.realpath(path)
            if (real == root or real.startswith(root + os.sep)) and os.path.isfile(real):
                return True
    return False


# The names OpenClaw gives its processes: its CLI name, or `${cliName}-${command}` for a
# command's process (clawdbot: the releases before the rename).
TITLE_NAMES = ("openclaw", "clawdbot")
TITLE_PREFIXES = tuple(f"{name}-" for name in TITLE_NAMES)


def _renamed(info: dict) -> bool:
    first = (info.get("cmdline") or [""])[0].strip()
    if "/" in first or os.sep in first:
        return False
    return first in TITLE_NAMES or first.startswith(TITLE_PREFIXES)


def _state_of(environ: dict[str, str]) -> str:
    """The state dir a process of OpenClaw uses, from its environment."""
    from patcher.cronstore.location import resolve_state_dir  # only when a state is asked

    return os.path.realpath(resolve_state_dir(environ))


def processes_running(root: Path, state_dir: Path | None = None) -> list[int]:
    """Pids of the Node processes that run the install at `root` (see the module's rules);
    with `state_dir`, also its renamed gateways on that state whatever their parent."""
    real_root = os.path.realpath(root)
    real_state = os.path.realpath(state_dir) if state_dir is not None else None
    me = os.getpid()
    named, renamed, parents = set(), {}, {}
    for proc in psutil.process_iter(["pid", "ppid", "name", "exe", "cmdline"]):
        info = proc.info
        parents[info["pid"]] = info.get("ppid")
        if info["pid"] == me or not info.get("cmdline") or not _is_node(info):
            continue
        if _renamed(info):
            renamed[info["pid"]] = proc
            continue
        try:
            cwd = proc.cwd()
        except (psutil.Error, OSError):
            cwd = None
        if _runs_file_in(info["cmdline"], real_root, cwd):
            named.add(info["pid"])
    found = set(named)
    for pid, proc in renamed.items():
        ancestor, seen = parents.get(pid), set()
        while ancestor and ancestor not in named and ancestor not in seen:
            seen.add(ancestor)
            ancestor = parents.get(ancestor)
        if ancestor in named:
            found.add(pid)
        elif real_state is not None:
            with contextlib.suppress(psutil.Error, OSError):
                if _state_of(proc.environ()) == real_state:
                    found.add(pid)
    return sorted(found)

"""Which processes run an install's code, on Linux, macOS and Windows (psutil).

A process runs the install when its executable is Node and one of its arguments is a file
inside the install (`node <root>/openclaw.mjs gateway`, or the `openclaw` bin link that
points there). A process that merely names the path (`timeout`, `strace`, an editor, a
second openclaw-patcher) does not run its code and is not counted.
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


def processes_running(root: Path) -> list[int]:
    """Pids of the Node processes that run a file of the install at `root`."""
    real_root = os.path.realpath(root)
    me = os.getpid()
    found = []
    for proc in psutil.process_iter(["pid", "name", "exe", "cmdline"]):
        info = proc.info
        if info["pid"] == me or not info.get("cmdline") or not _is_node(info):
            continue
        try:
            cwd = proc.cwd()
        except (psutil.Error, OSError):
            cwd = None
        if _runs_file_in(info["cmdline"], real_root, cwd):
            found.append(info["pid"])
    return sorted(found)

"""Scratch folders of one run in `<cache>/scratch/`, named by the pid that owns them, so
what a killed run left is removed by the next one."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil

from patcher.cache.layout import scratch_root


@contextlib.contextmanager
def scratch(cache: Path, prefix: str) -> Iterator[Path]:
    """A fresh folder `<cache>/scratch/<prefix>-<pid>-<random>`, removed on exit."""
    sweep(cache)
    root = scratch_root(cache)
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}-{os.getpid()}-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep(cache: Path) -> None:
    """Remove the scratch folders of processes that are gone (killed mid-run)."""
    with contextlib.suppress(OSError):
        for entry in scratch_root(cache).iterdir():
            parts = entry.name.split("-")
            if len(parts) >= 3 and parts[-2].isdigit() and not psutil.pid_exists(int(parts[-2])):
                shutil.rmtree(entry, ignore_errors=True)


def is_scratch(path: Path, cache: Path) -> bool:
    """Whether `path` lies in the cache's scratch space (the tool's own work copies)."""
    return path.resolve().is_relative_to(scratch_root(cache).resolve())

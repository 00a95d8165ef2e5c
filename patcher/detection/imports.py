"""Which of a few dist files other JavaScript files import: the module a role's code runs from.

A build may carry the same cron code twice: in the chunk the gateway's modules import, and
in an all-in-one bundle that a separate process starts as its entry (`dist/worker/worker.mjs`
from 2026.8.1; in 2026.8.1-beta.3 that bundle even keeps its region markers). The chunk is
imported by relative specifier (`from "./active-jobs-D5QwO55Q.js"`); the entry bundle is
named by no import at all. This is read from the files, not from their names or places.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from patcher.detection.scan import scan
from patcher.files.reading import NotReadable, read_regular


def _specifier(name: str) -> re.Pattern[bytes]:
    # `from "<spec>"`, `import "<spec>"` or `import("<spec>")` with a relative specifier whose
    # last segment is the file's name; a path in a string (new URL(...), a hash list) is not
    # an import.
    return re.compile(
        rb"""(?:\bfrom|\bimport)\s*\(?\s*["'](\.{1,2}/(?:[^"'\s]*/)?"""
        + re.escape(name.encode())
        + rb""")["']"""
    )


def imported(dist: Path, paths: Iterable[Path]) -> set[Path]:
    """The files among `paths` that some other JavaScript file under `dist` imports by a
    relative specifier (statically or dynamically)."""
    wanted = sorted({Path(p) for p in paths})
    needles = [p.name.encode() for p in wanted]
    patterns = [_specifier(p.name) for p in wanted]
    found: set[Path] = set()
    for importer, ids in scan(dist, needles).items():
        try:
            data = read_regular(importer)
        except (OSError, NotReadable):  # removed or swapped since the prefilter read it
            continue
        for i in ids:
            target = wanted[i]
            if target in found or Path(importer) == target:
                continue
            for match in patterns[i].finditer(data):
                spec = match.group(1).decode("utf-8", "replace")
                if (Path(importer).parent / spec).resolve() == target.resolve():
                    found.add(target)
                    break
    return found

"""How many cores this process may use."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (its affinity: `taskset`, a container's cpuset),
    not the machine's: work spread over more than these only adds its own cost. Where the
    system has no affinity to ask (macOS, Windows), the machine's cores."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1

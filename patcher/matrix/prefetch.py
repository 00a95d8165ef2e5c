"""Tarballs fetched ahead of a matrix's verifies, several releases per `npm pack`.

Each npm process costs about a second of CPU before it fetches anything (npm's start-up
and the package's metadata, read again in every process), and a cold matrix fetches every
release it verifies. One `npm pack` of eight releases costs 0.9 CPU-s a release against 2.1
for one each. The prefetcher starts a pack only while it is fewer than jobs + BATCH
releases ahead of the verifies started, so a verify finds its tarball in the cache
(patcher.cache.releases fetch_tarball, under the same per-tarball lock) and at most
jobs + 2 BATCH - 1 tarballs wait on disk.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from pathlib import Path

from patcher.cache.releases import prefetch_tarballs
from patcher.errors import PatcherError

BATCH = 8  # releases per npm process: the gain flattens beyond it, the disk waiting grows


class Prefetcher:
    """Fetches the tarballs of `versions`, in order, in batches, while a matrix verifies
    them `jobs` at a time; call `started` as each verify starts. A failure is left to the
    verify of that release, which fetches it again and says why."""

    def __init__(self, versions: list[str], cache: Path, jobs: int, batch: int = BATCH) -> None:
        self._versions = list(versions)
        self._cache = cache
        self._first = max(1, jobs)  # the first verifies wait for it: a small batch
        self._batch = max(1, batch)
        self._ahead = self._first + self._batch
        self._started = 0
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="prefetch", daemon=True)

    def __enter__(self) -> Prefetcher:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join()

    def started(self) -> None:
        """One more verify has started: the prefetcher may go one release further."""
        with self._cond:
            self._started += 1
            self._cond.notify_all()

    def _may_go(self, done: int) -> bool:
        return self._stop or done < self._started + self._ahead

    def _run(self) -> None:
        done = 0
        while done < len(self._versions):
            with self._cond:
                self._cond.wait_for(functools.partial(self._may_go, done))
                if self._stop:
                    return
            size = self._first if done == 0 else self._batch
            batch = self._versions[done : done + size]
            with contextlib.suppress(PatcherError, OSError):
                prefetch_tarballs(batch, self._cache)
            done += len(batch)

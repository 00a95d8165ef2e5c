"""Where everything lives in the cache: the one place that spells its layout.

    <cache>/tarballs/openclaw-<v>.tgz(.integrity)  releases as `npm pack` wrote them
    <cache>/releases/<v>/package/, files.json     extracted releases and their file record
    <cache>/deps/<v>/node_modules/                the packages a release's cron code imports
    <cache>/node/<package>/<v>/package/bin/node   Node builds fetched from npm, per platform
    <cache>/store/<2 hex>/<sha256>-<mode>          files stored once (hard links)
    <cache>/used/<v>                               when a release was last used (eviction)
    <cache>/installs/<key>/                       the record of each patched install
    <cache>/full/<v>/node_modules/openclaw/       full npm installs, for verify --gateway
    <cache>/locks/                                install and store locks
    <cache>/scratch/<what>-<pid>-<random>/        work copies of one run
    <cache>/copies/<v>/package/, .clean           a release's linked copy kept for verify
    <cache>/matrix/last-run.json                  what `matrix --versions new` compares with

The cache is `--cache-dir`, else `$OPENCLAW_PATCHER_CACHE`, else the platform's user cache
directory (platformdirs).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from patcher.files.locks import exclusive

CACHE_ENV = "OPENCLAW_PATCHER_CACHE"
TARBALLS = "tarballs"
RELEASES = "releases"
DEPS = "deps"
NODE = "node"
STORE = "store"
USED = "used"
INSTALLS = "installs"
LOCKS = "locks"
SCRATCH = "scratch"
MATRIX = "matrix"
FULL = "full"
COPIES = "copies"
GROWN = ".grown"  # touched whenever new content is stored: a walk of the cache takes seconds


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache directory: the override, else $OPENCLAW_PATCHER_CACHE, else platformdirs."""
    if override:
        return Path(override).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    from platformdirs import user_cache_dir  # only when no cache is named: keeps start-up light

    return Path(user_cache_dir("openclaw-patcher"))


def release_dir(cache: Path, version: str) -> Path:
    """`<cache>/releases/<v>`: the extracted `package/` and its `files.json`."""
    return cache / RELEASES / version


def release_lock(cache: Path, version: str) -> Path:
    return cache / RELEASES / f".{version}.lock"


def deps_dir(cache: Path, version: str) -> Path:
    return cache / DEPS / version


def deps_lock(cache: Path, version: str) -> Path:
    return cache / DEPS / f".{version}.lock"


def full_install_dir(cache: Path, version: str) -> Path:
    """`<cache>/full/<v>`: `npm install openclaw@<v>` with every dependency (a real gateway)."""
    return cache / FULL / version


def full_install_lock(cache: Path, version: str) -> Path:
    return cache / FULL / f".{version}.lock"


def kept_copy_dir(cache: Path, version: str) -> Path:
    """`<cache>/copies/<v>`: a linked copy of the release that verify repairs, checks and
    rolls back run after run (patcher/verification/copies.py)."""
    return cache / COPIES / version


def kept_copy_lock(cache: Path, version: str) -> Path:
    return cache / COPIES / f".{version}.lock"


def package_dir(cache: Path, folder: str, version: str) -> Path:
    """`<cache>/<folder>/<v>`: an npm package extracted there (releases, Node builds)."""
    return cache / folder / version


def package_lock(cache: Path, folder: str, version: str) -> Path:
    return cache / folder / f".{version}.lock"


def scratch_root(cache: Path) -> Path:
    return cache / SCRATCH


def install_lock(cache: Path, key: str, root: Path) -> contextlib.AbstractContextManager[None]:
    """The lock of one install (its record's key)."""
    return exclusive(cache / LOCKS / f"install-{key}.lock", f"the install {root}")


def store_lock(cache: Path, state_dir: Path) -> contextlib.AbstractContextManager[None]:
    """The lock of one state dir's cron store (by its real path)."""
    key = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:16]
    return exclusive(cache / LOCKS / f"store-{key}.lock", f"the cron store in {state_dir}")

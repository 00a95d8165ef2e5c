"""Resolving the state dir and the cron store as OpenClaw does."""

from __future__ import annotations

import json

import pytest

from patcher.cronstore.location import resolve_state_dir, resolve_store
from patcher.errors import UsageError
from patcher.files.jsonio import InvalidDocument


def test_state_dir_precedence(tmp_path):
    home = tmp_path / "home"
    env = {"HOME": str(home)}
    assert resolve_state_dir(env) == home / ".openclaw"
    assert (
        resolve_state_dir({**env, "OPENCLAW_HOME": str(tmp_path / "oh")})
        == tmp_path / "oh" / ".openclaw"
    )
    config = tmp_path / "etc" / "openclaw.json"
    assert resolve_state_dir({**env, "OPENCLAW_CONFIG_PATH": str(config)}) == config.parent
    both = {**env, "OPENCLAW_CONFIG_PATH": str(config), "OPENCLAW_STATE_DIR": "~/state"}
    assert resolve_state_dir(both) == home / "state"


def test_default_store_path(tmp_path):
    env = {"OPENCLAW_STATE_DIR": str(tmp_path)}
    location = resolve_store(env=env)
    assert location.jobs_path == tmp_path / "cron" / "jobs.json"
    assert location.state_path == tmp_path / "cron" / "jobs-state.json"
    assert location.sqlite_path == tmp_path / "state" / "openclaw.sqlite"
    assert location.source == "default"


def test_cron_store_key_in_json5_config(tmp_path):
    home = tmp_path / "home"
    (tmp_path / "openclaw.json").write_text(
        "// hand-edited\n{cron: {store: '~/elsewhere/my-jobs.json'},}\n"
    )
    location = resolve_store(env={"OPENCLAW_STATE_DIR": str(tmp_path), "HOME": str(home)})
    assert location.jobs_path == home / "elsewhere" / "my-jobs.json"
    assert location.state_path == home / "elsewhere" / "my-jobs-state.json"
    assert location.source == f"cron.store in {tmp_path / 'openclaw.json'}"


def test_config_path_override_names_the_config(tmp_path):
    config = tmp_path / "conf" / "custom.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"cron": {"store": str(tmp_path / "s" / "jobs.json")}}))
    location = resolve_store(env={"OPENCLAW_CONFIG_PATH": str(config)})
    assert location.state_dir == config.parent
    assert location.jobs_path == tmp_path / "s" / "jobs.json"


def test_state_dir_flag_uses_the_config_beside_it(tmp_path, monkeypatch):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"cron": {"store": "/nowhere/jobs.json"}}))
    monkeypatch.setenv("OPENCLAW_CONFIG_PATH", str(other))
    state = tmp_path / "state"
    state.mkdir()
    assert resolve_store(state).jobs_path == state / "cron" / "jobs.json"


def test_state_dir_flag_must_exist(tmp_path):
    with pytest.raises(UsageError, match="is not a directory"):
        resolve_store(tmp_path / "missing")


def test_broken_config_is_named(tmp_path):
    (tmp_path / "openclaw.json").write_text("{cron: ")
    with pytest.raises(InvalidDocument, match=r"openclaw\.json is neither JSON nor JSON5"):
        resolve_store(tmp_path)


def test_legacy_config_name(tmp_path):
    (tmp_path / "clawdbot.json").write_text(
        json.dumps({"cron": {"store": str(tmp_path / "j.json")}})
    )
    assert resolve_store(tmp_path).jobs_path == tmp_path / "j.json"

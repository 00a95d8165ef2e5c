"""`openclaw-patcher detect`: exit codes, messages, the JSON contract, and the table."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
from click.testing import CliRunner
from conftest import BUNDLES, REPO, assert_fails_cleanly
from test_detection_roles import SHAPES

from patcher.cli import main


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No install anywhere: an empty HOME and a PATH without openclaw or npm."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    for var in ("PNPM_HOME", "NVM_DIR", "FNM_DIR", "VOLTA_HOME", "BUN_INSTALL", "HOMEBREW_PREFIX"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("npm_config_prefix", raising=False)
    monkeypatch.delenv("NPM_CONFIG_PREFIX", raising=False)
    monkeypatch.delenv("PREFIX", raising=False)
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(main, list(args))


SCHEMA = json.loads((REPO / "schemas" / "detect.schema.json").read_text())


@pytest.mark.parametrize("shape", SHAPES)
def test_detect_json_matches_its_schema(isolated, shape):
    result = run("detect", "--root", str(BUNDLES / shape), "--json")
    jsonschema.validate(json.loads(result.output), SCHEMA)


def test_detect_json_contract(isolated):
    result = run("detect", "--root", str(BUNDLES / "2026.4.14-inline-json"), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["schema"] == "openclaw-patcher/detect/1"
    [install] = payload["installs"]
    assert install["root"] == str((BUNDLES / "2026.4.14-inline-json").resolve())
    assert install["version"] == "2026.4.14"
    assert install["status"] == "affected"
    assert install["patch"] == "pristine"
    assert install["reason"] is None
    assert set(install["files"]) == {"active-jobs", "sweeper", "cron-service", "cron-store"}
    assert install["files"]["cron-service"] == ["dist/server.impl-S2.js"]


@pytest.mark.parametrize(
    ("shape", "status", "patch"),
    [
        ("2026.3.1-no-sweeper", "not-affected", "n/a"),
        ("2026.9.6-fixed-mjs", "fixed-upstream", "n/a"),
        ("2026.7.1-sqlite-markers", "affected", "pristine"),
    ],
)
def test_detect_statuses_exit_zero(isolated, shape, status, patch):
    result = run("detect", "--root", str(BUNDLES / shape), "--json")
    assert result.exit_code == 0
    install = json.loads(result.output)["installs"][0]
    assert (install["status"], install["patch"]) == (status, patch)


def test_detect_unknown_exits_3_with_reason(isolated):
    result = run("detect", "--root", str(BUNDLES / "unknown-no-service"), "--json")
    assert result.exit_code == 3
    install = json.loads(result.output)["installs"][0]
    assert install["status"] == "unknown"
    assert install["reason"] == "the cron-service role was not found in dist/"


def test_detect_table(isolated):
    result = run("detect", "--root", str(BUNDLES / "2026.8.1-fixed-worker"))
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["VERSION", "STATUS", "PATCH", "FAMILY", "ROOT"]
    assert lines[1].split()[:4] == ["2026.8.1", "fixed-upstream", "n/a", "fixed-upstream"]
    assert "  cron-service  dist/service-Y3.js  (+ copies: dist/worker/worker.mjs)" in lines


def test_detect_table_shows_unknown_reason(isolated):
    result = run("detect", "--root", str(BUNDLES / "unknown-two-sweepers"))
    assert result.exit_code == 3
    assert "unknown: the sweeper role was found 2 times" in result.output


@pytest.mark.parametrize("root", ["not-openclaw", "does-not-exist"])
def test_detect_bad_root_exits_2_with_one_sentence(isolated, root):
    result = run("detect", "--root", str(BUNDLES / root))
    assert result.exit_code == 2
    message = result.output.strip()
    assert message.startswith("error: ")
    assert str(BUNDLES / root) in message
    assert len(message.splitlines()) == 1
    assert "Traceback" not in message


def test_detect_nothing_found_exits_1(isolated):
    result = run("detect")
    assert result.exit_code == 1
    assert "no OpenClaw install was found" in result.output


def test_detect_discovers_installs(isolated):
    import shutil

    target = isolated / "home" / ".bun" / "install" / "global" / "node_modules" / "openclaw"
    shutil.copytree(BUNDLES / "2026.5.7-active-jobs-chunk", target)
    result = run("detect", "--json")
    assert result.exit_code == 0, result.output
    [install] = json.loads(result.output)["installs"]
    assert install["found_by"] == ["bun"]
    assert install["status"] == "affected"


def test_module_entry_point_and_version():
    done = subprocess.run(
        [sys.executable, "-m", "patcher", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.startswith("openclaw-patcher, version ")


def test_unexpected_errors_are_one_sentence_with_a_log(isolated, monkeypatch):
    import patcher.repair.state

    def boom(*args, **kwargs):
        raise RuntimeError("synthetic failure")

    monkeypatch.setenv("OPENCLAW_PATCHER_CACHE", str(isolated / "cache"))
    monkeypatch.setattr(patcher.repair.state, "detect_installs", boom)
    result = run("detect", "--root", str(BUNDLES / "2026.4.14-inline-json"))
    assert result.exit_code == 3
    assert "an unexpected error has occurred (RuntimeError: synthetic failure)" in result.output
    assert "synthetic failure" in (isolated / "cache" / "crash.log").read_text()


FAILURES = [
    (["detect", "--root", "{nothing}"], 2, "is not an OpenClaw package"),
]


@pytest.mark.parametrize(("args", "code", "words"), FAILURES)
def test_detect_fails_with_its_code_one_sentence_and_no_file_changed(cli_env, args, code, words):
    assert_fails_cleanly(cli_env, args, code, words)

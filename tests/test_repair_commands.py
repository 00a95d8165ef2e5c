"""apply, status and rollback on the synthetic 2026.4.14 bundle (which has every anchor of
the repair): outcomes, exit codes, messages, untouched files, and crash safety."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner
from conftest import BUNDLES, REPO

from patcher.cli import main
from patcher.repair.transaction import KILL_AT_ENV
from patcher.system.selfexec import own_command

SHAPE = BUNDLES / "2026.4.14-inline-json"


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A copy of the bundle, a cache and a state dir with a store, all in tmp_path."""
    root = tmp_path / "install"
    shutil.copytree(SHAPE, root)
    state = tmp_path / "state"
    shutil.copytree(REPO / "fixtures" / "stores" / "inline", state)
    cache = tmp_path / "cache"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return root, state, cache


def cli(cache: Path, *args: str):
    return CliRunner().invoke(main, ["--cache-dir", str(cache), *args])


def test_apply_status_rollback_round_trip(env):
    root, state, cache = env
    pristine = digests(root)
    result = cli(cache, "status", "--root", str(root))
    assert result.exit_code == 1 and "pristine" in result.output

    result = cli(
        cache, "apply", "--root", str(root), "--state-dir", str(state), "--skip-simulation"
    )
    assert result.exit_code == 0, result.output
    assert "applied" in result.output and "store: migrated" in result.output
    assert "no process from this install is running" in result.output
    patched = digests(root)
    assert patched != pristine
    manifest = json.loads(next((cache / "installs").glob("*/manifest.json")).read_text())
    assert manifest["state"] == "applied" and manifest["version"] == "2026.4.14"
    assert {f["path"] for f in manifest["files"]} == {
        "dist/server.impl-S2.js",
        "dist/store-S3.js",
        "dist/task-registry.maintenance-S1.js",
    }
    assert json.loads((state / "cron" / "jobs.json").read_text())["activeJobIds"] == [
        "job-every",
        "job-at",
    ]

    result = cli(cache, "status", "--root", str(root), "--json")
    assert result.exit_code == 0
    assert json.loads(result.output)["installs"][0]["patch"] == "applied"
    detect = cli(cache, "detect", "--root", str(root), "--json")
    assert json.loads(detect.output)["installs"][0]["patch"] == "applied"

    again = cli(cache, "apply", "--root", str(root), "--state-dir", str(state), "--skip-simulation")
    assert again.exit_code == 0 and "already applied" in again.output
    assert digests(root) == patched

    result = cli(cache, "rollback", "--root", str(root))
    assert result.exit_code == 0 and "restored 3 file(s)" in result.output
    assert digests(root) == pristine
    assert list((cache / "installs").iterdir()) == []  # no record, backups or folder left
    assert cli(cache, "status", "--root", str(root)).exit_code == 1


def test_dry_run_prints_a_diff_and_writes_nothing(env):
    root, _state, cache = env
    before = digests(root)
    result = cli(cache, "apply", "--root", str(root), "--dry-run")
    assert result.exit_code == 0
    assert "+++ b/dist/store-S3.js" in result.output
    assert "// openclaw-patcher cron-active-jobs-json/startup-rehydrate" in result.output
    assert digests(root) == before
    assert not (cache / "installs").exists()


def test_drift_is_refused_naming_the_file(env):
    root, _state, cache = env
    assert cli(cache, "apply", "--root", str(root), "--skip-simulation").exit_code == 0
    store = root / "dist" / "store-S3.js"
    store.write_text(store.read_text() + "\n// edited by hand\n")
    before = digests(root)
    result = cli(cache, "status", "--root", str(root))
    assert result.exit_code == 3 and "drifted" in result.output
    result = cli(cache, "rollback", "--root", str(root))
    assert result.exit_code == 3
    assert str(store) in result.output and "changed since it was patched" in result.output
    assert digests(root) == before


def test_unknown_shape_and_ambiguous_match_are_refused_untouched(env, tmp_path):
    root, _state, cache = env
    unknown = tmp_path / "unknown"
    shutil.copytree(BUNDLES / "unknown-two-sweepers", unknown)
    result = cli(cache, "apply", "--root", str(unknown), "--skip-simulation")
    assert result.exit_code == 3 and "found 2 times" in result.output

    service = root / "dist" / "server.impl-S2.js"
    service.write_text(service.read_text() + "async function start(state) {\n}\n")
    before = digests(root)
    result = cli(cache, "apply", "--root", str(root), "--skip-simulation")
    assert result.exit_code == 3
    assert "matched 2 places" in result.output and "server.impl-S2.js" in result.output
    assert digests(root) == before


def test_read_only_install_says_how_to_rerun(env, monkeypatch):
    root, _state, cache = env
    monkeypatch.setattr("patcher.repair.commands.can_write", lambda path: False)
    before = digests(root)
    result = cli(cache, "apply", "--root", str(root), "--skip-simulation")
    assert result.exit_code == 3
    assert "is not writable by this user: rerun with the rights the install needs" in result.output
    assert digests(root) == before


def test_missing_node_is_exit_4(env, monkeypatch):
    root, _state, cache = env
    from patcher.errors import EnvironmentMissing

    def no_node(*args, **kwargs):
        raise EnvironmentMissing("no Node satisfies engines.node '>=18': install one.")

    monkeypatch.setattr("patcher.repair.commands.find_node", no_node)
    before = digests(root)
    result = cli(cache, "apply", "--root", str(root), "--skip-simulation")
    assert result.exit_code == 4 and "install one" in result.output
    assert digests(root) == before


def run_killed(cache: Path, args: list[str], step: int) -> int:
    env = {**os.environ, KILL_AT_ENV: str(step)}
    done = subprocess.run(
        own_command("--cache-dir", str(cache), *args),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    return done.returncode


def state_of(cache: Path, root: Path) -> str:
    result = cli(cache, "status", "--root", str(root), "--json")
    return json.loads(result.output)["installs"][0]["patch"]


@pytest.mark.parametrize("command", ["apply", "rollback"])
def test_crash_safety_sigkill_at_every_write_step(env, command, capsys):
    root, state, cache = env
    pristine = digests(root)
    args = ["apply", "--root", str(root), "--state-dir", str(state), "--skip-simulation"]
    if command == "rollback":
        assert cli(cache, *args).exit_code == 0
        args = ["rollback", "--root", str(root)]
    start = digests(root)
    step, kills = 1, 0
    while run_killed(cache, args, step) == -9:
        kills += 1
        # After each kill: pristine or applied, never a mix (status recovers the journal).
        assert state_of(cache, root) in ("pristine", "applied")
        assert digests(root) in (pristine, start) or state_of(cache, root) == "applied"
        # Running the command again completes it.
        assert run_killed(cache, args, 0) == 0
        expected = "applied" if command == "apply" else "pristine"
        assert state_of(cache, root) == expected
        if command == "apply":  # the store is migrated by the run that completes
            assert "activeJobIds" in (state / "cron" / "jobs.json").read_text()
        # Back to the starting point for the next step.
        undo = (
            ["rollback", "--root", str(root)]
            if command == "apply"
            else ["apply", "--root", str(root), "--state-dir", str(state), "--skip-simulation"]
        )
        assert run_killed(cache, undo, 0) == 0
        assert digests(root) == start
        step += 1
    with capsys.disabled():
        print(f"\n{command}: killed at each of {kills} write steps, recovered every time")
    assert kills >= 4


def test_a_symlink_in_dist_leading_outside_is_refused(env, tmp_path):
    root, _state, cache = env
    outside = tmp_path / "outside.js"
    store = root / "dist" / "store-S3.js"
    outside.write_bytes(store.read_bytes())
    store.unlink()
    store.symlink_to(outside)
    before = outside.read_bytes()
    result = cli(cache, "apply", "--root", str(root), "--skip-simulation")
    assert result.exit_code == 3
    assert "leads outside" in result.output and "store-S3.js" in result.output
    assert outside.read_bytes() == before
    assert cli(cache, "status", "--root", str(root)).exit_code == 1


def test_no_shell_and_no_interpolated_paths_in_subprocesses():
    """Every subprocess gets an argument list (no shell); inserted code never embeds paths."""
    sources = "".join(p.read_text() for p in (REPO / "patcher").rglob("*.py"))
    assert "shell=True" not in sources
    assert "os.system(" not in sources
    specs = "".join(p.read_text() for p in (REPO / "patcher" / "repair" / "specs").rglob("*.js"))
    assert "/root" not in specs and "/home" not in specs


def test_status_after_an_upgrade_says_the_patch_is_gone(env):
    root, _state, cache = env
    assert cli(cache, "apply", "--root", str(root), "--skip-simulation").exit_code == 0
    # `npm install -g openclaw@other` replaces the package folder.
    shutil.rmtree(root)
    shutil.copytree(BUNDLES / "2026.4.22-split-json", root)
    result = cli(cache, "status", "--root", str(root))
    assert result.exit_code == 1
    assert "the patch is gone (patched 2026.4.14, now 2026.4.22)" in result.output
    assert "this release needs it" in result.output
    shutil.rmtree(root)
    shutil.copytree(BUNDLES / "2026.9.6-fixed-mjs", root)
    result = cli(cache, "status", "--root", str(root))
    assert result.exit_code == 0
    assert (
        "the patch for 2026.4.14 is gone" in result.output and "nothing to patch" in result.output
    )


def test_a_simulation_that_cannot_prove_the_repair_rolls_everything_back(env):
    root, state, cache = env
    before = digests(root)
    # The synthetic bundle has no CronService: the simulation fails, so nothing may stay.
    result = cli(cache, "apply", "--root", str(root), "--state-dir", str(state))
    assert result.exit_code == 3
    assert "the harness needs CronService" in result.output
    assert digests(root) == before
    assert cli(cache, "status", "--root", str(root)).exit_code == 1
    assert not list((cache / "installs").glob("*/manifest.json"))


def test_a_running_gateway_is_a_node_process_running_the_installs_code(env, tmp_path):
    """Found: Node running a file of the install (also through a link to it). Not found:
    processes that only name the install's path (timeout, a Python, a second tool)."""
    root, _state, _cache = env
    from patcher.repair.commands import running_gateways

    entry = root / "openclaw.mjs"
    entry.write_text("setTimeout(() => {}, 60_000);\n")
    link = tmp_path / "openclaw"
    link.symlink_to(entry)
    node = shutil.which("node")
    assert node, "the tests need Node on PATH"
    others = [
        subprocess.Popen(["timeout", "60", "sleep", "60", str(entry)]),
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(entry)]),
    ]
    gateways = [
        subprocess.Popen([node, str(entry), "gateway"]),
        subprocess.Popen([node, str(link)]),
    ]
    try:
        for _ in range(100):  # until the children have exec'd
            if {g.pid for g in gateways} <= set(running_gateways(root)):
                break
            time.sleep(0.05)
        found = set(running_gateways(root))
        assert {g.pid for g in gateways} <= found
        assert not found & {p.pid for p in others}
    finally:
        for proc in gateways + others:
            proc.kill()
            proc.wait()
    assert not set(running_gateways(root)) & {g.pid for g in gateways}


# What OpenClaw's CLI does: respawn itself with Node flags (the child rewrites its title,
# which on Linux overwrites its command line), and a gateway that restarts with a fresh pid
# spawns its successor detached and exits.
RENAMING_ENTRY = """import { spawn } from "node:child_process";
if (process.argv[2] === "respawn") {
  spawn(process.execPath, [process.argv[1], "child"], { stdio: "inherit" });
} else if (process.argv[2] === "orphan") {
  spawn(process.execPath, [process.argv[1], "child"], { detached: true, stdio: "ignore" }).unref();
  process.exit(0);
}
if (process.argv[2] === "child") process.title = "openclaw-gateway";
setTimeout(() => {}, 60_000);
"""


def test_a_renamed_gateway_is_found_by_its_parent_or_its_state(env, tmp_path):
    """The respawned child, renamed `openclaw-gateway`, is found through its parent; the
    orphaned successor of a fresh-pid restart through the state dir its environment
    names, and only for that state."""
    root, _state, _cache = env
    from patcher.repair.commands import running_gateways

    entry = root / "openclaw.mjs"
    entry.write_text(RENAMING_ENTRY)
    state = tmp_path / "gw-state"
    state.mkdir()
    node = shutil.which("node")
    assert node, "the tests need Node on PATH"
    env_of = {**os.environ, "OPENCLAW_STATE_DIR": str(state)}
    parent = subprocess.Popen([node, str(entry), "respawn"], env=env_of)
    subprocess.run([node, str(entry), "orphan"], env=env_of, check=True)

    def renamed() -> list[psutil.Process]:
        return [
            p
            for p in psutil.process_iter(["cmdline", "environ"])
            if (p.info["cmdline"] or [""])[0] == "openclaw-gateway"
            and (p.info["environ"] or {}).get("OPENCLAW_STATE_DIR") == str(state)
        ]

    try:
        for _ in range(200):
            if len(renamed()) == 2:
                break
            time.sleep(0.05)
        titled = renamed()
        assert len(titled) == 2, "the two renamed processes did not start"
        child = next(p.pid for p in titled if p.ppid() == parent.pid)
        orphan = next(p.pid for p in titled if p.pid != child)
        assert set(running_gateways(root, tmp_path / "elsewhere")) == {parent.pid, child}
        assert set(running_gateways(root, state)) == {parent.pid, child, orphan}
    finally:
        for proc in renamed():
            proc.kill()
        parent.kill()
        parent.wait()


def test_apply_refuses_a_release_in_the_tools_own_cache(fake_npm, tmp_path, monkeypatch):
    """The root `fetch` prints is the pristine reference of verify: apply must not patch it
    (in this cache, or another cache's release, known by the record beside it)."""
    from conftest import serve_bundle

    from patcher.cache.content import tree_changes
    from patcher.cache.releases import fetch_release

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    serve_bundle(fake_npm, SHAPE)
    cache = tmp_path / "cache"
    root = fetch_release("2026.4.14", cache)
    state = tmp_path / "state"
    shutil.copytree(REPO / "fixtures" / "stores" / "inline", state)
    before = digests(root)
    for used_cache in (cache, tmp_path / "other-cache"):
        args = ["apply", "--root", str(root), "--state-dir", str(state), "--skip-simulation"]
        result = cli(used_cache, *args)
        assert result.exit_code == 3, result.output
        assert "is a release in openclaw-patcher's cache" in result.output
        assert "copy it elsewhere first" in result.output
    assert digests(root) == before and tree_changes(root) == []
    assert cli(cache, "apply", "--root", str(root), "--dry-run").exit_code == 0  # reads only
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)  # what the message asks for
    result = cli(
        cache, "apply", "--root", str(copy), "--state-dir", str(state), "--skip-simulation"
    )
    assert result.exit_code == 0, result.output


def test_a_build_no_spec_names_is_repaired_by_its_code_with_a_note(env):
    """A version outside every spec's range (a beta, a re-publish) whose code matches a
    spec's shape is planned and applied; the version only adds a note."""
    root, state, cache = env
    manifest = json.loads((root / "package.json").read_text())
    manifest["version"] = "2026.6.3-beta.1"  # past the JSON spec's range, JSON-era code
    (root / "package.json").write_text(json.dumps(manifest))
    result = cli(
        cache,
        "apply",
        "--root",
        str(root),
        "--state-dir",
        str(state),
        "--skip-simulation",
        "--json",
    )
    assert result.exit_code == 0, result.output
    (outcome,) = json.loads(result.output)["installs"]
    assert outcome["outcome"] == "applied"
    assert any(
        "2026.6.3-beta.1 is not in the releases spec cron-active-jobs-json" in n
        for n in outcome["notes"]
    )
    assert state_of(cache, root) == "applied"
    assert cli(cache, "rollback", "--root", str(root)).exit_code == 0

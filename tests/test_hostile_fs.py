"""A hostile file system, for real: a full disk (a tiny tmpfs), a read-only mount, and a
user without the rights (root with its capabilities dropped, or the tests' own user).
Each failure is one sentence naming the file, its documented exit code, and nothing
half-written; the next command works.

The mounts are made in a private mount namespace (`unshare -rm`), so nothing outside the
test sees them and they go away with it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import BUNDLES, REPO

from patcher.system.selfexec import own_command

SHAPE = BUNDLES / "2026.4.14-inline-json"
# Fill a mount, then free `pages` pages of it: the next writes fail with ENOSPC.
FILL = """
dd if=/dev/zero of="$1/.filler" bs=4k 2>/dev/null
for i in $(seq 1 "$2"); do dd if=/dev/zero of="$1/.pad$i" bs=4k count=1 2>/dev/null; done
rm -f "$1"/.pad*
"""


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".filler")
    }


def in_namespace(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run a shell script as root of a private user and mount namespace."""
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def cli_line(cache: Path, *args: str) -> str:
    """A shell line that runs the tool and prints its exit code on a line of its own."""
    command = shlex.join(own_command("--cache-dir", str(cache), *args))
    return f'{command}; echo "rc=$?"'


@pytest.fixture
def env(tmp_path):
    root = tmp_path / "install"
    shutil.copytree(SHAPE, root)
    state = tmp_path / "state"
    shutil.copytree(REPO / "fixtures" / "stores" / "inline", state)
    cache = tmp_path / "cache"
    cache.mkdir()
    return root, state, cache


def codes(output: str) -> list[int]:
    return [int(line[3:]) for line in output.splitlines() if line.startswith("rc=")]


def test_a_full_cache_disk_is_one_sentence_and_leaves_nothing(env):
    root, state, cache = env
    before = tree(root)
    apply = cli_line(
        cache, "apply", "--root", str(root), "--state-dir", str(state), "--skip-simulation"
    )
    status = cli_line(cache, "status", "--root", str(root))
    script = (
        f'mount -t tmpfs -o size=256k tmpfs "{cache}" && {{ {FILL} }} && '
        f"{apply} && {status} && "
        f'find "{cache}" -name "*.tmp" -o -name "manifest.json" | sed "s/^/left: /"'
    )
    done = in_namespace(script, str(cache), "2")
    assert codes(done.stdout) == [4, 1], done.stdout + done.stderr
    assert "no space left for" in done.stderr and "free space on that disk" in done.stderr
    assert "unexpected error" not in done.stderr and "Traceback" not in done.stderr
    assert "left: " not in done.stdout  # no temp file, no record of an apply that never was
    assert tree(root) == before


def test_a_full_state_disk_keeps_no_truncated_backup(env):
    _root, state, cache = env
    jobs = state / "cron" / "jobs.json"
    original = jobs.read_bytes()
    big = json.loads(original)
    big["jobs"] = big["jobs"] * 40  # a store larger than the one free page
    jobs.write_text(json.dumps(big))
    original = jobs.read_bytes()
    migrate = cli_line(cache, "store", "migrate", "--state-dir", str(state))
    script = (
        f'cp -a "{state}/cron" /tmp/cron-copy-$$ && mount -t tmpfs -o size=512k tmpfs '
        f'"{state}/cron" && cp -a /tmp/cron-copy-$$/. "{state}/cron/" && '
        f'{{ {FILL} }} && {migrate} && ls -a "{state}/cron" | sed "s/^/file: /" && '
        f'cmp "{state}/cron/jobs.json" /tmp/cron-copy-$$/jobs.json && echo same; '
        "rm -rf /tmp/cron-copy-$$"
    )
    done = in_namespace(script, str(state / "cron"), "1")
    assert codes(done.stdout) == [4], done.stdout + done.stderr
    assert "no space left for" in done.stderr and "Traceback" not in done.stderr
    files = {line[6:] for line in done.stdout.splitlines() if line.startswith("file: ")}
    assert files == {".", "..", "jobs.json", ".filler"}, files  # no .bak, no temp file
    assert "same" in done.stdout.splitlines()
    assert jobs.read_bytes() == original


def test_a_read_only_cache_is_one_sentence(env):
    root, state, cache = env
    before = tree(root)
    apply = cli_line(
        cache, "apply", "--root", str(root), "--state-dir", str(state), "--skip-simulation"
    )
    script = f'mount --bind "{cache}" "{cache}" && mount -o remount,ro,bind "{cache}" && {apply}'
    done = in_namespace(script)
    assert codes(done.stdout) == [3], done.stdout + done.stderr
    assert "is on a read-only file system" in done.stderr and "Traceback" not in done.stderr
    assert tree(root) == before


def test_a_read_only_install_is_refused_untouched(env):
    root, state, cache = env
    before = tree(root)
    apply = cli_line(
        cache, "apply", "--root", str(root), "--state-dir", str(state), "--skip-simulation"
    )
    script = f'mount --bind "{root}" "{root}" && mount -o remount,ro,bind "{root}" && {apply}'
    done = in_namespace(script)
    assert codes(done.stdout) == [3], done.stdout + done.stderr
    assert "is not writable by this user" in done.stderr and "Traceback" not in done.stderr
    assert tree(root) == before and not list(cache.rglob("manifest.json"))


@pytest.fixture
def as_user():
    """Run the tool without root's rights over files: when the tests run as root, as root
    with every capability dropped (permission bits then bind it as any user; the tool's
    own code, wherever the checkout lies, stays readable), else as the tests' own user."""
    base = Path(tempfile.mkdtemp(prefix="openclaw-patcher-user-"))
    prefix = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []

    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "HOME": str(base / "home")}
        return subprocess.run(
            [*prefix, *own_command("--cache-dir", str(base / "cache"), *args)],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd or base,
            timeout=120,
            check=False,
        )

    yield base, run
    shutil.rmtree(base, ignore_errors=True)


def test_a_store_folder_without_rights_is_one_sentence(as_user):
    base, run = as_user
    state = base / "state"
    shutil.copytree(REPO / "fixtures" / "stores" / "inline", state)
    (base / "home").mkdir()
    os.chmod(state / "cron", 0o000)
    try:
        for args in (
            ("store", "validate", "--state-dir", str(state)),
            ("store", "migrate", "--state-dir", str(state)),
        ):
            done = run(*args)
            assert done.returncode in (2, 3), done.stderr
            assert "Traceback" not in done.stderr and "unexpected error" not in done.stderr
            assert "cron" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    finally:
        os.chmod(state / "cron", 0o755)


def test_a_read_only_folder_holding_a_writable_store_is_one_sentence(as_user):
    base, run = as_user
    state = base / "state"
    shutil.copytree(REPO / "fixtures" / "stores" / "inline", state)
    (base / "home").mkdir()
    jobs = state / "cron" / "jobs.json"
    original = jobs.read_bytes()
    os.chmod(jobs, 0o666)
    os.chmod(state / "cron", 0o555)
    try:
        done = run("store", "migrate", "--state-dir", str(state))
    finally:
        os.chmod(state / "cron", 0o755)
    assert done.returncode == 3, done.stderr
    assert "cannot be accessed by this user" in done.stderr, done.stderr
    assert str(state / "cron") in done.stderr and "Traceback" not in done.stderr
    assert jobs.read_bytes() == original
    assert sorted(p.name for p in (state / "cron").iterdir()) == ["jobs.json"]


def test_the_namespace_tools_are_here():
    """These tests need util-linux's unshare and setpriv; a machine without them fails
    here, loudly, rather than passing the tests above by skipping them."""
    assert shutil.which("unshare") and shutil.which("setpriv"), sys.platform

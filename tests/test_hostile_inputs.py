"""A hostile-input corpus, generated: stores nested thousands of levels deep, truncated,
mutated byte by byte, corrupt SQLite databases, odd plugin tables, and dists holding a FIFO,
a link to /dev/zero or a huge sparse file.

Every input ends in a verdict or one sentence with a documented exit code: never an
"unexpected error", a traceback or a hang, and a store is never left half-written (it is
unchanged, or migrated and valid). CI runs a short corpus; `--hostile-all` the full one.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BUNDLES, REPO
from test_cronstore_sqlite import make_state

from patcher.cli import main
from patcher.system.selfexec import own_command

FIXTURE = REPO / "fixtures" / "stores" / "inline" / "cron" / "jobs.json"
SEED = 79196


def count(config: pytest.Config, short: int, full: int) -> int:
    return full if config.getoption("--hostile-all") else short


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def assert_sentence(result, codes=(0, 2, 3)) -> None:
    """An exit code the CLI documents, and no sign of a bug."""
    text = result.output
    assert result.exit_code in codes, text
    assert "unexpected error" not in text and "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), text


def nested(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


def json_corpus(n_mutations: int) -> list[tuple[str, bytes]]:
    base = FIXTURE.read_bytes()
    store = json.loads(base)
    cases: list[tuple[str, bytes]] = []
    for levels in (65, 500, 985, 5000, 100_000):
        deep = base.replace(b'"jobs": [', b'"deep": ' + nested(levels).encode() + b', "jobs": [', 1)
        cases.append((f"json nested {levels}", deep))
        cases.append((f"json5 nested {levels}", deep.rstrip().rstrip(b"}") + b",}"))
    big = json.dumps({**store, "jobs": store["jobs"] * 2500}, indent=2).encode()
    rng = random.Random(SEED)
    for cut in sorted(rng.sample(range(1, len(big)), min(6, n_mutations))):
        cases.append((f"truncated at {cut} of {len(big)}", big[:cut]))
    cases.append(("not UTF-8", base.replace(b"{", b"{\xff", 1)))
    cases.append(("NaN", base.replace(b'"jobs": [', b'"n": NaN, "jobs": [', 1)))
    cases.append(("number 1e400", base.replace(b'"jobs": [', b'"n": 1e400, "jobs": [', 1)))
    for i in range(n_mutations):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            kind = rng.choice(("flip", "insert", "delete"))
            if kind == "flip":
                data[at] = rng.randrange(256)
            elif kind == "insert":
                data[at:at] = rng.choice([b"[", b"{", b'"', b",", b"\\", b"\x00", b"1e999"])
            else:
                del data[at : at + rng.randint(1, 8)]
        cases.append((f"mutation {i}", bytes(data)))
    return cases


@pytest.fixture(scope="module")
def json_cases(request):
    return json_corpus(count(request.config, 40, 2000))


def test_hostile_json_stores(json_cases, tmp_path):
    outcomes: dict[int, int] = {}
    for name, data in json_cases:
        state = tmp_path / "state"
        shutil.rmtree(state, ignore_errors=True)
        (state / "cron").mkdir(parents=True)
        jobs = state / "cron" / "jobs.json"
        jobs.write_bytes(data)
        validated = cli("store", "validate", "--state-dir", str(state))
        assert_sentence(validated)
        migrated = cli(
            "--cache-dir", str(tmp_path / "cache"), "store", "migrate", "--state-dir", str(state)
        )
        assert_sentence(migrated)
        outcomes[migrated.exit_code] = outcomes.get(migrated.exit_code, 0) + 1
        leftovers = sorted(p.name for p in jobs.parent.iterdir() if p.name != "jobs.json")
        if migrated.exit_code == 0 and jobs.read_bytes() != data:
            assert "activeJobIds" in json.loads(jobs.read_bytes()), name
            assert len(leftovers) == 1 and leftovers[0].endswith(".bak"), (name, leftovers)
        else:
            assert jobs.read_bytes() == data, name  # refused: not one byte changed
            assert leftovers == [], (name, leftovers)
    print(f"\n{len(json_cases)} hostile JSON stores: migrate exit codes {outcomes}")
    assert outcomes.get(2, 0) > 0  # the corpus does hold invalid stores


def sqlite_corpus(tmp_path: Path, n_corrupt: int) -> list[tuple[str, Path]]:
    """State dirs whose database is hostile in one way each."""
    rng = random.Random(SEED)
    cases = []

    def fresh(name: str) -> Path:
        state = make_state(tmp_path / name.replace(" ", "-"))
        return state

    for levels in (65, 5000, 100_000):
        for column in ("job_json", "state_json"):
            state = fresh(f"{column} {levels}")
            with closing(sqlite3.connect(state / "state" / "openclaw.sqlite")) as db, db:
                db.execute(f"UPDATE cron_jobs SET {column} = ?", (nested(levels),))
            cases.append((f"{column} nested {levels}", state))
        state = fresh(f"row {levels}")
        with closing(sqlite3.connect(state / "state" / "openclaw.sqlite")) as db, db:
            db.execute(
                "INSERT INTO plugin_state_entries VALUES (?, ?, ?, ?, 0, NULL)",
                (
                    "openclaw-patcher",
                    "cron-active-jobs",
                    str(state / "cron" / "jobs.json"),
                    '{"version": 1, "activeJobIds": ' + nested(levels) + "}",
                ),
            )
        cases.append((f"activeJobIds row nested {levels}", state))
    for value in ("42", "null", '"text"', '{"version": 1, "activeJobIds": [1, {}]}'):
        state = fresh(f"row value {value[:8]}")
        with closing(sqlite3.connect(state / "state" / "openclaw.sqlite")) as db, db:
            db.execute(
                "INSERT INTO plugin_state_entries VALUES (?, ?, ?, ?, 0, NULL)",
                ("openclaw-patcher", "cron-active-jobs", str(state / "cron" / "jobs.json"), value),
            )
        cases.append((f"activeJobIds row {value}", state))
    odd_tables = (
        "CREATE TABLE plugin_state_entries (plugin_id TEXT, value_json TEXT)",
        "CREATE TABLE plugin_state_entries (plugin_id INTEGER, namespace BLOB, entry_key, "
        "value_json BLOB, created_at TEXT, expires_at TEXT)",
        "CREATE VIEW plugin_state_entries AS SELECT 1 AS plugin_id",
    )
    for n, ddl in enumerate(odd_tables):
        schema = (
            "CREATE TABLE cron_jobs (store_key TEXT NOT NULL, job_id TEXT NOT NULL, job_json "
            "TEXT, state_json TEXT, running_at_ms INTEGER, sort_order INTEGER);" + ddl + ";"
        )
        cases.append((f"plugin table {n}", make_state(tmp_path / f"odd-{n}", schema=schema)))
    for i in range(n_corrupt):
        state = fresh(f"corrupt {i}")
        db_path = state / "state" / "openclaw.sqlite"
        with closing(sqlite3.connect(db_path)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("PRAGMA journal_mode=DELETE")
        data = bytearray(db_path.read_bytes())
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(100, len(data))  # past the header: pages, not the magic
            span = rng.randint(1, 64)
            data[at : at + span] = bytes(rng.randrange(256) for _ in range(span))
        db_path.write_bytes(bytes(data))
        cases.append((f"corrupt pages {i}", state))
    empty = fresh("empty")
    (empty / "state" / "openclaw.sqlite").write_bytes(b"")
    cases.append(("0-byte database", empty))
    noise = fresh("noise")
    (noise / "state" / "openclaw.sqlite").write_bytes(os.urandom(8192))
    cases.append(("random bytes", noise))
    return cases


def test_hostile_sqlite_stores(tmp_path, request):
    cases = sqlite_corpus(tmp_path, count(request.config, 20, 400))
    outcomes: dict[str, int] = {}
    for name, state in cases:
        db_path = state / "state" / "openclaw.sqlite"
        # WAL folded in, so the file's bytes say what the database holds.
        with (
            contextlib.suppress(sqlite3.Error, UnicodeDecodeError),
            closing(sqlite3.connect(db_path)) as db,
        ):
            db.execute("PRAGMA journal_mode=DELETE")
        before = db_path.read_bytes()
        validated = cli("store", "validate", "--state-dir", str(state))
        assert_sentence(validated)
        migrated = cli(
            "--cache-dir", str(tmp_path / "cache"), "store", "migrate", "--state-dir", str(state)
        )
        assert_sentence(migrated)
        key = f"validate {validated.exit_code} / migrate {migrated.exit_code}"
        outcomes[key] = outcomes.get(key, 0) + 1
        if migrated.exit_code == 0 and "migrated:" in migrated.output:
            with closing(sqlite3.connect(db_path)) as db:  # only a sound database was written
                assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)], name
            assert validated.exit_code == 0, (name, validated.output)
        elif migrated.exit_code != 0:
            assert db_path.read_bytes() == before, name
        if name == "0-byte database":
            assert validated.exit_code == 2 and "is empty (0 bytes)" in validated.output
    print(f"\n{len(cases)} hostile SQLite stores: {outcomes}")


def run(cache: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        own_command("--cache-dir", str(cache), *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "sparse-huge"])
def test_hostile_dists_neither_hang_nor_exhaust_memory(tmp_path, kind):
    root = tmp_path / "install"
    shutil.copytree(BUNDLES / "2026.4.14-inline-json", root)
    odd = root / "dist" / "odd-chunk.js"
    if kind == "fifo":
        os.mkfifo(odd)
    elif kind == "dev-zero":
        odd.symlink_to("/dev/zero")
    else:
        with odd.open("wb") as fh:
            fh.truncate(300 * 1024 * 1024)  # sparse: no disk, but bigger than any bundle
    cache = tmp_path / "cache"
    detect = run(cache, "detect", "--root", str(root), "--json", timeout=60)
    assert detect.returncode == 0, detect.stderr
    assert json.loads(detect.stdout)["installs"][0]["status"] == "affected"
    for args in (("status", "--root", str(root)), ("apply", "--root", str(root), "--dry-run")):
        done = run(cache, *args, timeout=60)
        assert done.returncode in (0, 1), done.stderr
        assert "unexpected error" not in done.stderr


def test_a_fifo_as_the_store_is_one_sentence(tmp_path):
    state = tmp_path / "state"
    (state / "cron").mkdir(parents=True)
    os.mkfifo(state / "cron" / "jobs.json")
    done = run(tmp_path / "cache", "store", "validate", "--state-dir", str(state), timeout=60)
    assert done.returncode == 2 and "is not a regular file" in done.stdout + done.stderr

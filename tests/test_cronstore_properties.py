"""Property tests over generated stores, valid and corrupted (hypothesis).

No traceback ever; invalid input untouched; valid input round-trips with only
`activeJobIds` added. CI runs the `ci` profile (a few hundred examples in all);
`pytest -m fuzz --hypothesis-profile=fuzz` runs 10,000 per property.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patcher.cronstore.location import StoreLocation
from patcher.cronstore.store import check_file, inspect_store, migrate_store
from patcher.errors import PatcherError

pytestmark = pytest.mark.fuzz

ids = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12
).filter(lambda s: s.strip())
epoch = st.integers(min_value=0, max_value=2**53)
json_leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
schedules = st.one_of(
    st.fixed_dictionaries({"kind": st.just("at"), "at": st.just("2026-04-14T09:00:00.000Z")}),
    st.fixed_dictionaries(
        {"kind": st.just("every"), "everyMs": st.integers(1, 10**9)}, optional={"anchorMs": epoch}
    ),
    st.fixed_dictionaries(
        {"kind": st.just("cron"), "expr": st.sampled_from(["0 7 * * *", "*/5 * * * *"])},
        optional={"tz": st.sampled_from(["UTC", "Europe/Berlin"])},
    ),
)
payloads = st.one_of(
    st.fixed_dictionaries({"kind": st.just("systemEvent"), "text": st.text(max_size=20)}),
    st.fixed_dictionaries(
        {"kind": st.just("agentTurn"), "message": st.text(max_size=20)},
        optional={"model": st.text(max_size=8), "timeoutSeconds": st.integers(0, 3600)},
    ),
)
states = st.fixed_dictionaries(
    {},
    optional={
        "nextRunAtMs": epoch,
        "runningAtMs": epoch,
        "lastRunStatus": st.sampled_from(["ok", "error", "skipped"]),
        "consecutiveErrors": st.integers(0, 10),
    },
)
extra_fields = st.dictionaries(
    st.sampled_from(["futureA", "futureB", "x-notes"]), json_value, max_size=2
)


@st.composite
def jobs(draw, inline_state: bool):
    job_ids = draw(st.lists(ids, max_size=6, unique=True))
    out = []
    for job_id in job_ids:
        job = {
            "id": job_id,
            "name": draw(st.text(max_size=10)),
            "enabled": draw(st.booleans()),
            "createdAtMs": draw(epoch),
            "schedule": draw(schedules),
            "sessionTarget": draw(st.sampled_from(["main", "isolated", "session:abc"])),
            "wakeMode": draw(st.sampled_from(["now", "next-heartbeat"])),
            "payload": draw(payloads),
            "state": draw(states) if inline_state else {},
            **draw(extra_fields),
        }
        out.append(job)
    return out


@st.composite
def stores(draw):
    """(files by name, expected activeJobIds) of an inline or a split store."""
    if draw(st.booleans()):
        job_list = draw(jobs(inline_state=True))
        running = [j["id"] for j in job_list if "runningAtMs" in j["state"]]
        return {"jobs.json": {"version": 1, "jobs": job_list, **draw(extra_fields)}}, running
    job_list = draw(jobs(inline_state=False))
    entries = {j["id"]: {"updatedAtMs": draw(epoch), "state": draw(states)} for j in job_list}
    running = [j["id"] for j in job_list if "runningAtMs" in entries[j["id"]]["state"]]
    files = {
        "jobs.json": {"version": 1, "jobs": job_list},
        "jobs-state.json": {"version": 1, "jobs": entries},
    }
    return files, running


def write_store(
    root: Path, files: dict[str, object], raw: dict[str, bytes] | None = None
) -> StoreLocation:
    cron = root / "cron"
    cron.mkdir()
    for name, value in files.items():
        data = (raw or {}).get(name) or json.dumps(value, indent=2, ensure_ascii=False).encode()
        (cron / name).write_bytes(data)
        (cron / name).chmod(0o600)
    return StoreLocation(root, cron / "jobs.json", None, "test")


@given(stores())
def test_valid_stores_round_trip_with_only_active_job_ids_added(store):
    files, running = store
    with tempfile.TemporaryDirectory() as tmp:
        location = write_store(Path(tmp), files)
        assert inspect_store(location).valid
        result = migrate_store(location)
        assert result.outcome == "migrated"
        assert result.active_job_ids == running
        target = "jobs-state.json" if "jobs-state.json" in files else "jobs.json"
        for name, value in files.items():
            now = json.loads((location.jobs_path.parent / name).read_text())
            expected = {**value, "activeJobIds": running} if name == target else value
            assert now == expected
        again = migrate_store(location)
        assert again.outcome == "already-migrated"


corruptions = st.sampled_from(
    [
        "truncate",
        "flip-byte",
        "drop-key",
        "wrong-type",
        "bad-version",
        "dup-active",
        "nan",
        "garbage",
    ]
)


def corrupt(files: dict, how: str, data: st.DataObject) -> tuple[dict, dict[str, bytes]]:
    """A corrupted copy of the store: parsed values changed, or raw bytes to write instead."""
    files = json.loads(json.dumps(files))
    name = data.draw(st.sampled_from(sorted(files)))
    text = json.dumps(files[name], indent=2).encode()
    raw: dict[str, bytes] = {}
    if how == "truncate":
        raw[name] = text[: data.draw(st.integers(0, max(0, len(text) - 1)))] or b"{"
    elif how == "flip-byte":
        i = data.draw(st.integers(0, len(text) - 1))
        raw[name] = text[:i] + bytes([text[i] ^ data.draw(st.integers(1, 255))]) + text[i + 1 :]
    elif how == "garbage":
        raw[name] = data.draw(st.binary(min_size=1, max_size=64))
    elif how == "drop-key":
        files[name].pop(data.draw(st.sampled_from(sorted(files[name]))))
    elif how == "wrong-type":
        files[name]["jobs"] = data.draw(st.sampled_from([None, "jobs", 3, True]))
    elif how == "bad-version":
        files[name]["version"] = data.draw(st.sampled_from([0, 2, "1", None]))
    elif how == "dup-active":
        files[name]["activeJobIds"] = ["a", "a"]
    elif how == "nan":
        raw[name] = text.replace(b'"version": 1', b'"version": 1, "n": NaN', 1)
    return files, raw


@given(stores(), corruptions, st.data())
def test_corrupted_stores_never_crash_and_are_left_untouched(store, how, data):
    files, _ = store
    bad, raw = corrupt(files, how, data)
    with tempfile.TemporaryDirectory() as tmp:
        location = write_store(Path(tmp), bad, raw)
        cron = location.jobs_path.parent
        before = {p.name: p.read_bytes() for p in cron.iterdir()}
        report = inspect_store(location)  # never raises
        try:
            result = migrate_store(location)
        except PatcherError:
            assert not report.valid
            assert {p.name: p.read_bytes() for p in cron.iterdir()} == before
            return
        # Still valid after the corruption (e.g. a byte flip inside a string): a clean migration.
        assert report.valid
        assert result.outcome in ("migrated", "already-migrated")


@given(st.binary(max_size=256))
def test_arbitrary_bytes_never_crash_check_file(blob):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "jobs.json"
        path.write_bytes(blob)
        checked = check_file(path)
        assert checked.valid or checked.error or checked.version_error or checked.problems
        assert path.read_bytes() == blob

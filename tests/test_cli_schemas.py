"""Every `--json` envelope has its JSON Schema (draft 2020-12) in schemas/, what the CLI
really prints on the fixtures validates against it, and a broken envelope does not.
(tests/conftest.py checks every `--json` output of every other test the same way.)"""

from __future__ import annotations

import copy
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from conftest import BUNDLES, REPO
from jsonschema import Draft202012Validator
from test_cronstore_sqlite import make_state
from test_tasks_repair import TASK_RUNS, add_task
from test_verification_verify import A, b_report, rec

from patcher.cli import main
from patcher.files.validation import envelope_problems
from patcher.matrix import reports
from patcher.matrix import run as m
from patcher.simulation.scenarios import SCENARIOS, ScenarioResult, SideResult, evaluate
from patcher.simulation.substitutes import Substitutions

SCHEMAS = REPO / "schemas"
ALL_SCHEMAS = sorted(p.name for p in SCHEMAS.glob("*.schema.json"))


def _load(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


# An envelope's schema is the file whose `$id` is the envelope's `schema` id.
ENVELOPES = {
    s["$id"].split("/")[1]: s
    for s in map(_load, ALL_SCHEMAS)
    if s["$id"].startswith("openclaw-patcher/")
}
NAMES = sorted(ENVELOPES)


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_every_schema_is_a_valid_draft_2020_12_schema(name):
    schema = _load(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_envelope_schema_is_named_and_versioned_by_its_file():
    assert NAMES == [
        "apply", "detect", "matrix", "rollback", "status", "store-migrate", "store-validate",
        "tasks-repair", "verify",
    ]  # fmt: skip
    for name, schema in ENVELOPES.items():
        assert schema["$id"] == f"openclaw-patcher/{name}/1"
        assert (SCHEMAS / f"{name}.schema.json").is_file()


def test_a_matrix_row_s_verify_report_is_verify_s_own_schema():
    """The matrix schema carries the verify report's definitions (a schema file stands
    alone for check-jsonschema): they must stay the verify schema's, word for word."""
    verify, matrix = ENVELOPES["verify"]["$defs"], ENVELOPES["matrix"]["$defs"]
    assert {k: matrix[k] for k in verify} == verify
    apply, rollback = ENVELOPES["apply"]["$defs"], ENVELOPES["rollback"]["$defs"]
    for shared in ("restart", "restart-step"):
        assert apply[shared] == rollback[shared]


def _tasks_state(folder: Path) -> Path:
    """A task registry with one lost record the run log explains and one it does not."""
    state = folder / "tasks-state"
    (state / "tasks").mkdir(parents=True)
    (state / "cron" / "runs").mkdir(parents=True)
    db = sqlite3.connect(state / "tasks" / "runs.sqlite")
    db.execute(TASK_RUNS)
    add_task(db, "t-ok", "a", 1000)
    add_task(db, "t-none", "e", 5000)
    db.commit()
    db.close()
    entry = {"action": "finished", "status": "error", "error": "model refused"}
    (state / "cron" / "runs" / "a.jsonl").write_text(
        json.dumps({**entry, "jobId": "a", "runAtMs": 1000, "durationMs": 50}) + "\n"
    )
    (state / "cron" / "jobs.json").write_text(json.dumps({"version": 1, "jobs": []}))
    return state


def _stub_simulation(mp: pytest.MonkeyPatch) -> None:
    """verify on a synthetic bundle (which cannot run the simulation): the scenarios judged
    from observations of the bug (pristine) and of a repaired restart (patched); the
    patched copy is really repaired by apply. As tests/test_verification_verify.py does."""
    import patcher.verification.verify as v

    bug = SideResult(
        evaluate(A, b_report([rec("cron:r:100", "lost")], [], [], []), [], []), 2.0, "v22.1.0"
    )
    holds = SideResult({n: ScenarioResult(n) for n in SCENARIOS}, 3.0, "v22.1.0")
    used = Substitutions({"@scope/pkg": ["1.0.0", "1.0.1"]}, {"gone": "2.0.0"})
    mp.setattr(v, "prepare_release", lambda *a, **k: SimpleNamespace(substitutions=used))
    mp.setattr(v, "verify_root", lambda *a, patched=False, **k: holds if patched else bug)
    mp.setattr(v, "rolled_back_identical", lambda *a: True)


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, list[dict]]:
    """Envelope name -> every envelope the CLI printed on the fixtures, each command run
    as a user runs it (apply then rollback on a copy of an affected bundle, the stores of
    each shape, a task registry, a matrix merged from a real verify report)."""
    tmp = tmp_path_factory.mktemp("envelopes")
    cache = tmp / "cache"
    root = _copy(BUNDLES / "2026.4.14-inline-json", tmp / "install")
    fixed = _copy(BUNDLES / "2026.9.6-fixed-mjs", tmp / "fixed")
    state = _copy(REPO / "fixtures" / "stores" / "inline", tmp / "state")
    split = _copy(REPO / "fixtures" / "stores" / "split", tmp / "split")
    json5 = _copy(REPO / "fixtures" / "stores" / "json5", tmp / "json5")
    sqlite_state = make_state(tmp)
    empty = tmp / "empty"
    empty.mkdir()
    tasks = _tasks_state(tmp)
    malformed = REPO / "fixtures" / "stores" / "malformed"
    rows = tmp / "rows"
    rows.mkdir()
    runs = [
        ["detect", "--root", root, "--json"],
        ["detect", "--root", fixed, "--json"],
        ["status", "--root", root, "--json"],
        ["status", "--root", fixed, "--json"],
        ["store", "validate", "--state-dir", state, "--json"],
        ["store", "validate", "--state-dir", split, "--json"],
        ["store", "validate", "--state-dir", empty, "--json"],
        ["store", "validate", "--state-dir", sqlite_state, "--json"],
        *(
            ["store", "validate", "--file", malformed / name, "--json"]
            for name in ("bad-job.json", "truncated.json", "version-2.json")
        ),
        ["store", "migrate", "--state-dir", state, "--dry-run", "--json"],
        ["store", "migrate", "--state-dir", json5, "--dry-run", "--json"],
        ["store", "migrate", "--state-dir", empty, "--json"],
        ["store", "migrate", "--state-dir", split, "--json"],
        ["store", "migrate", "--state-dir", sqlite_state, "--json"],
        ["store", "validate", "--state-dir", sqlite_state, "--json"],
        ["apply", "--root", root, "--dry-run", "--json"],
        ["apply", "--root", fixed, "--json"],
        ["apply", "--root", root, "--state-dir", state, "--skip-simulation", "--json"],
        ["apply", "--root", root, "--state-dir", state, "--skip-simulation", "--json"],
        ["status", "--root", root, "--json"],
        ["store", "migrate", "--state-dir", state, "--json"],
        ["rollback", "--root", root, "--json"],
        ["rollback", "--root", root, "--json"],
        ["verify", "--root", BUNDLES / "2026.3.1-no-sweeper", "--json"],
        ["tasks", "repair", "--state-dir", tasks, "--dry-run", "--json"],
        ["tasks", "repair", "--state-dir", tasks, "--json"],
        ["tasks", "repair", "--state-dir", tasks, "--json"],
    ]
    found: dict[str, list[dict]] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(tmp / "home"))
        for var in ("OPENCLAW_STATE_DIR", "OPENCLAW_CONFIG_PATH", "OPENCLAW_HOME"):
            mp.delenv(var, raising=False)
        mp.setattr("patcher.cache.releases.list_versions", lambda: ["2026.3.1", "2026.5.7"])

        def run(args: list) -> dict:
            result = CliRunner().invoke(main, ["--cache-dir", str(cache), *map(str, args)])
            assert result.exit_code in (0, 1, 2, 3), (args, result.output)
            envelope = json.loads(result.stdout)
            found.setdefault(envelope["schema"].split("/")[1], []).append(envelope)
            return envelope

        for args in runs:
            run(args)
        with pytest.MonkeyPatch.context() as stubbed:
            _stub_simulation(stubbed)
            run(["verify", "--root", root, "--json"])
        # A matrix merged from runners' rows (the verify reports above) and a runner that
        # left none (an error row, through --expect).
        for n, verified in enumerate(found["verify"]):
            row = m.Row(verified["version"], verified, {"verify": 1.5, "total": 1.5})
            (rows / f"row-{n}.json").write_text(reports.render_json([row]))
        expect = json.dumps(["2026.3.1", "2026.4.14", "2026.5.7"])
        run(["matrix", "--merge", rows, "--expect", expect, "--format", "json"])
    return found


def test_every_envelope_schema_has_a_real_output_from_the_fixtures(outputs):
    assert sorted(outputs) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_each_real_output_validates_against_its_schema(outputs, name):
    """By envelope_problems (jsonschema-rs decides, as for the store) and by jsonschema
    on the schema file alone; the negative controls below need both to refuse."""
    validator = Draft202012Validator(ENVELOPES[name])  # the file alone, as check-jsonschema
    for envelope in outputs[name]:
        assert envelope_problems(envelope) == [], envelope
        assert [e.message for e in validator.iter_errors(envelope)] == [], envelope


def _outcomes(outputs, name: str) -> set[str]:
    if name in ("apply", "rollback"):
        return {i["outcome"] for e in outputs[name] for i in e["installs"]}
    return {e["outcome"] for e in outputs[name]}


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("apply", ["$defs", "install", "properties", "outcome", "enum"]),
        ("rollback", ["$defs", "install", "properties", "outcome", "enum"]),
        ("store-migrate", ["properties", "outcome", "enum"]),
        ("tasks-repair", ["properties", "outcome", "enum"]),
    ],
)
def test_the_fixtures_show_every_outcome_the_schema_allows(outputs, name, where):
    """The outcome enums are the code's own sets: each one is printed by a real run."""
    allowed = ENVELOPES[name]
    for key in where:
        allowed = allowed[key]
    assert _outcomes(outputs, name) == set(allowed)


def _first(outputs, name: str) -> dict:
    return copy.deepcopy(outputs[name][0])


# (envelope, path to an object in it, the key removed): a required key, top level and nested.
MISSING = [
    ("detect", [], "installs"),
    ("detect", ["installs", 0], "patch"),
    ("status", ["installs", 0], "message"),
    ("apply", [], "installs"),
    ("apply", ["installs", 0], "recovered"),
    ("rollback", ["installs", 0], "outcome"),
    ("store-validate", [], "valid"),
    ("store-validate", ["files", 0], "problems"),
    ("store-migrate", [], "activeJobIds"),
    ("verify", [], "summary"),
    ("matrix", ["releases", 0], "ok"),
    ("tasks-repair", [], "without_evidence"),
]

# (envelope, path to a field, a value outside its enum).
WRONG = [
    ("detect", ["installs", 0, "status"], "broken"),
    ("status", ["installs", 0, "patch"], "half-applied"),
    ("apply", ["installs", 0, "outcome"], "rolled-back"),
    ("rollback", ["installs", 0, "outcome"], "applied"),
    ("store-validate", ["kind"], "yaml"),
    ("store-migrate", ["outcome"], "migrating"),
    ("verify", ["status"], "unknown"),
    ("matrix", ["releases", 0, "status"], "maybe"),
    ("tasks-repair", ["outcome"], "restored"),
]


def _at(value, path):
    for key in path:
        value = value[key]
    return value


@pytest.mark.parametrize(("name", "path", "key"), MISSING)
def test_a_real_output_without_a_required_key_fails(outputs, name, path, key):
    envelope = _first(outputs, name)
    del _at(envelope, path)[key]
    found = envelope_problems(envelope)
    assert found and any(repr(key) in p for p in found), found


@pytest.mark.parametrize(("name", "path", "value"), WRONG)
def test_a_real_output_with_a_value_outside_its_enum_fails(outputs, name, path, value):
    envelope = _first(outputs, name)
    _at(envelope, path[:-1])[path[-1]] = value
    found = envelope_problems(envelope)
    pointer = "".join(f"/{p}" for p in path)
    assert found and any(p.startswith(pointer + ":") for p in found), found


def test_a_verify_side_that_breaks_its_shape_fails(outputs):
    """The sides of a verify report with both (the stubbed simulation's, tests above)."""
    [report] = [r for r in outputs["verify"] if r["patched"] is not None]
    assert envelope_problems(report) == []
    kinds = copy.deepcopy(report)
    kinds["pristine"]["scenarios"]["in_flight_recurring"]["failure_kinds"][0] = "gone"
    assert envelope_problems(kinds)[0].startswith(
        "/pristine/scenarios/in_flight_recurring/failure_kinds/0:"
    )
    claimed = copy.deepcopy(report)
    claimed["patched"]["bug_reproduced"] = False  # only the pristine side says it
    assert envelope_problems(claimed) == [
        "/patched: Additional properties are not allowed ('bug_reproduced' was unexpected)"
    ]


def test_check_jsonschema_validates_an_output_as_docs_json_output_says(outputs, tmp_path):
    tool = Path(sys.executable).with_name("check-jsonschema")
    if not tool.is_file():
        pytest.skip("check-jsonschema is not installed (the test extra has it)")
    applied = next(e for e in outputs["apply"] if e["installs"][0]["outcome"] == "applied")
    wrong = copy.deepcopy(applied)
    wrong["installs"][0]["store"]["outcome"] = "would-migrate"  # apply never dry-runs it
    for envelope, code in ((applied, 0), (wrong, 1)):
        out = tmp_path / "out.json"
        out.write_text(json.dumps(envelope))
        done = subprocess.run(
            [str(tool), "--schemafile", str(SCHEMAS / "apply.schema.json"), str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == code, done.stdout + done.stderr


def test_an_unknown_schema_id_is_one_problem(outputs):
    for envelope in ({"schema": "openclaw-patcher/status/2"}, {"installs": []}, [1]):
        assert len(envelope_problems(envelope)) == 1
    unknown = {**_first(outputs, "status"), "schema": "openclaw-patcher/nothing/1"}
    assert envelope_problems(unknown) == [
        "/schema: 'openclaw-patcher/nothing/1' is the id of no envelope schema in schemas/"
    ]


def test_the_contract_check_of_every_cli_run_can_fail(monkeypatch, tmp_path):
    """The conftest check around CliRunner.invoke fails a test whose command prints an
    envelope its schema refuses, and leaves a failure's sentence (not JSON) alone."""
    from patcher.repair.reports import StatusRow

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    shown = StatusRow.to_json
    monkeypatch.setattr(StatusRow, "to_json", lambda self: {**shown(self), "patch": "half"})
    args = ["--cache-dir", str(tmp_path), "status", "--root", str(BUNDLES / "2026.9.6-fixed-mjs")]
    with pytest.raises(AssertionError, match="/installs/0/patch"):
        CliRunner().invoke(main, [*args, "--json"])
    refused = CliRunner().invoke(main, ["status", "--root", str(tmp_path / "none"), "--json"])
    assert refused.exit_code != 0 and refused.stdout == ""

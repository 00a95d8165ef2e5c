"""`matrix`: version selection, the report formats, the exit code, on synthetic rows."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
import xmlschema
from click.testing import CliRunner

from patcher.cli import main
from patcher.errors import UsageError
from patcher.matrix import reports
from patcher.matrix import run as m

LISTED = ["2026.4.2", "2026.4.14", "2026.5.7", "2026.7.1-1", "2026.8.1", "2026.9.0-beta.1"]


def test_select_by_specifier_all_new_and_betas():
    assert m.select(">=2026.4.5,<2026.8", LISTED) == ["2026.4.14", "2026.5.7", "2026.7.1-1"]
    assert m.select("all", LISTED) == LISTED[:5]
    assert m.select("all", LISTED, betas=True) == LISTED
    assert m.select(">2026.8.1", LISTED) == []
    assert m.select(">2026.8.1", LISTED, betas=True) == ["2026.9.0-beta.1"]
    assert m.select("new", LISTED, seen=LISTED[:3]) == ["2026.7.1-1", "2026.8.1"]
    assert m.select("new", reversed(LISTED), seen=[]) == LISTED[:5]  # oldest first


def test_a_bad_selection_is_one_sentence():
    with pytest.raises(UsageError, match="is not `all`, `new` or a version specifier"):
        m.select("2026.4", LISTED)


def test_the_last_run_is_recorded_for_new(tmp_path):
    assert m.last_seen(tmp_path) == []
    m.record_run(tmp_path, LISTED[:2])
    assert m.last_seen(tmp_path) == LISTED[:2]
    (tmp_path / m.LAST_RUN).write_text("{not json")
    assert m.last_seen(tmp_path) == []


def report(version, status, bug, patched_ok, summary="s", rolled=None):
    return {
        "schema": "openclaw-patcher/verify/1",
        "version": version,
        "status": status,
        "family": "f",
        "pristine": {"ok": not bug, "bug_reproduced": bug, "scenarios": {}},
        "patched": None if patched_ok is None else {"ok": patched_ok, "scenarios": {}},
        "rollback_identical": rolled,
        "summary": summary,
    }


ROWS = [
    m.Row("2026.4.14", report("2026.4.14", "affected", True, True, rolled=True), {"total": 31.0}),
    m.Row("2026.5.7", report("2026.5.7", "affected", True, False, "fails", True), {"total": 9.0}),
    m.Row("2026.8.1", report("2026.8.1", "fixed-upstream", False, None), {"total": 12.0}),
    m.Row("2026.7.1", None, {"total": 2.0}, error="the harness <failed> & stopped"),
]


def test_rows_judge_what_each_release_needs():
    assert [r.ok for r in ROWS] == [True, False, True, False]
    assert not m.Row("x", report("x", "affected", True, True, rolled=False)).ok  # rollback differs
    assert not m.Row("x", report("x", "affected", True, True)).ok  # rollback never checked
    assert not m.Row("x", report("x", "affected", False, None)).ok  # negative control failed
    assert not m.Row("x", report("x", "not-affected", True, None)).ok


def test_json_rows_carry_the_verify_fields_and_status():
    rows = json.loads(reports.render_json(ROWS))["releases"]
    first = rows[0]
    assert first["version"] == "2026.4.14" and first["status"] == "affected"
    assert first["pristine"]["bug_reproduced"] is True and first["patched"]["ok"] is True
    assert first["rollback_identical"] is True and first["ok"] is True
    assert rows[3]["status"] == "error" and "harness" in rows[3]["error"]


def test_markdown_is_a_table_with_a_row_per_release():
    lines = reports.render_markdown(ROWS).splitlines()
    assert lines[0].startswith("| version | status |") and set(lines[1]) <= {"|", "-"}
    assert len(lines) == 2 + len(ROWS)
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    assert "| 2026.4.14 | affected | yes | ok | identical | ok |" in lines[2]


JUNIT_XSD = Path(__file__).parent / "data" / "junit.xsd"


def test_junit_is_valid_junit_xml():
    xml = reports.render_junit(ROWS)
    xmlschema.XMLSchema(JUNIT_XSD).validate(xml)  # raises on any violation of the format
    root = ElementTree.fromstring(xml.encode())  # well-formed, special characters escaped
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("tests") == "4" and suite.get("failures") == "1" and suite.get("errors") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [r.version for r in ROWS]
    for case in cases:  # the JUnit schema: name, classname, time; at most one failure/error
        assert case.get("classname") and float(case.get("time")) >= 0
        assert len(case.findall("failure")) + len(case.findall("error")) <= 1
    assert cases[1].find("failure").get("message") == "fails"
    assert "<failed> & stopped" in cases[3].find("error").get("message")
    assert float(suite.get("time")) == pytest.approx(54.0)


def test_junit_schema_rejects_what_ci_readers_reject():
    """The schema check can fail: a test case with two failures, or without its name."""
    schema = xmlschema.XMLSchema(JUNIT_XSD)
    xml = reports.render_junit(ROWS)
    twice = xml.replace("</failure>", "</failure><failure message='again'/>", 1)
    nameless = xml.replace('name="2026.4.14"', "", 1)
    assert schema.is_valid(xml)
    assert not schema.is_valid(twice) and not schema.is_valid(nameless)


def test_run_matrix_runs_in_parallel_and_keeps_version_order(tmp_path):
    running, peak, lock = 0, 0, threading.Lock()

    def runner(version, cache):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.2)
        with lock:
            running -= 1
        return m.Row(version, report(version, "fixed-upstream", False, None))

    seen = []
    rows = m.run_matrix(["a", "b", "c", "d"], tmp_path, 2, seen.append, runner)
    assert [r.version for r in rows] == ["a", "b", "c", "d"]
    assert peak == 2 and sorted(r.version for r in seen) == ["a", "b", "c", "d"]


def test_tarballs_are_fetched_in_batches_a_few_releases_ahead(tmp_path, monkeypatch):
    from patcher.matrix import prefetch

    batches, fetched = [], threading.Semaphore(0)

    def fetch(versions, cache):
        batches.append(list(versions))
        fetched.release()
        return list(versions)

    monkeypatch.setattr(prefetch, "prefetch_tarballs", fetch)
    versions = [f"2026.4.{n}" for n in range(20)]
    with prefetch.Prefetcher(versions, tmp_path, jobs=2, batch=3) as ahead:
        for _ in range(2):  # the first two verifies' releases, then up to 2 + 3 beyond them
            assert fetched.acquire(timeout=60)
        for _ in range(4):
            ahead.started()
        for _ in range(2):  # four started: up to 9 fetched, in batches of 3
            assert fetched.acquire(timeout=60)
    assert batches == [versions[0:2], versions[2:5], versions[5:8], versions[8:11]]


def _stand_in(monkeypatch, runner) -> list[list[str]]:
    """Stand `runner` in for each release's verify, and for fetching ahead a recorder that
    fetches nothing (the stand-in verifies need no tarball). Returns what was asked."""
    from patcher.matrix import prefetch

    asked: list[list[str]] = []
    monkeypatch.setattr(prefetch, "prefetch_tarballs", lambda vs, cache: asked.append(vs) or [])
    monkeypatch.setattr(m, "run_release", runner)
    return asked


def test_a_matrix_fetches_its_releases_ahead_of_their_verifies(tmp_path, monkeypatch):
    versions = [f"2026.4.{n}" for n in range(1, 13)]
    fetched = threading.Condition()

    def verify(version, cache):  # as a real verify needs its tarball: wait for its fetch
        with fetched:
            assert fetched.wait_for(lambda: any(version in b for b in asked), timeout=60)
        return m.Row(version)

    asked = _stand_in(monkeypatch, verify)
    from patcher.matrix import prefetch

    def record(vs, cache):
        with fetched:
            asked.append(vs)
            fetched.notify_all()
        return []

    monkeypatch.setattr(prefetch, "prefetch_tarballs", record)
    rows = m.run_within(versions, tmp_path, 1, lambda row: None, None)
    assert [r.version for r in rows] == versions
    # The first verify's release alone, then eight to a pack, every release once, in order.
    assert asked == [versions[:1], versions[1:9], versions[9:]]


def test_cli_list_json_and_exit_codes(tmp_path, monkeypatch):
    monkeypatch.setattr("patcher.cache.releases.list_versions", lambda: LISTED)
    cache = str(tmp_path / "cache")
    cli = CliRunner()
    listed = cli.invoke(
        main, ["--cache-dir", cache, "matrix", "--versions", ">=2026.5", "--list-json"]
    )
    assert listed.exit_code == 0 and json.loads(listed.output) == [
        "2026.5.7",
        "2026.7.1-1",
        "2026.8.1",
    ]

    rows = {v: m.Row(v, report(v, "affected", True, True, rolled=True)) for v in LISTED}
    rows["2026.5.7"] = m.Row("2026.5.7", report("2026.5.7", "affected", True, False))
    _stand_in(monkeypatch, lambda version, cache: rows[version])
    out = tmp_path / "report.xml"
    args = ["--cache-dir", cache, "matrix", "--versions", "<2026.5", "--format", "junit"]
    passed = cli.invoke(main, [*args, "--output", str(out)])
    assert passed.exit_code == 0, passed.output
    assert ElementTree.parse(out).getroot().tag == "testsuites"
    assert "[1/2] 2026.4.2 affected ok" in passed.stderr  # plain lines off a terminal
    failed = cli.invoke(
        main, ["--cache-dir", cache, "matrix", "--versions", "<2026.6", "--jobs", "1"]
    )
    assert failed.exit_code == 1
    assert "2 of 3 releases as required; failed: 2026.5.7" in failed.stdout
    new = cli.invoke(main, ["--cache-dir", cache, "matrix", "--versions", "new"])
    assert new.exit_code == 0 and "nothing to verify" in new.stderr


def test_merge_reports_the_rows_of_per_runner_reports(tmp_path, monkeypatch):
    monkeypatch.setattr("patcher.cache.releases.list_versions", lambda: LISTED)
    cache = str(tmp_path / "cache")
    folder = tmp_path / "rows"
    folder.mkdir()
    for row in ROWS:  # one JSON report per CI runner
        (folder / f"row-{row.version}.json").write_text(reports.render_json([row]))
    merged = m.merge(folder)
    assert [r.version for r in merged] == ["2026.4.14", "2026.5.7", "2026.7.1", "2026.8.1"]
    assert [r.ok for r in merged] == [True, False, False, True]
    assert merged[0].rollback_identical is True and merged[0].bug_reproduced is True
    args = ["--cache-dir", cache, "matrix", "--merge", str(folder)]
    result = CliRunner().invoke(main, [*args, "--format", "markdown"])
    assert result.exit_code == 1 and "| 2026.5.7 | affected | yes | FAILED |" in result.output
    assert m.last_seen(tmp_path / "cache") == LISTED  # `new` starts after this run
    (folder / "stray.json").write_text("{}")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "is not a matrix JSON report" in result.output


def _cli_matrix(tmp_path, monkeypatch, rows: dict[str, m.Row], *args: str):
    monkeypatch.setattr("patcher.cache.releases.list_versions", lambda: LISTED)
    _stand_in(monkeypatch, lambda version, cache: rows[version])
    return CliRunner().invoke(main, ["--cache-dir", str(tmp_path / "cache"), "matrix", *args])


def test_a_matrix_whose_rows_could_not_be_verified_fails(tmp_path, monkeypatch):
    """An error row (a harness crash, a timeout, an npm failure) verified nothing: the
    matrix exits 1 and says so, in text, JSON and JUnit."""
    crashed = {"2026.5.7": m.Row("2026.5.7", None, error="exit 7")}
    only = _cli_matrix(tmp_path, monkeypatch, crashed, "--versions", "==2026.5.7")
    assert only.exit_code == 1, only.output
    assert "0 of 1 releases as required; not verified: 2026.5.7" in only.stdout
    assert "NOT VERIFIED: exit 7" in only.stdout and "NOT VERIFIED" in only.stderr
    as_json = _cli_matrix(
        tmp_path, monkeypatch, crashed, "--versions", "==2026.5.7", "--format", "json"
    )
    assert as_json.exit_code == 1
    (row,) = json.loads(as_json.stdout)["releases"]
    assert row["ok"] is False and row["status"] == "error" and row["error"] == "exit 7"
    junit = _cli_matrix(
        tmp_path, monkeypatch, crashed, "--versions", "==2026.5.7", "--format", "junit"
    )
    case = ElementTree.fromstring(junit.stdout.encode()).find("testsuite/testcase")
    assert junit.exit_code == 1 and case.find("error").get("message") == "exit 7"
    # Among good rows, one error row still fails the whole matrix.
    mixed = {
        "2026.4.14": m.Row("2026.4.14", report("2026.4.14", "affected", True, True, rolled=True)),
        "2026.5.7": m.Row("2026.5.7", None, error="npm install failed"),
    }
    result = _cli_matrix(tmp_path, monkeypatch, mixed, "--versions", ">=2026.4.5,<2026.6")
    assert result.exit_code == 1 and "1 of 2 releases as required" in result.stdout


def test_a_release_judged_fixed_that_shows_the_bug_fails_the_matrix(tmp_path, monkeypatch):
    rows = {"2026.8.1": m.Row("2026.8.1", report("2026.8.1", "fixed-upstream", True, None))}
    result = _cli_matrix(tmp_path, monkeypatch, rows, "--versions", "==2026.8.1")
    assert result.exit_code == 1 and "failed: 2026.8.1" in result.stdout
    assert "the bug shows on a release judged fixed-upstream" in result.stderr


def test_an_explicit_selection_that_matches_nothing_is_exit_2(tmp_path, monkeypatch):
    for args in (["--versions", ">=2099"], ["--versions", ">=2099", "--list-json"]):
        result = _cli_matrix(tmp_path, monkeypatch, {}, *args)
        assert result.exit_code == 2, result.output
        assert "no published release matches --versions '>=2099'" in result.stderr
        assert "add --betas" in result.stderr and "Traceback" not in result.output
    # `new` with nothing new is not an error: it says so and exits 0.
    m.record_run(tmp_path / "cache", LISTED)
    new = _cli_matrix(tmp_path, monkeypatch, {}, "--versions", "new")
    assert new.exit_code == 0 and "nothing to verify" in new.stderr
    listed = _cli_matrix(tmp_path, monkeypatch, {}, "--versions", "new", "--list-json")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []


def test_merge_with_an_error_row_or_no_rows_fails(tmp_path, monkeypatch):
    monkeypatch.setattr("patcher.cache.releases.list_versions", lambda: LISTED)
    folder = tmp_path / "rows"
    folder.mkdir()
    args = ["--cache-dir", str(tmp_path / "cache"), "matrix", "--merge", str(folder)]
    empty = CliRunner().invoke(main, args)
    assert empty.exit_code == 2 and "holds no `matrix --format json` report" in empty.stderr
    good = m.Row("2026.4.14", report("2026.4.14", "affected", True, True, rolled=True))
    (folder / "row-a.json").write_text(reports.render_json([good]))
    assert CliRunner().invoke(main, args).exit_code == 0
    (folder / "row-b.json").write_text(
        reports.render_json([m.Row("2026.5.7", None, error="exit 7")])
    )
    merged = CliRunner().invoke(main, args)
    assert merged.exit_code == 1 and "not verified: 2026.5.7" in merged.stdout
    # A runner that left no report: with --expect its version is an error row.
    (folder / "row-b.json").unlink()
    expect = ["--expect", json.dumps(["2026.4.14", "2026.5.7"])]
    missing = CliRunner().invoke(main, [*args, *expect])
    assert missing.exit_code == 1 and "NOT VERIFIED: no report for this release" in missing.stdout
    for text in ("2026.5.7", '["2026.4.14", "foo"]'):
        bad = CliRunner().invoke(main, [*args, "--expect", text])
        assert bad.exit_code == 2 and "is not a JSON list of versions" in bad.stderr
    # A row's own `ok` is not trusted: the verdict is judged again from its report.
    forged = json.loads(
        reports.render_json(
            [m.Row("2026.5.7", report("2026.5.7", "affected", False, True, rolled=True))]
        )
    )
    forged["releases"][0]["ok"] = True
    (folder / "row-b.json").write_text(json.dumps(forged))
    assert CliRunner().invoke(main, args).exit_code == 1


def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path, monkeypatch):
    ran = []

    def runner(version, cache):
        ran.append(version)
        return m.Row(version, report(version, "affected", True, True, rolled=True))

    monkeypatch.setattr("patcher.cache.releases.list_versions", lambda: LISTED)
    _stand_in(monkeypatch, runner)
    cache = str(tmp_path / "cache")
    for target, message in (
        (tmp_path / "missing" / "r.json", "does not exist: create it"),
        (tmp_path, "is a directory"),  # click says so itself
    ):
        result = CliRunner().invoke(
            main,
            ["--cache-dir", cache, "matrix", "--versions", "==2026.4.14", "--output", str(target)],
        )
        assert result.exit_code == 2 and message in result.stderr, result.output
        assert "Traceback" not in result.output
    assert ran == []  # refused before verifying anything
    out = tmp_path / "r.json"
    out.write_text("the previous report")
    args = ["--cache-dir", cache, "matrix", "--versions", "==2026.4.14", "--format", "json"]
    result = CliRunner().invoke(main, [*args, "--output", str(out)])
    assert result.exit_code == 0 and json.loads(out.read_text())["releases"][0]["ok"] is True
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".r.json")) == []


def test_a_gateway_column_only_with_gateway_rows_and_its_verdict_counts():
    good = report("2026.4.22", "affected", True, True, rolled=True)
    plain = m.Row("2026.4.22", good, {"total": 30.0})
    assert plain.gateway_ok is None and "real gateway" not in reports.render_text([plain])
    held = m.Row("2026.4.22", good, {"total": 600.0}, gateway=good)
    failed = m.Row(
        "2026.7.1", good, {"total": 600.0}, gateway=report("2026.7.1", "affected", False, None)
    )
    broken = m.Row("2026.4.14", good, {"total": 60.0}, gateway_error="the gateway exited")
    assert held.ok and not failed.ok and not broken.ok
    assert "on the real gateway" in failed.verdict.reason
    assert "could not be checked: the gateway exited" in broken.verdict.reason
    text = reports.render_text([held, failed])
    assert "real gateway" in text and "as required" in text and "NOT as required" in text
    again = m.row_from_json(json.loads(json.dumps(failed.to_json())))
    assert again.gateway == failed.gateway and not again.ok
    assert m.exit_code([held]) == 0 and m.exit_code([held, failed]) == 1

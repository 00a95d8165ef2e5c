"""`verify` at the command line: the restart contract on a release's own code; refusals."""

from __future__ import annotations

import pytest
from conftest import assert_fails_cleanly

FAILURES = [
    (["verify"], 2, "pass exactly one of --root DIR and --release VERSION"),
    (["verify", "--root", "{root}", "--release", "2026.4.14"], 2, "pass exactly one of"),
    (["verify", "--clock", "real", "--root", "{root}"], 2, "--clock goes with --gateway"),
    # A synthetic bundle has no openclaw.mjs: there is no gateway to start.
    (["verify", "--gateway", "--root", "{root}"], 3, "has no openclaw.mjs"),
]


@pytest.mark.parametrize(("args", "code", "words"), FAILURES)
def test_verify_fails_with_its_code_one_sentence_and_no_file_changed(cli_env, args, code, words):
    assert_fails_cleanly(cli_env, args, code, words)


def test_stage_lines_go_to_stderr_and_are_silent_under_json(cli_env, monkeypatch):
    """The stages reach stderr as they happen; --json keeps quiet unless --progress asks."""
    import json

    from click.testing import CliRunner

    import patcher.cli.verify as cli_verify
    from patcher.cli import main
    from patcher.verification.verify import VerifyReport

    def fake_verify(root, cache, *, fetched, progress):
        progress("pristine side: ...")
        progress("patched side: ...")
        report = VerifyReport(root, "2026.4.14", "affected", "affected-json")
        report.summary = "a stand-in report: the stages are what is tested"
        return report

    monkeypatch.setattr(cli_verify, "verify_install", fake_verify)

    def run(*extra):
        args = ["--cache-dir", str(cli_env["cache"]), "verify", "--root", str(cli_env["root"])]
        return CliRunner().invoke(main, [*args, *extra])

    text = run()
    assert "pristine side" in text.stderr and "pristine side" not in text.stdout
    quiet = run("--json")
    assert quiet.stderr == "" and json.loads(quiet.stdout)["schema"] == "openclaw-patcher/verify/1"
    asked = run("--json", "--progress")
    assert "] patched side" in asked.stderr and json.loads(asked.stdout)

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

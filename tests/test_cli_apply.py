"""`apply` at the command line: the repair in place; refusals."""

from __future__ import annotations

import pytest
from conftest import assert_fails_cleanly

FAILURES = [
    (["apply", "--root", "{nothing}"], 2, "is not an OpenClaw package"),
    (
        ["apply", "--root", "{root}", "--state-dir", "{nothing}/missing", "--skip-simulation"],
        2,
        "missing",
    ),
]


@pytest.mark.parametrize(("args", "code", "words"), FAILURES)
def test_apply_fails_with_its_code_one_sentence_and_no_file_changed(cli_env, args, code, words):
    assert_fails_cleanly(cli_env, args, code, words)

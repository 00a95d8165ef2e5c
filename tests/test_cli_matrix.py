"""`matrix` at the command line: many releases in one report; refusals."""

from __future__ import annotations

import pytest
from conftest import assert_fails_cleanly

FAILURES = [
    (["matrix", "--expect", "[]"], 2, "--expect goes with --merge"),
    (["matrix", "--merge", "{nothing}"], 2, "holds no `matrix --format json` report"),
    (["matrix", "--merge", "{nothing}", "--max-cache", "lots"], 2, "holds no"),
]


@pytest.mark.parametrize(("args", "code", "words"), FAILURES)
def test_matrix_fails_with_its_code_one_sentence_and_no_file_changed(cli_env, args, code, words):
    assert_fails_cleanly(cli_env, args, code, words)

"""`rollback` at the command line: restoring the release byte for byte; refusals."""

from __future__ import annotations

import pytest
from conftest import assert_fails_cleanly

FAILURES = [
    (["rollback", "--root", "{nothing}"], 2, "is not an OpenClaw package"),
]


@pytest.mark.parametrize(("args", "code", "words"), FAILURES)
def test_rollback_fails_with_its_code_one_sentence_and_no_file_changed(cli_env, args, code, words):
    assert_fails_cleanly(cli_env, args, code, words)

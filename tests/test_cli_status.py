"""`status` at the command line: the patch state of each install; refusals."""

from __future__ import annotations

import pytest
from conftest import assert_fails_cleanly

FAILURES = [
    (["status", "--root", "{nothing}"], 2, "is not an OpenClaw package"),
    (["status", "--root", "{root}/dist"], 2, "is not an OpenClaw package"),
]


@pytest.mark.parametrize(("args", "code", "words"), FAILURES)
def test_status_fails_with_its_code_one_sentence_and_no_file_changed(cli_env, args, code, words):
    assert_fails_cleanly(cli_env, args, code, words)

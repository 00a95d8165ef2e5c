"""`fetch` at the command line: a release into the cache; refusals."""

from __future__ import annotations

import pytest
from conftest import assert_fails_cleanly

FAILURES = [
    (["fetch", "../../etc"], 2, "is not an OpenClaw version number"),
]


@pytest.mark.parametrize(("args", "code", "words"), FAILURES)
def test_fetch_fails_with_its_code_one_sentence_and_no_file_changed(cli_env, args, code, words):
    assert_fails_cleanly(cli_env, args, code, words)

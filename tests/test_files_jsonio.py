"""Stores are written as OpenClaw writes them: `JSON.stringify(value, null, 2)`, checked
against Node itself on thousands of numbers and on documents with odd keys and strings."""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess

import pytest

from patcher.files.jsonio import MAX_DEPTH, dumps, js_number, nests_deeper, parse_text

NODE = shutil.which("node")


def node(script: str, data: str) -> str:
    assert NODE, "the tests need Node on PATH"
    done = subprocess.run(
        [NODE, "-e", script], input=data.encode(), capture_output=True, check=True
    )
    return done.stdout.decode()


def numbers() -> list[float | int]:
    rng = random.Random(79196)
    found: list[float | int] = [
        0.0,
        -0.0,
        1.0,
        1.5,
        100.0,
        1e20,
        1e21,
        1.5e-7,
        1e-6,
        5e-324,
        1.7976931348623157e308,
        0.1,
        1 / 3,
        2**53,
        2**53 + 1,
        2**64,
        10**25,
        -(2**60),
        123456789012345680000.0,
    ]
    while len(found) < 4000:
        f = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        if f == f and abs(f) != float("inf"):
            found.append(f)
        found.append(rng.randint(-(2**70), 2**70))
        found.append(round(rng.uniform(-1e4, 1e4), rng.randint(0, 8)))
    return found


def test_numbers_are_written_as_javascript_writes_them():
    values = numbers()
    # Each number as JSON text (Python's repr keeps every digit), read and written by Node.
    texts = [repr(v) if isinstance(v, float) else str(v) for v in values]
    script = (
        "const a = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(a.map((t) => JSON.stringify(JSON.parse(t)))));"
    )
    expected = json.loads(node(script, json.dumps(texts)))
    differ = [
        (t, js_number(v), e)
        for t, v, e in zip(texts, values, expected, strict=True)
        if js_number(v) != e
    ]
    assert differ == []


def test_documents_are_written_byte_for_byte_as_json_stringify():
    docs = [
        {"b": 1, "2": 2, "10": [], "1": [1.0, {"x": '\udc80\n\x01\u2028"\\'}], "a": {}},
        {"jobs": [{"id": "j", "state": {"runningAtMs": 1.7e12, "n": 9007199254740993}}]},
        [None, True, False, "", [[[]]], {"": {"01": 1, "4294967295": 2, "4294967294": 3}}],
    ]
    for doc in docs:
        text = json.dumps(doc, ensure_ascii=True)  # escapes survive the trip to Node
        script = (
            "const v = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
            "process.stdout.write(JSON.stringify(v, null, 2));"
        )
        assert dumps(parse_text(text)[0]) == node(script, text).encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("levels", [MAX_DEPTH, MAX_DEPTH + 1, 5000])
def test_depth_is_bounded(levels):
    text = "[" * levels + "]" * levels
    if levels <= MAX_DEPTH:
        value = parse_text(text)[0]
        assert not nests_deeper(value, levels) and nests_deeper(value, levels - 1)
    else:
        with pytest.raises(ValueError, match="nested deeper than"):
            parse_text(text)
        with pytest.raises(ValueError, match="nested deeper than"):
            parse_text(text[:-1] + ",]")  # the JSON5 path too

"""Reading JSON as OpenClaw reads it (JSON, then JSON5), and writing it as OpenClaw writes it.

OpenClaw parses its stores and config with `JSON.parse`, falling back to JSON5 for files
people edited by hand (`parseJsonWithJson5Fallback`), and writes `JSON.stringify(value,
null, 2)`. `dumps` produces the same bytes for the values a store holds, so a file OpenClaw
wrote and we rewrite differs only where we changed it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

from patcher.errors import UsageError
from patcher.files.reading import NotReadable, read_regular

# A cron store of thousands of jobs is a few MB; anything near this is not one.
STORE_LIMIT = 256 * 1024 * 1024


class InvalidDocument(UsageError):
    """A file that cannot be read or parsed as JSON or JSON5."""


@dataclass(frozen=True)
class Document:
    """A parsed file and what is needed to rewrite it safely."""

    path: Path
    raw: bytes
    value: Any
    format: str  # "json" or "json5"
    mode: int


def _reject_constant(name: str) -> Any:
    # JSON.parse rejects NaN and Infinity; only the JSON5 fallback accepts them.
    raise ValueError(f"{name} is not JSON")


# The deepest a cron store ever nests is about eight levels (jobs, a job, its payload, a
# delivery target...). Deeper documents are refused before anything walks them, so no
# check of ours can run out of recursion on a hostile file.
MAX_DEPTH = 64


class TooDeep(ValueError):
    """A document nested deeper than MAX_DEPTH."""


def parse_text(text: str) -> tuple[Any, str]:
    """Parse like `parseJsonWithJson5Fallback`: JSON first, then JSON5. Raises ValueError,
    also for a document nested deeper than MAX_DEPTH."""
    try:
        value, fmt = json.loads(text, parse_constant=_reject_constant), "json"
    except RecursionError as exc:
        raise TooDeep(f"nested deeper than {MAX_DEPTH} levels") from exc
    except ValueError as json_error:
        import pyjson5

        try:
            value, fmt = pyjson5.decode(text, maxdepth=MAX_DEPTH), "json5"
        except pyjson5.Json5NestingTooDeep as exc:
            raise TooDeep(f"nested deeper than {MAX_DEPTH} levels") from exc
        except (pyjson5.Json5Exception, ValueError, TypeError) as exc:
            raise ValueError(str(json_error)) from exc
    if nests_deeper(value, MAX_DEPTH):
        raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")
    return value, fmt


def nests_deeper(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest in `value` more than `limit` levels (a scalar is 0
    levels). Recursive, but never deeper than `limit` frames: it stops there."""
    kind = type(value)
    if kind is not dict and kind is not list:
        return limit < 0
    if limit < 1:
        return True
    for child in value.values() if kind is dict else value:
        inner = type(child)
        if (inner is dict or inner is list) and nests_deeper(child, limit - 1):
            return True
    return False


def read_document(path: Path) -> Document:
    """Read and parse `path`, or raise InvalidDocument with one sentence naming it."""
    try:
        raw = read_regular(path, STORE_LIMIT)
        mode = os.stat(path).st_mode & 0o7777
    except NotReadable as exc:
        raise InvalidDocument(str(exc)) from exc
    except OSError as exc:
        raise InvalidDocument(
            f"{path} cannot be read ({exc.strerror}): check its permissions."
        ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidDocument(
            f"{path} is not UTF-8 text (byte {exc.start}): restore it from a backup."
        ) from exc
    try:
        value, fmt = parse_text(text)
    except TooDeep as exc:
        raise InvalidDocument(
            f"{path} is {exc}, far more than any cron store: restore it from a backup."
        ) from exc
    except ValueError as exc:
        raise InvalidDocument(
            f"{path} is neither JSON nor JSON5 ({exc}): fix it by hand or restore it from a backup."
        ) from exc
    return Document(path, raw, value, fmt, mode)


def has_non_finite(value: Any) -> bool:
    """Whether a parsed value holds NaN or Infinity (JSON5, or a JSON number too large for
    a double), which JSON cannot carry. (Type tests, not isinstance: parsed values are
    plain dicts and lists, and this walks every value of a large store.)"""
    kind = type(value)
    if kind is float:
        return not math.isfinite(value)
    if kind is dict:
        value = value.values()
    elif kind is not list:
        return False
    for child in value:
        inner = type(child)
        if inner is float:
            if not math.isfinite(child):
                return True
        elif (inner is dict or inner is list) and has_non_finite(child):
            return True
    return False


def dumps(value: Any) -> bytes:
    """`JSON.stringify(value, null, 2)` as bytes (OpenClaw writes no trailing newline):
    numbers as JavaScript prints them (`1` for 1.0, `1e+21`, `1.5e-7`, an integer beyond
    2^53 as the double JavaScript reads it as), integer-like keys first as JavaScript orders
    them, a lone surrogate as its JSON escape."""
    parts: list[str] = []
    _write(value, "", parts)
    return "".join(parts).encode("utf-8", errors="backslashreplace")


def _write(value: Any, indent: str, out: list[str]) -> None:
    # Dispatch on exact types first (parsed values are plain), isinstance for the rest:
    # this runs once per value of a store that may hold a hundred thousand.
    kind = type(value)
    if kind is str:
        out.append(_string(value))
    elif kind is int or kind is float:
        out.append(js_number(value))
    elif kind is dict or isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = indent + "  "
        lead = "\n" + inner
        out.append("{")
        for n, key in enumerate(_js_key_order(value)):
            out.append(("," + lead if n else lead) + _string(str(key)) + ": ")
            _write(value[key], inner, out)
        out.append("\n" + indent + "}")
    elif kind is list or isinstance(value, list):
        if not value:
            out.append("[]")
            return
        inner = indent + "  "
        lead = "\n" + inner
        out.append("[")
        for n, item in enumerate(value):
            out.append("," + lead if n else lead)
            _write(item, inner, out)
        out.append("\n" + indent + "]")
    elif value is None:
        out.append("null")
    elif value is True or value is False:
        out.append("true" if value else "false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, (int, float)):
        out.append(js_number(value))
    else:
        raise TypeError(f"{type(value).__name__} is not a JSON value")


# JSON.stringify's string form: the C escaper of json.dumps(ensure_ascii=False), called
# directly (a lone surrogate stays as it is; dumps() escapes it on encoding).
_string = encode_basestring


def _is_array_index(key: str) -> bool:
    return (
        key.isdigit() and key.isascii() and (key == "0" or key[0] != "0") and int(key) < 2**32 - 1
    )


def _js_key_order(obj: dict) -> list:
    """JavaScript's own property order: array-index keys ascending, then the rest as given."""
    keys = list(obj)
    if not any(type(k) is not str or k[:1].isdigit() for k in keys):
        return keys  # no key can be an array index: the common case, decided cheaply
    indexes = sorted((k for k in keys if isinstance(k, str) and _is_array_index(k)), key=int)
    if not indexes:
        return keys
    rest = [k for k in keys if not (isinstance(k, str) and _is_array_index(k))]
    return indexes + rest


def js_number(number: int | float) -> str:
    """`Number.prototype.toString()` of the double a JSON number denotes (ECMA-262
    Number::toString); JSON.stringify writes a non-finite number as null."""
    if isinstance(number, int) and abs(number) <= 2**53:
        return str(number)
    try:
        x = float(number)
    except OverflowError:
        return "null"
    if not math.isfinite(x):
        return "null"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    digits_tuple, exponent = _shortest(abs(x))
    digits = "".join(map(str, digits_tuple))
    k, n = len(digits), exponent + len(digits)  # value = 0.digits × 10^n
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
        body = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + body


def _shortest(x: float) -> tuple[tuple[int, ...], int]:
    """The shortest decimal digits that read back as `x` (what repr and JavaScript both
    find), without trailing zeros, and the exponent of the last digit."""
    from decimal import Decimal

    _, digits, exponent = Decimal(repr(x)).as_tuple()
    digits = tuple(digits)
    while len(digits) > 1 and digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    return digits, int(exponent)

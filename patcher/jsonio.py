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
from pathlib import Path
from typing import Any

from patcher.errors import UsageError


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


def parse_text(text: str) -> tuple[Any, str]:
    """Parse like `parseJsonWithJson5Fallback`: JSON first, then JSON5. Raises ValueError."""
    try:
        return json.loads(text, parse_constant=_reject_constant), "json"
    except ValueError as json_error:
        import json5

        try:
            return json5.loads(text), "json5"
        except Exception as exc:  # json5 raises ValueError and others on bad input
            raise ValueError(str(json_error)) from exc


def read_document(path: Path) -> Document:
    """Read and parse `path`, or raise InvalidDocument with one sentence naming it."""
    try:
        raw = path.read_bytes()
        mode = os.stat(path).st_mode & 0o7777
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
    except ValueError as exc:
        raise InvalidDocument(
            f"{path} is neither JSON nor JSON5 ({exc}): fix it by hand or restore it from a backup."
        ) from exc
    except RecursionError as exc:
        raise InvalidDocument(
            f"{path} is nested too deeply to read: restore it from a backup."
        ) from exc
    return Document(path, raw, value, fmt, mode)


def has_non_finite(value: Any) -> bool:
    """Whether a parsed value holds NaN or Infinity (JSON5 only), which JSON cannot carry."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(has_non_finite(v) for v in value)
    return False


def dumps(value: Any) -> bytes:
    """`JSON.stringify(value, null, 2)` as bytes (OpenClaw writes no trailing newline)."""
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)
    # A lone surrogate cannot be UTF-8; written as its JSON escape, as JSON.stringify does.
    return text.encode("utf-8", errors="backslashreplace")

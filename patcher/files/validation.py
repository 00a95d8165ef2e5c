"""JSON Schema validation against `schemas/`: every problem as a JSON pointer and a sentence.

Two validators, each for what it is good at: jsonschema-rs (compiled, some 200 times
faster) answers whether a document is valid, which for a user's store is nearly always
yes; only when it is not does jsonschema walk the document again for the errors, worded
and located as the user reads them. tests/test_files_validation.py holds them to the same
verdict on every fixture and hostile store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when first used: not every command validates
    from jsonschema import Draft202012Validator

SCHEMA_BASE = "https://openclaw-patcher.invalid/schemas/"
ENVELOPE_PREFIX = "openclaw-patcher/"  # the `schema` id of every `--json` envelope


@dataclass(frozen=True)
class Problem:
    """One way a document breaks its schema."""

    pointer: str  # RFC 6901 JSON pointer into the document, "" for the whole document
    message: str

    def to_json(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


def _pointer(path) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


@cache
def _documents() -> dict[str, Any]:
    """Every schema of `schemas/`, by file name, read once."""
    return {
        entry.name: json.loads(entry.read_text(encoding="utf-8"))
        for entry in files("patcher.schemas").iterdir()
        if entry.name.endswith(".schema.json")
    }


@cache
def _registry():
    from referencing import Registry, Resource

    return Registry().with_resources(
        (SCHEMA_BASE + name, Resource.from_contents(contents))
        for name, contents in _documents().items()
    )


@cache
def _envelope_schemas() -> dict[str, str]:
    """Envelope schema id ("openclaw-patcher/<name>/1", each file's `$id`) -> file name."""
    return {
        contents["$id"]: name
        for name, contents in _documents().items()
        if str(contents.get("$id", "")).startswith(ENVELOPE_PREFIX)
    }


@cache
def validator(name: str) -> Draft202012Validator:
    """A Draft 2020-12 validator for `schemas/<name>`, with cross-file references resolved."""
    from jsonschema import Draft202012Validator

    schema = _registry().contents(SCHEMA_BASE + name)
    return Draft202012Validator(schema, registry=_registry())


@cache
def _fast(name: str) -> Any:
    """The compiled jsonschema-rs validator of `schemas/<name>` (same cross-file refs)."""
    import jsonschema_rs

    resources = [(SCHEMA_BASE + n, contents) for n, contents in _documents().items()]
    return jsonschema_rs.validator_for(
        _documents()[name], registry=jsonschema_rs.Registry(resources)
    )


def is_valid(value: Any, schema_name: str) -> bool:
    """Whether `value` is valid against the schema (the compiled validator)."""
    return bool(_fast(schema_name).is_valid(value))


def _branch_errors(error) -> list:
    """For a failed oneOf/anyOf over a union tagged by `kind` (or by type), the errors of the
    branch the value meant: the one whose tag and type matched."""
    branches: dict[int, list] = {}
    for inner in error.context:
        branches.setdefault(inner.schema_path[0], []).append(inner)
    for errors in branches.values():
        mismatched = any(
            (e.validator == "type" and not e.relative_path)
            or (list(e.relative_path) == ["kind"] and e.validator == "const")
            for e in errors
        )
        if not mismatched:
            return errors
    return []


def _specific(error):
    """The error to report: for 'not valid under any' of a union, the meant branch's error."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        from jsonschema.exceptions import best_match

        return _specific(best_match(_branch_errors(error) or error.context))
    return error


def _plain(error) -> str:
    """A sentence for the user; jsonschema's own wording where it is already plain."""
    value = error.instance
    if error.validator == "pattern" and error.validator_value == "\\S":
        return f"{value!r} must not be blank"
    if error.validator == "minLength" and error.validator_value == 1:
        return "must not be empty"
    if error.validator == "uniqueItems":
        return "has duplicate items"
    if error.validator == "const":
        return f"must be {error.validator_value!r}, not {value!r}"
    return error.message


def problems(value: Any, schema_name: str) -> list[Problem]:
    """Every problem of `value` against the schema, in document order."""
    if is_valid(value, schema_name):
        return []

    def order(error) -> list[tuple[int, Any]]:
        return [(0, p) if isinstance(p, int) else (1, str(p)) for p in error.absolute_path]

    errors = sorted((_specific(e) for e in validator(schema_name).iter_errors(value)), key=order)
    return [Problem(_pointer(e.absolute_path), _plain(e)) for e in errors]


def envelope_problems(value: object) -> list[str]:
    """Every problem of a `--json` envelope against the schema its `schema` id names, as
    "pointer: message" (an id no file of `schemas/` carries is one problem)."""
    schema_id = value.get("schema") if isinstance(value, dict) else None
    name = _envelope_schemas().get(schema_id) if isinstance(schema_id, str) else None
    if name is None:
        return [f"/schema: {schema_id!r} is the id of no envelope schema in schemas/"]
    return [f"{p.pointer or '/'}: {p.message}" for p in problems(value, name)]

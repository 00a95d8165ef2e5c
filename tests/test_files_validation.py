"""The two validators behind `problems` agree: jsonschema-rs says whether a document is
valid (fast), jsonschema says why not (worded for the user), so on every document they must
give the same verdict, or a store would pass that the errors walk would reject (or the
reverse). Checked on every schema with the fixture stores, the release facts' stores, and
thousands of structural mutations of valid ones."""

from __future__ import annotations

import copy
import json
import random

import pytest
from conftest import REPO

from patcher.files.jsonio import parse_text
from patcher.files.validation import is_valid, validator

SEED = 20261202
ODD_VALUES = [None, True, 0, -1, 1.5, "", " ", "x", [], {}, [1], {"kind": "nope"}, 2**63]


def _slow_valid(value, name: str) -> bool:
    return next(iter(validator(name).iter_errors(value)), None) is None


def _documents() -> list[tuple[str, object]]:
    found = []
    for path in sorted((REPO / "fixtures" / "stores").rglob("*.json*")):
        try:
            found.append((str(path.relative_to(REPO)), parse_text(path.read_text("utf-8"))[0]))
        except (UnicodeDecodeError, ValueError):
            continue  # not a document: never reaches a validator
    return found


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _mutate(value, rng: random.Random):
    out = copy.deepcopy(value)
    paths = [p for p in _paths(out) if p]
    if not paths:
        return out
    path = rng.choice(paths)
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    move = rng.choice(("replace", "delete", "add"))
    if move == "delete":
        del parent[last]
    elif move == "add" and isinstance(parent, dict):
        parent[rng.choice(("extra", "kind", "state", "id", "schedule"))] = rng.choice(ODD_VALUES)
    else:
        parent[last] = rng.choice(ODD_VALUES)
    return out


SCHEMAS = {"cron-jobs.schema.json": "jobs", "cron-jobs-state.schema.json": "jobs"}


def test_the_fixture_stores_get_the_same_verdict_from_both():
    documents = _documents()
    assert len(documents) >= 6
    for name, value in documents:
        for schema in SCHEMAS:
            assert is_valid(value, schema) == _slow_valid(value, schema), (name, schema)


@pytest.mark.parametrize("schema", sorted(SCHEMAS))
def test_mutations_of_valid_stores_get_the_same_verdict_from_both(schema):
    rng = random.Random(SEED)
    seeds = [v for _, v in _documents() if _slow_valid(v, schema)]
    assert seeds, f"no fixture store is valid against {schema}"
    verdicts = {True: 0, False: 0}
    for i in range(1500):
        value = seeds[i % len(seeds)]
        for _ in range(rng.randint(1, 3)):
            value = _mutate(value, rng)
        fast = is_valid(value, schema)
        assert fast == _slow_valid(value, schema), json.dumps(value)[:2000]
        verdicts[fast] += 1
    assert verdicts[True] and verdicts[False], verdicts  # both verdicts were exercised

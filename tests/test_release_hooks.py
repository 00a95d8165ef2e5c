"""The harness's module hooks on a real release: in-thread (module.registerHooks, Node
22.15+) and off-thread (module.register, older Node) must both reach CronService, which
2026.4.14's chunk does not export (the hook adds the export)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from patcher.cache.releases import fetch_release
from patcher.simulation.harness import prepare, run_harness, scratch_env

pytestmark = pytest.mark.release


@pytest.mark.parametrize("hooks", ["in-thread", "off-thread"])
def test_both_hook_paths_load_the_unexported_cron_service(hooks, release_cache):
    version = "2026.4.14"
    prepared = prepare(
        fetch_release(version, release_cache), ["CronService"], release_cache, version
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = {**scratch_env(Path(tmp)), "OPENCLAW_PATCHER_HOOKS": hooks}
        store = Path(tmp) / "state" / "cron" / "jobs.json"
        run = run_harness(
            prepared.node, "store_reader.mjs", prepared.symbols, {"storePath": str(store)}, env
        )
    assert ("hooks", {"mode": hooks}) in run.events  # the path asked for is the one taken
    if hooks == "in-thread":  # the release's chunks reach their siblings through the hook
        loader = dict(run.events)["loader"]
        assert loader["siblings"] > 100, loader
    assert run.result == {"ids": []}

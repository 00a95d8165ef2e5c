"""Every command's --help names its exit codes and an example, its short help is whole, and
`--cache-dir` is taken after the command's name as before it."""

from __future__ import annotations

import shutil

import click
from click.testing import CliRunner
from conftest import BUNDLES, REPO

from patcher.cli import main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # the lazy group imports each command's module
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


def test_every_command_s_help_has_its_exit_codes_and_an_example():
    commands = list(_commands(main))
    assert len(commands) >= 10
    for path, _ in commands:
        result = CliRunner().invoke(main, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Exit codes:" in result.output and "Examples:" in result.output, path
        assert "\n    0    " in result.output and "openclaw-patcher " in result.output, path
        assert "--cache-dir" in result.output, path


def test_short_help_is_not_cut():
    for group in (["--help"], ["store", "--help"], ["tasks", "--help"]):
        listing = CliRunner().invoke(main, group).output
        assert "..." not in listing.split("Commands:")[1].split("Exit codes:")[0], group


def test_cache_dir_after_the_command_is_the_cache_used(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENCLAW_PATCHER_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "default-cache"))
    root = tmp_path / "install"
    shutil.copytree(BUNDLES / "2026.4.14-inline-json", root)
    state = tmp_path / "state"
    shutil.copytree(REPO / "fixtures" / "stores" / "inline", state)
    chosen = tmp_path / "chosen"
    result = CliRunner().invoke(
        main,
        ["apply", "--root", str(root), "--state-dir", str(state), "--skip-simulation",
         "--cache-dir", str(chosen)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert chosen.is_dir() and any(chosen.rglob("*")), "the named cache was not used"
    assert not (tmp_path / "default-cache").exists(), "the default cache was used instead"
    # Before the command's name it works as it always did.
    back = CliRunner().invoke(main, ["--cache-dir", str(chosen), "rollback", "--root", str(root)])
    assert back.exit_code == 0, back.output

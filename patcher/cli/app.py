"""The command group, its shared options, and the one place that turns a failure into a
sentence and its exit code: every command parses, calls the library, renders, and returns
the exit code the library's report owns."""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import NoReturn

import click

from patcher import __version__
from patcher.cache.layout import cache_dir
from patcher.detection.install import discover, no_install_found, open_install
from patcher.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    PatcherError,
    UsageError,
    from_os_error,
)

CACHE_HELP = "Cache for fetched releases (default: $OPENCLAW_PATCHER_CACHE or the user cache dir)."
ROOT_OPTION = click.option(
    "--root", type=click.Path(), help="An OpenClaw package root (default: discovered)."
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")

# What every command may exit with besides its own 0 and 1 (README, "Exit codes").
COMMON_CODES = {
    2: "usage or invalid input",
    3: "refused (an unknown code shape, a lock held, no rights...)",
    4: "missing environment (npm, disk space)",
    130: "interrupted",
}


def epilog(codes: dict[int, str], *examples: str) -> str:
    """A command's help epilog: its exit codes and examples, kept as written (`\\b`)."""
    lines = ["\b", "Exit codes:"]
    for code, meaning in sorted({**COMMON_CODES, **codes}.items()):
        lines.append(f"  {code:<4} {meaning}")
    lines += ["", "\b", "Examples:", *(f"  {e}" for e in examples)]
    return "\n".join(lines)


def stages(shown: bool) -> Callable[[str], None]:
    """What a command says of its stages as they start: a timed line on stderr (never
    stdout, which carries the result), or nothing."""
    if not shown:
        return lambda _: None
    return lambda line: click.echo(f"[{time.strftime('%H:%M:%S')}] {line}", err=True)


def announce_fetch(cache: Path, version: str, say: Callable[[str], None]) -> None:
    """Say that a release goes to the npm CLI, when it is not in the cache yet."""
    from patcher.cache.layout import release_dir
    from patcher.cache.releases import check_version_text

    check_version_text(version)  # a bad version is one error sentence, not a stage first
    if not (release_dir(cache, version) / "package" / "package.json").is_file():
        say(f"fetching openclaw@{version} with the npm CLI (cached after this)")


def _set_cache(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_root().obj["cache_dir"] = value


class PatcherGroup(click.Group):
    """A group whose every command also takes `--cache-dir`, after its name as before it."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not isinstance(cmd, click.Group) and not any(
            p.name == "cache_dir_here" for p in cmd.params
        ):
            cmd.params.append(
                click.Option(
                    ["--cache-dir", "cache_dir_here"],
                    type=click.Path(file_okay=False),
                    expose_value=False,
                    is_eager=True,
                    callback=_set_cache,
                    help=CACHE_HELP,
                )
            )
        if cmd.help and not cmd.short_help:  # the whole first sentence, not cut at 45 chars
            cmd.short_help = " ".join(cmd.help.strip().split("\n\n")[0].split()).split(". ")[0]
        super().add_command(cmd, name)

    def group(self, *args, **kwargs):  # subgroups hand the option down too
        kwargs.setdefault("cls", PatcherGroup)
        return super().group(*args, **kwargs)


# Each command's module, imported only when the command runs (or help lists them all), so
# `detect` does not pay for the imports of `verify` or `matrix`.
COMMAND_MODULES = {
    "apply": "repair",
    "detect": "detect",
    "fetch": "fetch",
    "matrix": "matrix",
    "rollback": "repair",
    "status": "repair",
    "store": "store",
    "tasks": "tasks",
    "verify": "verify",
}


class LazyGroup(PatcherGroup):
    """The top-level group: a command's module registers it when first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMAND_MODULES) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            import importlib

            importlib.import_module(f"patcher.cli.{COMMAND_MODULES[cmd_name]}")
        return self.commands.get(cmd_name)


def _guarded(fn: Callable[..., int]) -> Callable[..., None]:
    """Map expected failures to one sentence and their exit code; never show a traceback."""

    @wraps(fn)
    def wrapper(*args, **kwargs) -> None:
        try:
            code = fn(*args, **kwargs)
        except PatcherError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as command-line tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_OK)
        except click.exceptions.ClickException:
            raise
        except OSError as exc:  # a full disk, a read-only mount, missing rights: say which
            known = from_os_error(exc)
            if known is None:
                _crash(exc)
            click.echo(f"error: {known}", err=True)
            sys.exit(known.exit_code)
        except Exception as exc:  # an unexpected failure is a bug: keep the details in a log
            _crash(exc)
        sys.exit(code)

    return wrapper


def _crash(exc: BaseException) -> NoReturn:
    log = _write_crash_log(exc)
    click.echo(
        f"error: an unexpected error has occurred ({type(exc).__name__}: {exc}); "
        f"details are in {log}; please report it.",
        err=True,
    )
    sys.exit(EXIT_REFUSED)


def _write_crash_log(exc: BaseException) -> Path:
    log = cache_dir() / "crash.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(
            f"openclaw-patcher {__version__}, Python {sys.version}\n"
            + "".join(traceback.format_exception(exc))
        )
    except OSError:
        return Path("(no log: the cache dir is not writable)")
    return log


guarded = _guarded


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=epilog(
        {0: "ok", 1: "a check failed (see each command's --help)"},
        "openclaw-patcher status",
        "openclaw-patcher apply --restart",
        "openclaw-patcher verify --release 2026.4.22",
    ),
)
@click.version_option(__version__, prog_name="openclaw-patcher")
@click.option("--cache-dir", type=click.Path(file_okay=False), help=CACHE_HELP)
@click.pass_context
def main(ctx: click.Context, cache_dir: str | None) -> None:
    """Repair OpenClaw installs for openclaw/openclaw#79196 and prove it on their own code."""
    ctx.obj = {"cache_dir": cache_dir}


def cache_of(ctx: click.Context) -> Path:
    """The cache this run uses (`--cache-dir`, else the environment, else the default)."""
    return cache_dir(ctx.obj["cache_dir"])


def roots(root: str | None) -> list[Path]:
    """The install `--root` names, or every install discovery finds (none: a usage error)."""
    if root:
        return [open_install(Path(root)).root]
    installs = discover()
    if not installs:
        raise UsageError(no_install_found())
    return [i.root for i in installs]

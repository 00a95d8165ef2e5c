"""`fetch`: a release through the npm CLI into the cache; prints its package root."""

from __future__ import annotations

import click

from patcher.cache.releases import fetch_release
from patcher.cli.app import announce_fetch, cache_of, epilog, guarded, main, stages
from patcher.errors import EXIT_OK


@main.command(
    epilog=epilog(
        {0: "fetched (or cached); its package root printed"},
        'openclaw-patcher detect --root "$(openclaw-patcher fetch 2026.4.14)"',
    )
)
@click.argument("version")
@click.pass_context
@guarded
def fetch(ctx: click.Context, version: str) -> int:
    """Fetch a release with the npm CLI into the cache and print its package root."""
    notes: list[str] = []
    cache = cache_of(ctx)
    announce_fetch(cache, version, stages(True))
    root = fetch_release(version, cache, notes)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    click.echo(str(root))
    return EXIT_OK

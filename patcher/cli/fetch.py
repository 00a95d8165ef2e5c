"""`fetch`: a release through the npm CLI into the cache; prints its package root."""

from __future__ import annotations

import click

from patcher.cache.layout import release_dir
from patcher.cache.releases import check_version_text, fetch_release
from patcher.cli.app import cache_of, epilog, guarded, main
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
    check_version_text(version)
    if not (release_dir(cache, version) / "package" / "package.json").is_file():
        click.echo(f"fetching openclaw@{version} with the npm CLI", err=True)
    root = fetch_release(version, cache, notes)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    click.echo(str(root))
    return EXIT_OK

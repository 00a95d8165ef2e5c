"""The command line: one module per command, each parsing its options, calling the library,
rendering what it returns and exiting with the code that result owns (patcher.cli.app)."""

from patcher.cli.app import main  # each command's module is imported when it runs

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    main()

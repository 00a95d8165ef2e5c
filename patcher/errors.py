"""One exception root; each subclass carries the documented exit code of DESIGN.md."""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_ENVIRONMENT = 4
EXIT_INTERRUPTED = 130


class PatcherError(Exception):
    """An expected failure: the message is one sentence for the user, never a traceback."""

    exit_code = EXIT_CHECK_FAILED


class UsageError(PatcherError):
    """Bad arguments or invalid input (a path that is not an OpenClaw package, a bad store)."""

    exit_code = EXIT_USAGE


class RefusedError(PatcherError):
    """The tool will not act: unknown code shape, drift, unsupported version."""

    exit_code = EXIT_REFUSED


class EnvironmentMissing(PatcherError):
    """A tool the command needs is missing or failing (Node, npm)."""

    exit_code = EXIT_ENVIRONMENT


class IntegrityError(RefusedError):
    """A fetched tarball does not match what npm reports, or would escape its directory."""

"""One exception root; each subclass carries its documented exit code (README, exit codes)."""

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


class DiskProblem(EnvironmentMissing):
    """The file system refused a read or write: full, read-only, or not ours to touch."""


def from_os_error(exc: OSError) -> PatcherError | None:
    """One sentence for a file system failure the user can fix, with its exit code: a full
    disk is the environment (4), a read-only file system or missing rights a refusal (3).
    None for anything else (a bug, logged as such)."""
    import errno

    where = exc.filename or "a file"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        error: PatcherError = DiskProblem(
            f"no space left for {where} ({exc.strerror}): free space on that disk and run "
            "the command again; what was written is whole or not there at all."
        )
    elif exc.errno == errno.EROFS:
        error = RefusedError(
            f"{where} is on a read-only file system: remount it writable or run where it can "
            "be written; nothing was changed there."
        )
    elif exc.errno in (errno.EACCES, errno.EPERM):
        error = RefusedError(
            f"{where} cannot be accessed by this user ({exc.strerror}): rerun with the rights "
            "it needs (its owner, or sudo for a system-wide install)."
        )
    else:
        return None
    error.__cause__ = exc
    return error

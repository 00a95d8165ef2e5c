"""The tool's own command line in a child process, running this very code.

`python -m patcher` would put the working directory first on `sys.path`, so a folder
`patcher/` wherever a user or a CI job runs the tool would be imported and executed in its
place. A child instead starts with `-c` and a `sys.path` whose first entry is the folder
this package was loaded from: whatever the working directory holds, the child runs the
code of the process that started it (installed, or the checkout of an editable install).
"""

from __future__ import annotations

import sys
from pathlib import Path

import patcher

# The directory holding the `patcher` package that is running now.
_HOME = str(Path(patcher.__file__).resolve().parent.parent)
_BOOT = (
    "import sys; sys.path[0] = {home!r}; "
    "from patcher.cli import main; main(prog_name='openclaw-patcher')"
)


def own_command(*args: str) -> list[str]:
    """argv that runs `openclaw-patcher ARGS` with this process's Python and this code."""
    return [sys.executable, "-c", _BOOT.format(home=_HOME), *args]

"""Start one of our own modules in a new Python process, from the same code as this one.

`python -c` with the package root put first on sys.path: unlike `python -m`, it works from any
working directory (a checkout, site-packages, a worktree on PYTHONPATH) and leaves the working
directory and the environment as they are, for the process and everything it starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
_MAIN = "import sys; sys.path.insert(0, sys.argv.pop(1)); from {module} import main; main()"


def python_argv(module: str, *args: str) -> list[str]:
    """argv that runs `module.main()` with `args` as its sys.argv[1:]."""
    return [sys.executable, "-c", _MAIN.format(module=module), ROOT, *args]

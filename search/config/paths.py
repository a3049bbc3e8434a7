"""`~user/...` paths naming no user: one line, not pathlib's RuntimeError traceback.

`Path.expanduser` raises RuntimeError for `~nosuchuser/...` and `os.path.expanduser` returns it
unchanged (a search would then create a directory literally named `~nosuchuser`). Paths come
from command-line arguments and from three config keys; both are checked before any work.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from hardware.errors import ConfigError

# argparse destinations that are paths although typed str (a config name, a storage URI, ...)
PATH_DESTS = frozenset({"config", "storage", "directory"})


def home_path_problem(path: str | os.PathLike[str] | None) -> str | None:
    """Why `path` cannot be expanded (it starts with `~user` and there is no such user), or
    None."""
    text = "" if path is None else os.fspath(path)
    if not text.startswith("~") or os.path.expanduser(text) != text:
        return None
    user = text[1:].split(os.sep, 1)[0]
    whose = f"there is no user {user!r}" if user else "the home directory is unknown"
    return f"cannot expand {text!r}: {whose} on this machine (write the full path)"


def check_home_paths(args: argparse.Namespace) -> None:
    """ConfigError for the first path argument of `args` that cannot be expanded."""
    for dest, value in vars(args).items():
        if isinstance(value, Path) or (dest in PATH_DESTS and isinstance(value, str)):
            problem = home_path_problem(value)
            if problem is not None:
                flag = dest if dest == "directory" else f"--{dest.replace('_', '-')}"
                raise ConfigError(f"{flag}: {problem}")

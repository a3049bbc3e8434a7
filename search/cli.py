"""`mosaic-dse` entry point: builds the sub-command parsers and maps user errors to exit code 2.

Each sub-command lives in its own module exposing `register(subparsers)`; heavy imports (torch,
ray) happen inside the command's run function so `--help` and `pareto` stay fast and light.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from hardware.errors import MosaicDSEError
from search.config.paths import check_home_paths
from search.driver.signals import stop_signals

COMMAND_MODULES = (
    "search.commands.search_cmd",
    "search.commands.resume_cmd",
    "search.commands.train_cmd",
    "search.commands.map_cmd",
    "search.commands.export_cmd",
    "analysis.cli",
    "search.commands.synthetic_cmd",
    "search.commands.spikes_cmd",
    "search.commands.keys_cmd",
    "search.commands.dashboard_cmd",
)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors exit 2 with one line (argparse prints usage too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"mosaic-dse: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every available sub-command registered."""
    parser = _Parser(prog="mosaic-dse", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency inside the module: a bug
                raise
            continue
        module.register(subparsers)
    return parser


class _Notices(logging.Handler):
    """Prints warnings the search logs (a journal repaired, ...) as `mosaic-dse: ...` lines,
    to the sys.stderr of the moment."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"mosaic-dse: {record.getMessage()}", file=sys.stderr)


def _show_notices() -> None:
    """Route the `search` loggers' warnings to stderr, once per process (they still propagate:
    the root logger has no handler of its own in the CLI, so nothing prints twice)."""
    logger = logging.getLogger("search")
    if not any(isinstance(h, _Notices) for h in logger.handlers):
        logger.addHandler(_Notices(logging.WARNING))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command; `MosaicDSEError` becomes a one-line message and exit code 2,
    SIGTERM and Ctrl+C one line and exit 143 / 130 (`search.driver.signals`)."""
    # Ray's C++ core installs absl's failure-signal handler for SIGTERM unless told not to: a
    # SIGTERM while Ray starts then aborted the driver (exit -6) instead of reaching ours.
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    with stop_signals() as stop:
        try:
            args = build_parser().parse_args(argv)
            _show_notices()
            check_home_paths(args)
            args.stop = stop  # the search commands say more when they stop
            return int(args.func(args) or 0)
        except MosaicDSEError as exc:
            print(f"mosaic-dse: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"mosaic-dse: {stop.word}", file=sys.stderr)
            return stop.exit_code
        except Exception:
            if stop.first is None:
                raise
            # the signal's KeyboardInterrupt was replaced by an error of a library's cleanup
            print(f"mosaic-dse: {stop.word}", file=sys.stderr)
            return stop.exit_code


if __name__ == "__main__":
    sys.exit(main())

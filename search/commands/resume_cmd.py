"""`mosaic-dse resume DIR`: continue an interrupted search from its results directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from hardware.errors import ResultsError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `resume` sub-command."""
    p = subparsers.add_parser("resume", help="continue an interrupted search", description=__doc__)
    p.add_argument("directory", type=Path, help="results directory <storage>/<name>")
    p.add_argument("--trials", type=int, help="new total number of trials (default: as saved)")
    p.add_argument("--max-concurrent", type=int, help="trials running at once")
    p.add_argument("--address", help="Ray cluster to join (default: start a local Ray)")
    p.add_argument("--quiet", action="store_true", help="no per-trial progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Resume with the saved config.toml; storage and name come from DIR."""
    from search.commands.search_cmd import run_and_report
    from search.config import load_config
    from search.layout import CONFIG_FILE

    directory = args.directory.expanduser().resolve()
    if not (directory / CONFIG_FILE).is_file():
        raise ResultsError(f"{directory} is not a mosaic-dse search (no {CONFIG_FILE})")
    sets = [f"search.storage={str(directory.parent)!r}", f"search.name={directory.name!r}"]
    if args.trials is not None:
        sets.append(f"search.trials={args.trials}")
    if args.max_concurrent is not None:
        sets.append(f"search.max_concurrent={args.max_concurrent}")
    cfg = load_config(str(directory / CONFIG_FILE), sets)
    return run_and_report(cfg, resume=True, address=args.address, quiet=args.quiet)

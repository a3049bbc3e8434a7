"""`mosaic-dse search`: the joint hardware/training search (Ray Tune + Optuna)."""

from __future__ import annotations

import argparse
import sys

from search.commands.common import add_config_options

# CLI flag -> [search] key; a given flag becomes a --set override so the saved config is exact.
FLAG_KEYS = {"name": "name", "storage": "storage", "trials": "trials",
             "max_concurrent": "max_concurrent", "cpus_per_trial": "cpus_per_trial",
             "gpus_per_trial": "gpus_per_trial", "sampler": "sampler", "seed": "seed"}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `search` sub-command."""
    p = subparsers.add_parser("search", help="search chip and training parameters jointly",
                              description=__doc__)
    add_config_options(p)
    p.add_argument("--name", help="search name: results go to <storage>/<name>/")
    p.add_argument("--storage", help="directory holding searches (default from the config)")
    p.add_argument("--trials", type=int, help="total number of trials")
    p.add_argument("--max-concurrent", type=int, help="trials running at once")
    p.add_argument("--cpus-per-trial", type=float, help="CPUs reserved per trial")
    p.add_argument("--gpus-per-trial", type=float, help="GPUs per trial (fractions allowed)")
    p.add_argument("--sampler", choices=["tpe", "nsga2", "random"], help="Optuna sampler")
    p.add_argument("--seed", type=int, help="sampler seed")
    p.add_argument("--address", help="Ray cluster to join: auto or HOST:PORT "
                                     "(default: start a local Ray)")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted search <storage>/<name> to --trials trials")
    p.add_argument("--dry-run", action="store_true", help="print the resolved space and exit")
    p.add_argument("--quiet", action="store_true", help="no per-trial progress lines")
    p.set_defaults(func=run)


def overrides_from_flags(args: argparse.Namespace) -> list[str]:
    """--set overrides for every [search] flag the user gave."""
    sets = []
    for flag, key in FLAG_KEYS.items():
        value = getattr(args, flag)
        if value is not None:
            sets.append(f"search.{key}={value!r}" if isinstance(value, str)
                        else f"search.{key}={value}")
    return sets


def run(args: argparse.Namespace) -> int:
    """Load and validate the config, then run (or print) the search."""
    from search.config import load_config

    cfg = load_config(args.config, [*args.overrides, *overrides_from_flags(args)])
    if args.dry_run:
        from search.space import describe_space

        print(describe_space(cfg))
        return 0
    return run_and_report(cfg, resume=args.resume, address=args.address, quiet=args.quiet)


def run_and_report(cfg, resume: bool, address: str | None, quiet: bool) -> int:  # noqa: ANN001
    """Run the search; on Ctrl+C say how to continue it (exit 130), else print the outcome."""
    from search.remote import is_uri
    from search.runner import results_directory, run_search

    try:
        outcome = run_search(cfg, resume=resume, address=address, verbose=not quiet)
    except KeyboardInterrupt:
        where = (results_directory(cfg.search.storage, cfg.search.name)
                 if not is_uri(cfg.search.storage) else f"--name {cfg.search.name} --resume")
        print(f"mosaic-dse: interrupted; finished trials are saved. Continue with: "
              f"mosaic-dse resume {where}", file=sys.stderr)
        return 130
    return print_outcome(outcome)


def print_outcome(outcome) -> int:  # noqa: ANN001 - search.runner.SearchOutcome
    """Print the front and where the files are."""
    from analysis.cli import front_table_text

    print(f"{outcome.finished}/{outcome.requested} trials finished ({outcome.ran} this run)",
          file=sys.stderr)
    print(front_table_text(outcome.directory))
    print(f"results: {outcome.directory}/trials.parquet, {outcome.directory}/pareto.parquet")
    return 0

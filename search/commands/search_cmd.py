"""`mosaic-dse search`: the joint hardware/training search (Ray Tune + Optuna)."""

from __future__ import annotations

import argparse
import errno
import sys
from contextlib import AbstractContextManager

from hardware.errors import MosaicDSEError, ResultsError
from search.commands.common import add_config_options, seed, toml_override
from search.driver.signals import StopSignals, stop_signals

# CLI flag -> [search] key; a given flag becomes a --set override so the saved config is exact.
FLAG_KEYS = {"name": "name", "storage": "storage", "trials": "trials",
             "max_concurrent": "max_concurrent", "cpus_per_trial": "cpus_per_trial",
             "gpus_per_trial": "gpus_per_trial", "sampler": "sampler", "seed": "seed"}
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})  # the machine's, not a bug


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
    p.add_argument("--seed", type=seed, help="sampler seed, in [0, 2**32 - 1]")
    p.add_argument("--address", help="Ray cluster to join: auto or HOST:PORT "
                                     "(default: start a local Ray)")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted search <storage>/<name> to --trials trials")
    p.add_argument("--dry-run", action="store_true", help="print the resolved space and exit")
    p.add_argument("--quiet", action="store_true", help="no per-trial progress lines")
    p.set_defaults(func=run)


def overrides_from_flags(args: argparse.Namespace) -> list[str]:
    """--set overrides for every [search] flag the user gave."""
    return [toml_override(f"search.{key}", getattr(args, flag))
            for flag, key in FLAG_KEYS.items() if getattr(args, flag) is not None]


def run(args: argparse.Namespace) -> int:
    """Load and validate the config, then run (or print) the search."""
    from search.config.files import load_config

    cfg = load_config(args.config, [*args.overrides, *overrides_from_flags(args)])
    if args.dry_run:
        from search.config.files import describe_space

        print(describe_space(cfg))
        return 0
    return run_and_report(cfg, resume=args.resume, address=args.address, quiet=args.quiet,
                          stop=getattr(args, "stop", None))


def _stopped(cfg, stop: StopSignals) -> int:  # noqa: ANN001 - a SearchConfig
    """The stop line (with the resume command when there is a search to resume); 143 / 130."""
    print(stopped_line(stop.word, resume_target(cfg) if resumable(cfg) else None),
          file=sys.stderr)
    return stop.exit_code


def run_and_report(cfg, resume: bool, address: str | None, quiet: bool,  # noqa: ANN001
                   stop: StopSignals | None = None) -> int:
    """Run the search as the directory's one driver, then print the outcome.

    Ctrl+C and SIGTERM stop it (exit 130 and 143) with the resume command when there is a
    search to resume; a project error Ray wrapped in its own exception becomes its one line.
    stop: the CLI's signal handlers (`search.driver.signals`); installed here when None.
    """
    if stop is None:
        with stop_signals() as own:
            return run_and_report(cfg, resume, address, quiet, own)
    from search.driver.runner import run_search

    try:
        with driver_lock(cfg, resume):
            outcome = run_search(cfg, resume=resume, address=address, verbose=not quiet)
    except KeyboardInterrupt:
        return _stopped(cfg, stop)
    except Exception as exc:
        if stop.first is not None:  # the signal's exception, replaced by a library's cleanup
            return _stopped(cfg, stop)  # error (e.g. Optuna's journal lock mid-release)
        cause = project_error(exc)
        if cause is None:
            raise
        raise cause from None
    return print_outcome(outcome)


def stopped_line(word: str, target: str | None) -> str:
    """The last line of a stopped search: the resume command, or that there is nothing to
    resume (stopped before config.toml was written)."""
    if target is None:
        return f"mosaic-dse: {word} before the search started; nothing to resume"
    return (f"mosaic-dse: {word}; finished trials are saved. Continue with: mosaic-dse resume "
            f"{target}")


def resumable(cfg) -> bool:  # noqa: ANN001 - a SearchConfig
    """Whether `mosaic-dse resume` can continue this search: its config.toml was written."""
    from search.driver.runner import results_directory
    from search.store.layout import CONFIG_FILE
    from search.store.remote import RemoteResults, is_uri

    if is_uri(cfg.search.storage):
        directory = RemoteResults.for_search(cfg.search.storage, cfg.search.name,
                                             cfg.data.root).mirror
    else:
        directory = results_directory(cfg.search.storage, cfg.search.name)
    return (directory / CONFIG_FILE).is_file()


def driver_lock(cfg, resume: bool) -> AbstractContextManager[None]:  # noqa: ANN001
    """The lock of the directory the driver works in: the results directory (not created for a
    resume), or the local mirror of a storage URI (always created: it is only a copy)."""
    from search.driver.runner import results_directory
    from search.store.lock import hold_directory
    from search.store.remote import RemoteResults, is_uri

    if is_uri(cfg.search.storage):
        return hold_directory(RemoteResults.for_search(cfg.search.storage, cfg.search.name,
                                                       cfg.data.root).mirror)
    return hold_directory(results_directory(cfg.search.storage, cfg.search.name),
                          create=not resume)


def resume_target(cfg) -> str:  # noqa: ANN001 - a SearchConfig
    """What `mosaic-dse resume` takes for this search: its directory or its URI."""
    from search.driver.runner import results_directory
    from search.store.remote import is_uri

    if is_uri(cfg.search.storage):
        return cfg.search.storage.rstrip("/") + "/" + cfg.search.name
    return str(results_directory(cfg.search.storage, cfg.search.name))


def project_error(exc: BaseException | None) -> MosaicDSEError | None:
    """The MosaicDSEError `exc` is or wraps (Tune re-raises callback errors as TuneError); a
    full or read-only disk (the Optuna journal, Ray's state) becomes a ResultsError."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, MosaicDSEError):
            return exc
        if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
            return ResultsError(f"cannot write {exc.filename or 'the results directory'}: "
                                f"{exc.strerror} (free disk space or make it writable, then "
                                "resume)")
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def print_outcome(outcome) -> int:  # noqa: ANN001 - search.driver.runner.SearchOutcome
    """Print the front and where the files are."""
    from analysis.cli import front_table_text
    from search.store.layout import NETWORKS_DIR

    print(finished_line(outcome.finished, outcome.requested, outcome.ran), file=sys.stderr)
    print(front_table_text(outcome.directory))
    print(f"results: {outcome.directory}/trials.parquet, {outcome.directory}/pareto.parquet")
    if (outcome.directory / NETWORKS_DIR).is_dir():  # a remote search's are on its URI
        print(f"trained networks: {outcome.directory}/{NETWORKS_DIR}/ (as NIR: mosaic-dse "
              f"export {outcome.directory} TRIAL_ID net.nir)")
    return 0


def finished_line(finished: int, requested: int, ran: int) -> str:
    """How far the search got: 'finished/requested', or, when a resume asked for fewer trials
    than have already finished, both counts in words (never '4/2')."""
    if finished > requested:
        return (f"{finished} trials finished, more than the {requested} requested ({ran} this "
                "run; resume with a larger --trials to run more)")
    return f"{finished}/{requested} trials finished ({ran} this run)"

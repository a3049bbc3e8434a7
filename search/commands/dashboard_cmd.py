"""`mosaic-dse dashboard DIR`: serve a search's Optuna study in optuna-dashboard (live).

The study lives in `<DIR>/optuna-journal.log`; the dashboard re-reads it on every request, so
it follows a running search. Trials carry the objective names (val_accuracy,
chip_memory_cells), the `violations` constraint and the result attributes of
`search.driver.study_attrs`. Needs the `dashboard` extra (optuna-dashboard).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hardware.errors import ConfigError, ResultsError
from search.store.layout import JOURNAL


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `dashboard` sub-command."""
    p = subparsers.add_parser(
        "dashboard", help="serve a search's Optuna study in optuna-dashboard",
        description="Serve the Optuna study of a results directory (its optuna-journal.log) "
                    "with optuna-dashboard, live while the search runs: trials with their "
                    "objectives, constraint, method, chip memory, mappable and test accuracy, "
                    "and the Pareto front. Needs: pip install 'mosaic-dse[dashboard]'.")
    p.add_argument("directory", type=Path, help="results directory <storage>/<name>")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: "
                                                       "%(default)s; 0.0.0.0 for every one)")
    p.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    p.set_defaults(func=run_dashboard)


def journal_path(directory: Path) -> Path:
    """`<directory>/optuna-journal.log`; ResultsError naming the path when it is missing."""
    journal = Path(directory).expanduser() / JOURNAL
    if not journal.is_file():
        raise ResultsError(f"no Optuna study in {directory}: {journal.name} is missing (pass "
                           "the <storage>/<name> directory of a search)")
    return journal


def run_dashboard(args: argparse.Namespace) -> int:
    """Serve until interrupted (Ctrl+C: exit 130)."""
    journal = journal_path(args.directory)
    try:
        import optuna_dashboard
    except ModuleNotFoundError:
        raise ConfigError("mosaic-dse dashboard needs optuna-dashboard (pip install "
                          "'mosaic-dse[dashboard]')") from None
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(journal)))
    print(f"serving {journal} at http://{args.host}:{args.port}/dashboard (Ctrl+C stops)",
          flush=True)
    optuna_dashboard.run_server(storage, host=args.host, port=args.port)
    return 0

"""`mosaic-dse resume DIR|URI`: continue an interrupted search from its results directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from hardware.errors import ResultsError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `resume` sub-command."""
    p = subparsers.add_parser("resume", help="continue an interrupted search", description=__doc__)
    p.add_argument("directory", metavar="DIR|URI",
                   help="results directory <storage>/<name>, or its storage URI "
                        "(e.g. s3://bucket/results/NAME)")
    p.add_argument("--trials", type=int, help="new total number of trials (default: as saved)")
    p.add_argument("--max-concurrent", type=int, help="trials running at once")
    p.add_argument("--address", help="Ray cluster to join (default: start a local Ray)")
    p.add_argument("--quiet", action="store_true", help="no per-trial progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Resume with the saved config.toml; storage and name come from DIR (or the URI)."""
    from search.commands.common import toml_override
    from search.commands.search_cmd import run_and_report
    from search.config.files import parse_config
    from search.store.remote import is_uri

    storage, name, text, source = (_remote_search(args.directory) if is_uri(args.directory)
                                   else _local_search(Path(args.directory)))
    sets = [toml_override("search.storage", storage), toml_override("search.name", name)]
    if args.trials is not None:
        sets.append(f"search.trials={args.trials}")
    if args.max_concurrent is not None:
        sets.append(f"search.max_concurrent={args.max_concurrent}")
    cfg = parse_config(text, source, sets)
    return run_and_report(cfg, resume=True, address=args.address, quiet=args.quiet,
                          stop=getattr(args, "stop", None))


def _local_search(directory: Path) -> tuple[str, str, str, str]:
    """(storage, name, config text, source) of a results directory."""
    from search.config.files import read_config_text
    from search.store.layout import CONFIG_FILE

    directory = directory.expanduser().resolve()
    if not (directory / CONFIG_FILE).is_file():
        raise ResultsError(f"{directory} is not a mosaic-dse search (no {CONFIG_FILE})")
    text, source = read_config_text(directory / CONFIG_FILE)
    return str(directory.parent), directory.name, text, source


def _remote_search(uri: str) -> tuple[str, str, str, str]:
    """(storage, name, config text, source) of a search on a pyarrow filesystem URI."""
    from search.store.layout import CONFIG_FILE
    from search.store.remote import read_remote_file

    storage, _, name = uri.rstrip("/").rpartition("/")
    data = read_remote_file(f"{storage}/{name}", CONFIG_FILE) if "://" in storage else None
    if data is None:
        raise ResultsError(f"{uri} is not a mosaic-dse search (no {CONFIG_FILE}; give "
                           "<storage-uri>/<name>)")
    return storage, name, data.decode("utf-8", errors="replace"), f"{uri}/{CONFIG_FILE}"

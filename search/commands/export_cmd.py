"""`mosaic-dse export DIR|URI TRIAL_ID OUT.npz|OUT.nir`: the trained network of one finished
trial of a search, as a network file (numpy) or a NIR graph (other simulators)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from hardware.errors import LinksError, ResultsError

SHOWN_IDS = 5  # trained trial ids a message lists


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `export` sub-command."""
    p = subparsers.add_parser("export", help="write a finished trial's trained network as .npz "
                              "or NIR", description=__doc__)
    p.add_argument("directory", metavar="DIR|URI",
                   help="results directory <storage>/<name> of a search, or its storage URI")
    p.add_argument("trial_id", metavar="TRIAL_ID",
                   help="a trial_id of its trials.parquet (`mosaic-dse pareto DIR` shows the "
                        "front's)")
    p.add_argument("out", type=Path, metavar="OUT.npz|OUT.nir",
                   help=".npz: the network file (weights, links, chip, resolved config; "
                        "`mosaic-dse map --network` routes it); .nir: a NIR graph (README: "
                        "Trained networks in NIR)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Find the trial's row and network, check they agree, write OUT, print one line."""
    from search.artefacts.network_file import check_writable

    check_writable(args.out, "OUT")
    if args.out.suffix == ".nir":
        check_nir_installed()
    from search.store.remote import is_uri

    results = str(args.directory).rstrip("/")
    results = results if is_uri(results) else str(Path(results).expanduser())
    rows = trial_rows(results)
    row = trained_row(results, rows, args.trial_id)
    content = trial_network(results, row)
    net = write_export(content, args.out, row)
    print(f"wrote {args.out}: trial {row['trial_id']} ({row.get('method')}, val_accuracy "
          f"{row.get('val_accuracy', float('nan')):.3f}, {row['n_links']} links, "
          f"{net.spec.rows}x{net.spec.cols} tiles x {net.spec.neurons_per_tile} neurons)",
          file=sys.stderr)
    return 0


def check_nir_installed() -> None:
    """LinksError unless the optional `nir` package is importable."""
    import importlib.util

    if importlib.util.find_spec("nir") is None:
        raise LinksError("writing a .nir file needs the nir package (pip install -e \".[nir]\"), "
                         "or export .npz")


def trial_rows(results: str) -> dict[str, dict[str, Any]]:
    """Every row of a results directory or URI by trial id: trials.parquet, then the rows the
    row log holds that a running search has not yet written there."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from search.store.layout import ROW_LOG, TRIALS_FILE
    from search.store.row_log import RowLog

    table_bytes, log_bytes = (_read(results, name) for name in (TRIALS_FILE, ROW_LOG))
    if table_bytes is None and log_bytes is None:
        raise ResultsError(f"{results} is not a mosaic-dse search: it has no {TRIALS_FILE} "
                           "(give the <storage>/<name> directory or URI of a search)")
    rows = []
    if table_bytes is not None:
        try:
            rows = pq.read_table(pa.BufferReader(table_bytes)).to_pylist()
        except (OSError, pa.ArrowException) as exc:
            raise ResultsError(f"cannot read {results}/{TRIALS_FILE}: {exc}") from None
    if log_bytes is not None:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / ROW_LOG).write_bytes(log_bytes)
            rows += RowLog(Path(tmp) / ROW_LOG).read()
    return {str(r["trial_id"]): r for r in rows}


def _read(results: str, name: str) -> bytes | None:
    """The bytes of `<results>/<name>` (a directory or a URI), None when it does not exist."""
    from search.store.remote import is_uri, read_remote_file

    if is_uri(results):
        return read_remote_file(results, name)
    path = Path(results) / name
    return path.read_bytes() if path.is_file() else None


def trained_row(results: str, rows: dict[str, dict[str, Any]], trial_id: str) -> dict[str, Any]:
    """The row of `trial_id`; ResultsError when there is none or it did not train."""
    row = rows.get(trial_id)
    if row is None:
        raise ResultsError(f"no trial {trial_id!r} in {results}; {_trained_ids(rows)}")
    if row.get("status") != "ok":
        why = f": {str(row['error'])[:80]}" if row.get("error") else ""
        raise ResultsError(f"trial {trial_id} has no trained network (status "
                           f"{row.get('status')}{why}); {_trained_ids(rows)}")
    return row


def _trained_ids(rows: dict[str, dict[str, Any]]) -> str:
    """'trained trials: a, b, c (and N more)', front first, for a message."""
    trained = [r for r in rows.values() if r.get("status") == "ok"]
    if not trained:
        return "it holds no trained trial yet"
    trained.sort(key=lambda r: not r.get("on_front"))  # stable: file order within each group
    shown = ", ".join(str(r["trial_id"]) for r in trained[:SHOWN_IDS])
    more = f" (and {len(trained) - SHOWN_IDS} more)" if len(trained) > SHOWN_IDS else ""
    return f"trained trials: {shown}{more}"


def trial_network(results: str, row: dict[str, Any]) -> bytes:
    """The network file the trial's worker saved; ResultsError when there is none."""
    from search.artefacts.trial_networks import (
        holds_networks,
        networks_location,
        read_trial_network,
    )
    from search.store.layout import NETWORKS_DIR

    location = networks_location(results)
    if not holds_networks(location):
        raise ResultsError(f"{results} has no {NETWORKS_DIR}/ directory: it was searched with "
                           "[search].save_networks = false or by a mosaic-dse older than "
                           "`export` (train the trial again with `mosaic-dse train "
                           "--save-network`)")
    content = read_trial_network(location, str(row["trial_id"]))
    if content is None:
        raise ResultsError(f"trial {row['trial_id']} trained but {location} holds no network "
                           "of it (its write failed, or it trained on a node that does not "
                           "share the storage path: see the search's log)")
    return content


def write_export(content: bytes, out: Path, row: dict[str, Any]) -> Any:
    """Check the network file against its row (n_links), write it to `out` as .npz (the
    bytes as saved) or .nir; returns the `NetworkFile`."""
    from analysis.io import atomic_write_bytes
    from hardware.routing import check_mapping
    from search.artefacts.network_file import load_network

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "network.npz").write_bytes(content)
        net = load_network(Path(tmp) / "network.npz")
    links = check_mapping(net.spec, net.links).n_links
    if links != row.get("n_links"):
        raise ResultsError(f"the saved network of trial {row['trial_id']} has {links} links but "
                           f"its row says {row.get('n_links')}: the file is not this trial's")
    if out.suffix == ".nir":
        from search.artefacts.nir_file import file_network, write_nir

        write_nir(out, file_network(net, f"the network of trial {row['trial_id']}"))
    else:
        atomic_write_bytes(out.expanduser(), content)
    return net

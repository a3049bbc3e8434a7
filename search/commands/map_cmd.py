"""`mosaic-dse map`: route a network (file or random profile) on a chip and report memory."""

from __future__ import annotations

import argparse
import json
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from hardware.errors import LinksError
from hardware.memory import chip_memory_cells, memory_of_usage, synapse_cells
from hardware.profile import realised_profile, sample_links, validate_profile
from hardware.routing import check_mapping, port_usage
from hardware.spec import CAPACITIES, PORTS, MosaicSpec
from search.artefacts.network_file import check_numpy_file, load_network
from search.commands.common import seed


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `map` sub-command."""
    p = subparsers.add_parser(
        "map", help="map a network onto a Mosaic chip and report memory", description=__doc__
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--links", type=Path, help="boolean (N, T) links: .npy, or .npz key links")
    source.add_argument("--network", type=Path, metavar="FILE.npz",
                        help="a network saved by `train --save-network`, routed on its own chip "
                             "unless --rows/--cols/--neurons-per-tile/--cap-* are given")
    source.add_argument(
        "--profile",
        help="draw a random network with this hop profile, "
        "comma-separated p_d by distance, e.g. 0,0.8,0,0.1",
    )
    p.add_argument("--seed", type=seed, default=0,
                   help="seed of the random network (--profile), in [0, 2**32 - 1]")
    p.add_argument("--rows", type=int)
    p.add_argument("--cols", type=int)
    p.add_argument("--neurons-per-tile", type=int)
    for kind in CAPACITIES:
        p.add_argument(f"--cap-{kind.short}", type=_caps,
                       help=f"{kind.help}: one int or 8 comma-separated ints")
    p.add_argument(
        "--n-inputs",
        type=int,
        default=0,
        help="external input crossbar rows counted in synapse_cells (default 0)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", type=Path, help="write a heat map of usage/capacity to this PNG")
    p.set_defaults(func=run)


def _caps(text: str) -> int | tuple[int, ...]:
    """'32' -> 32, '8,8,8,8,4,4,4,4' -> 8-tuple (validated by MosaicSpec)."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an int or 8 comma-separated ints, got {text!r}"
        ) from None
    return values[0] if len(values) == 1 else values


def load_links(path: Path) -> np.ndarray:
    """Links from a .npy file or a .npz with key 'links'; LinksError naming the file otherwise."""
    if not path.is_file():
        raise LinksError(f"links file not found: {path} (give an existing .npy or .npz file)")
    check_numpy_file(path, "links file", "save it with numpy.save")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:  # EOFError: empty file
        raise LinksError(
            f"cannot read links file {path}: {exc} (save it with numpy.save)"
        ) from None
    if isinstance(data, np.lib.npyio.NpzFile):
        if "links" not in data.files:
            raise LinksError(f"{path} has no array 'links' (keys: {', '.join(data.files)})")
        data = data["links"]
    return data


def _profile(text: str, rows: int, cols: int) -> tuple[float, ...]:
    """Parse '0,0.8,0,0.1' into a validated hop profile."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise LinksError(f"--profile must be comma-separated numbers, got {text!r}") from None
    return validate_profile(values, rows, cols)


def _route_seconds(links: np.ndarray, spec: MosaicSpec, repeats: int = 5) -> float:
    """Median wall time of the routing call alone (route tables already built)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        port_usage(links, spec.rows, spec.cols, spec.neurons_per_tile)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def map_report(spec: MosaicSpec, links: np.ndarray, n_inputs: int = 0) -> dict:
    """The JSON-able report of routing `links` on `spec`."""
    routing = check_mapping(spec, links)
    memory = memory_of_usage(routing.usage, spec)
    return {
        "mappable": routing.mappable,
        "violations": routing.violations,
        "memory_cells": memory.memory_cells,
        "chip_memory_cells": chip_memory_cells(spec),
        "synapse_cells": synapse_cells(spec, n_inputs),
        "memory_bits": memory.memory_cells * spec.bits_per_cell,
        **{kind.short: list(getattr(memory, kind.short)) for kind in CAPACITIES},
        **{f"{kind.short}_cells": getattr(memory, f"{kind.short}_cells") for kind in CAPACITIES},
        "hop_profile": [
            float(p) for p in realised_profile(links, spec.rows, spec.cols, spec.neurons_per_tile)
        ],
        "n_links": routing.n_links,
        "route_seconds": _route_seconds(links, spec),
    }


def _print_table(spec: MosaicSpec, report: dict) -> None:
    """Human-readable report."""
    print(
        f"chip {spec.rows}x{spec.cols} tiles x {spec.neurons_per_tile} neurons, "
        f"{report['n_links']} links, routed in {report['route_seconds'] * 1e3:.2f} ms"
    )
    print(f"mappable: {report['mappable']}  violations: {report['violations']}")
    print(f"{'port':>6} " + " ".join(f"{p:>6}" for p in PORTS))
    for kind in CAPACITIES:
        name, caps = kind.short, getattr(spec, kind.key)
        print(
            f"{name:>6} "
            + " ".join(f"{u:>3}/{c:<2}" for u, c in zip(report[name], caps, strict=True))
        )
    print(f"memory_cells (smallest chip hosting it): {report['memory_cells']:,} "
          f"({report['memory_bits']:,} bits at {spec.bits_per_cell} bit(s) per cell)")
    print(
        f"chip_memory_cells: {report['chip_memory_cells']:,}   "
        f"synapse_cells: {report['synapse_cells']:,}"
    )
    profile = ", ".join(f"p{d}={p:.3f}" for d, p in enumerate(report["hop_profile"]) if p > 0)
    print(f"hop profile: {profile or 'no inter-tile links'}")


CHIP_FLAGS = ("rows", "cols", "neurons_per_tile", *(kind.key for kind in CAPACITIES))


def chip_of(args: argparse.Namespace) -> MosaicSpec:
    """The chip from the flags; with --network, the file's chip with any flag overriding it."""
    given = {f: getattr(args, f) for f in CHIP_FLAGS if getattr(args, f) is not None}
    if args.network is not None:
        spec = replace(load_network(args.network).spec, **given)
    else:
        missing = [f"--{f.replace('_', '-')}" for f in CHIP_FLAGS if f not in given]
        if missing:
            raise LinksError(f"map needs the chip: give {', '.join(missing)} (or --network "
                             "FILE.npz)")
        spec = MosaicSpec(**given)
    from search.config.files import chip_size_problem

    too_large = chip_size_problem(spec.rows, spec.cols, spec.neurons_per_tile)
    if too_large is not None:
        raise LinksError(f"map: {too_large[1]}")
    return spec


def run(args: argparse.Namespace) -> int:
    """Route the network and print the report (table or JSON)."""
    spec = chip_of(args)
    if args.network is not None:
        links = load_network(args.network).links
    elif args.links is not None:
        links = load_links(args.links)
    else:
        profile = _profile(args.profile, spec.rows, spec.cols)
        links = sample_links(
            spec.rows, spec.cols, spec.neurons_per_tile, profile, np.random.default_rng(args.seed)
        )
    if args.n_inputs < 0:
        raise LinksError(f"--n-inputs must be >= 0, got {args.n_inputs}")
    report = map_report(spec, links, args.n_inputs)
    if args.json:
        print(json.dumps(report))
    else:
        _print_table(spec, report)
    if args.plot is not None:
        from search.artefacts.usage_plot import plot_usage  # matplotlib only when asked

        plot_usage(check_mapping(spec, links), args.plot)
        if not args.json:
            print(f"heat map written to {args.plot}")
    return 0

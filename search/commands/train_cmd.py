"""`mosaic-dse train`: one training run without Ray, routed exactly on its chip."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from search.commands.common import add_config_options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `train` sub-command."""
    p = subparsers.add_parser("train", help="train one configuration and map it on its chip",
                              description=__doc__)
    add_config_options(p, default="tiny")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--save-links", type=Path, help="save the final boolean links (N, T) as .npy")
    p.add_argument("--save-network", type=Path, metavar="FILE.npz|FILE.nir",
                   help="save the trained network: .npz (weights, links, hop profile, chip, "
                        "resolved config; numpy alone reads it; route it with `mosaic-dse map "
                        "--network FILE.npz`) or .nir (a NIR graph for other simulators: input "
                        "weights, recurrent LIF layer, readout; see README)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Resolve ranges to defaults, train, route, print."""
    from dataclasses import replace

    from model.data import load_dataset
    from search.artefacts.network_file import check_writable, save_network, trial_neuron
    from search.config.files import build_trial, load_config, resolve_defaults, resolved_toml
    from search.driver.device import check_device
    from search.driver.trial import TrialSettings, evaluate
    from search.driver.worker import _json_default

    cfg = load_config(args.config, args.overrides)
    if args.save_network is not None:
        check_writable(args.save_network)
    if args.save_links is not None:
        check_writable_links(args.save_links)
    check_device(str(cfg.param("device").value))
    params = resolve_defaults(cfg)
    print("resolved: " + ", ".join(f"{k}={v}" for k, v in params.items()), file=sys.stderr)
    spec, train_cfg = build_trial(cfg, params)
    train_cfg = replace(train_cfg, progress=not args.quiet and not args.json)
    data = load_dataset(cfg.data)
    # `train` runs what it is told: the proxy only reports, it does not gate
    record, result = evaluate(spec, train_cfg, data, cfg.data, params,
                              TrialSettings(proxy_threshold=0.0))
    row = record.to_row()
    if args.save_links is not None and result is not None:
        _save_links(args.save_links, result.links)
    neuron = trial_neuron(train_cfg, data, cfg.data)
    if args.save_network is not None and result is not None \
            and args.save_network.suffix == ".nir":
        from search.artefacts.nir_file import lif_network, write_nir

        write_nir(args.save_network, lif_network(result.w_in, result.w_rec,
                                                 spec.neurons_per_tile, neuron))
    elif args.save_network is not None and result is not None:
        save_network(args.save_network, spec, result.links, result.w_in, result.w_rec,
                     result.hop_profile, resolved_toml(cfg, params), neuron)
    if args.json:
        print(json.dumps(row, default=_json_default))
    else:
        _print_summary(row)
    return 0 if record.status == "ok" else 1


def check_writable_links(path: Path) -> None:
    """LinksError unless --save-links names a writable file (checked before training)."""
    from search.artefacts.network_file import check_output_path

    check_output_path(path, "--save-links", "links.npy")


def _save_links(path: Path, links: np.ndarray) -> None:
    """Atomically save the links as .npy."""
    import io

    from analysis.io import atomic_write_bytes

    buffer = io.BytesIO()
    np.save(buffer, links)
    atomic_write_bytes(path, buffer.getvalue())


def _print_summary(row: dict) -> None:
    """Human-readable result."""
    if row["status"] != "ok":
        print(f"status {row['status']}: {row.get('error')}")
        return
    print(f"accuracy (test) {row['accuracy']:.3f} | val {row['val_accuracy']:.3f} | "
          f"train {row['train_accuracy']:.3f} | {row['train_seconds']:.1f} s")
    print(f"mappable {row['mappable']} ({row['violations']} violations) | memory_cells "
          f"{row['memory_cells']:,} | chip_memory_cells {row['chip_memory_cells']:,} | "
          f"links {row['n_links']} | weights {row['n_weights']}")

"""Early stopping's yield: hypervolume per CPU-hour with and without `[search].early_stop`.

The same small search (the `tiny` config, routing_aware, random sampler) runs with and without
early stopping, seed by seed, on one local Ray; both arms see the same suggestions for the same
seed until a stop changes what the sampler is told. Printed per arm: the front's hypervolume
(max val_accuracy, min chip_memory_cells, one reference point for all runs), the CPU-seconds
the trials took (sum of train_seconds: each trial holds one CPU), hypervolume per CPU-hour and
the stopped trials; then the ratios, early stop / without, per seed and their median.
Run: python benchmarks/bench_early_stop.py [--quick] [--seeds 3] [--trials 8] [--epochs 8]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.pareto import hypervolume  # noqa: E402
from search.config.files import load_config  # noqa: E402
from search.driver.runner import run_search  # noqa: E402


def one_search(root: Path, data_root: Path, name: str, seed: int, trials: int, epochs: int,
               early_stop: bool) -> list[dict]:
    """The rows of one tiny search (routing_aware, caps and lr searched)."""
    sets = [f"data.root={str(data_root)!r}", f"search.storage={str(root)!r}",
            f"search.name={name!r}", f"search.trials={trials}", f"search.seed={seed}",
            "search.sampler='random'", f"search.early_stop={str(early_stop).lower()}",
            f"training.epochs={epochs}", "training.method='routing_aware'"]
    outcome = run_search(load_config("tiny", sets), verbose=False)
    return pq.read_table(outcome.directory / "trials.parquet").to_pylist()


def summary(rows: list[dict], reference: tuple[float, float]) -> tuple[float, float, int]:
    """(hypervolume, CPU-seconds of the trials, stopped trials) of one search's rows."""
    ok = [r for r in rows if r["status"] == "ok" and r["mappable"]]
    hv = hypervolume(np.array([r["val_accuracy"] for r in ok], dtype=float),
                     np.array([r["chip_memory_cells"] for r in ok], dtype=float), reference)
    seconds = sum(r["train_seconds"] or 0.0 for r in rows if r["status"] != "infeasible")
    return hv, seconds, sum(r["status"] == "stopped" for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="1 seed, 4 trials, 4 epochs")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.trials, args.epochs = 1, 4, 4
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch threads per trial 1, "
          f"torch {torch.__version__}, ray {ray.__version__}")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    runs: dict[tuple[int, bool], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root, data_root = Path(tmp) / "results", Path(tmp) / "data"
        for seed in range(args.seeds):
            for early in (False, True):
                start = time.perf_counter()
                runs[seed, early] = one_search(root, data_root, f"s{seed}-{int(early)}", seed,
                                               args.trials, args.epochs, early)
                print(f"seed {seed} early_stop={early}: {time.perf_counter() - start:.0f} s wall",
                      flush=True)
    ray.shutdown()
    memory = [r["chip_memory_cells"] for rows in runs.values() for r in rows
              if r["status"] == "ok"]
    reference = (0.0, 1.1 * max(memory))
    print(f"\n{args.trials} trained trials x {args.epochs} epochs per search, reference point "
          f"(accuracy 0, {reference[1]:.0f} cells)")
    print(f"{'seed':>4} {'arm':>10} {'HV':>10} {'CPU-s':>7} {'HV/CPU-h':>11} {'stopped':>7}")
    ratios = []
    for seed in range(args.seeds):
        per_hour = {}
        for early in (False, True):
            hv, seconds, stopped = summary(runs[seed, early], reference)
            per_hour[early] = hv / (seconds / 3600.0) if seconds else float("nan")
            print(f"{seed:>4} {'early' if early else 'full':>10} {hv:>10.0f} {seconds:>7.1f} "
                  f"{per_hour[early]:>11.0f} {stopped:>7}")
        ratios.append(per_hour[True] / per_hour[False])
    print(f"\nHV per CPU-hour, early stop / full: "
          f"{', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})")


if __name__ == "__main__":
    main()

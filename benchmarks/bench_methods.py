"""The paper's comparison on real speech: routing_aware, deepr, chip_aware and mosaic trained on
the same chip and data (the `speech` config, same hop profile, so the DeepR methods get the same
weight budget) over several seeds, scored on the held-out speaker.

Prints per method: test accuracy mean +- sd, memory_cells (smallest chip hosting the network),
weights, mappable share; then the accuracy gain of routing_aware over deepr at equal weights and
the memory ratio deepr / routing_aware (at their accuracies).
Run: python benchmarks/bench_methods.py ROOT [--seeds 5] [--epochs 50] [--jobs 2]
(ROOT: `mosaic-dse make-spike-dataset ../shared/fsdd/recordings ROOT --test-speakers nicolas`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

METHODS = ("routing_aware", "deepr", "chip_aware", "mosaic")


def train_row(root: str, method: str, seed: int, epochs: int) -> dict:
    """One `mosaic-dse train --config speech` run as its JSON row (one thread)."""
    cmd = [sys.executable, "-m", "search.cli", "train", "--config", "speech", "--json",
           "--quiet", f"--set=data.root={root!r}", f"--set=training.method={method!r}",
           f"--set=training.seed={seed}", f"--set=training.epochs={epochs}",
           "--set=training.threads=1"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"method": method, "seed": seed, "failed": out.stderr.strip()[-300:]}
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "seed": seed}


def summary(rows: list[dict]) -> dict[str, dict]:
    """Per method: accuracy mean and sd, median memory_cells, weights, mappable share."""
    table = {}
    for method in METHODS:
        ok = [r for r in rows if r.get("method") == method and "failed" not in r]
        if not ok:
            continue
        acc = [float(r["accuracy"]) for r in ok]
        table[method] = {
            "n": len(ok), "acc": statistics.mean(acc),
            "sd": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "memory": statistics.median(int(r["memory_cells"]) for r in ok),
            "weights": statistics.median(int(r["n_weights"] or 0) for r in ok),
            "mappable": sum(bool(r["mappable"]) for r in ok) / len(ok)}
    return table


def main() -> int:
    """Train every method x seed, print the table and the two claims' numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rows", help="also write every run's row to this JSON file")
    args = parser.parse_args()
    runs = [(m, s) for s in range(args.seeds) for m in METHODS]
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda ms: train_row(args.root, *ms, args.epochs), runs))
    for row in rows:
        if "failed" in row:
            print(f"{row['method']} seed {row['seed']}: {row['failed']}", file=sys.stderr)
    if args.rows:
        with open(args.rows, "w") as f:
            json.dump(rows, f)
    table = summary(rows)
    print(f"{'method':<14} {'n':>2} {'test acc':>15} {'memory_cells':>13} {'weights':>8} "
          f"{'mappable':>8}")
    for method, t in table.items():
        print(f"{method:<14} {t['n']:>2} {t['acc']:>8.3f} +- {t['sd']:.3f} {t['memory']:>13,.0f} "
              f"{t['weights']:>8,.0f} {t['mappable']:>8.0%}")
    if {"routing_aware", "deepr"} <= set(table):
        ra, dr = table["routing_aware"], table["deepr"]
        print(f"accuracy gain of routing_aware over deepr at equal weights: "
              f"{ra['acc'] - dr['acc']:+.3f} (paper: about +0.05)")
        print(f"memory ratio deepr / routing_aware: {dr['memory'] / ra['memory']:.1f}x "
              f"(paper: about 11x at equal accuracy; here at accuracies {dr['acc']:.3f} / "
              f"{ra['acc']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Router speed: vectorized `port_usage` vs a simple per-neuron Python router, same run.

Also times the original proxy calibration: 4 x 30 (p1, p3) profiles x 10 seeds = 1200 routed
5x5x32 networks (1 h 40 min in the original study).
Run: python benchmarks/bench_router.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from hardware.memory import memory_of_usage
from hardware.profile import sample_links
from hardware.routing import port_usage, port_usage_reference, route_table
from hardware.spec import MosaicSpec


def median_seconds(fn, repeats: int) -> float:
    """Median wall time of `fn()` over `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench_grid(rows: int, cols: int, k: int, profile: tuple, fast_repeats: int,
               ref_repeats: int) -> None:
    """Print fast and reference median times and their ratio for one network."""
    links = sample_links(rows, cols, k, profile, np.random.default_rng(0))
    start = time.perf_counter()
    route_table(rows, cols)
    build = time.perf_counter() - start
    fast = median_seconds(lambda: port_usage(links, rows, cols, k), fast_repeats)
    ref = median_seconds(lambda: port_usage_reference(links, rows, cols, k), ref_repeats)
    assert (port_usage(links, rows, cols, k) == port_usage_reference(links, rows, cols, k)).all()
    print(f"{rows}x{cols}x{k} profile {profile}: {int(links.sum())} links | route table "
          f"{build * 1e3:.1f} ms (once per grid) | vectorized {fast * 1e3:.3f} ms | "
          f"per-neuron reference {ref * 1e3:.1f} ms | ratio {ref / fast:.0f}x")


def bench_calibration(n_p1: int, n_p3: int, seeds: int) -> None:
    """Route and size n_p1 * n_p3 * seeds networks of 5x5x32, like the proxy calibration."""
    spec = MosaicSpec(5, 5, 32)
    start = time.perf_counter()
    for p1 in np.linspace(0.1, 1.0, n_p1):
        for p3 in np.linspace(0.0, 0.3, n_p3):
            for seed in range(seeds):
                links = sample_links(5, 5, 32, (0, p1, 0, p3), np.random.default_rng(seed))
                memory_of_usage(port_usage(links, 5, 5, 32), spec)
    total = time.perf_counter() - start
    n = n_p1 * n_p3 * seeds
    print(f"proxy calibration: {n} networks (sample + route + memory) in {total:.2f} s "
          f"({total / n * 1e3:.2f} ms each; original study: 6000 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller sweep")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}")
    reps = (20, 2) if args.quick else (100, 5)
    bench_grid(5, 5, 32, (0, 0.95, 0, 0.29), *reps)
    bench_grid(16, 16, 32, (0, 0.95, 0, 0.29), reps[0] // 5, 1)
    bench_calibration(4, 30 if not args.quick else 5, 10 if not args.quick else 2)


if __name__ == "__main__":
    main()

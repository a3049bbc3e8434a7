"""Rewiring within exact port capacities: incremental usage tracker vs the full router, same run.

On 5x5 tiles x 32 neurons (N = 800): time to fill an empty chip (as many uniformly drawn links
as fit), to build the tracker from those links, and of one DeepR-style rewiring pass (prune 20%
of the links at random, regrow within capacities: to the pruned network's per-(tile, distance)
counts, or fill; on one kept tracker or building it from the links array in the pass), each
the median of repeats after a warm-up (wall and this process's CPU time, which other load on a
shared machine disturbs less), beside one full `check_mapping` of the same network; the ratio
says how many full routings one pass costs. Checking each candidate with the full router
instead would cost (candidates tried) x check_mapping.
Also the fill of the default chip (3x3 x 16, cap_nt 32) at issue 9's three capacity settings.
Run: python benchmarks/bench_rewire.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np

from hardware.profile import pair_groups
from hardware.routing import check_mapping
from hardware.spec import MosaicSpec
from hardware.usage import PortUsageTracker
from model.chip_links import candidate_order, grow_within_capacity, remove_links


def median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (less sensitive to other load on
    a shared machine) of `fn()` over `repeats` calls after one warm-up call."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return float(np.median(wall)), float(np.median(cpu))


def ms(seconds: tuple[float, float]) -> str:
    """'wall ms (CPU ms)' of a median_seconds result."""
    return f"{seconds[0] * 1e3:.2f} ms (CPU {seconds[1] * 1e3:.2f} ms)"


def rewiring_pass(spec: MosaicSpec, tracker: PortUsageTracker, rng: np.random.Generator,
                  per_group: bool, rebuild: bool) -> Callable[[], object]:
    """One pass on the evolving network: prune 20% at random, regrow (group quota or fill),
    on one kept tracker or (rebuild) from the links array, building the tracker in the pass."""
    groups, depth = pair_groups(spec.rows, spec.cols, spec.neurons_per_tile)
    eligible = np.ones_like(tracker.links)
    state = {"links": tracker.links.copy()}

    def run() -> np.ndarray:
        links = state["links"] if rebuild else tracker.links
        quota = np.bincount(groups[links], minlength=spec.n_tiles * depth)
        prune = links & (rng.random(links.shape) < 0.2)
        if rebuild:
            start: np.ndarray | PortUsageTracker = links & ~prune
        else:
            remove_links(tracker, prune)
            start = tracker
        state["links"] = grow_within_capacity(spec, start, eligible, rng,
                                              groups=groups if per_group else None,
                                              quota=quota if per_group else None)
        return state["links"]

    return run


def bench_chip(spec: MosaicSpec, repeats: int) -> None:
    """Print fill, tracker build and rewiring-pass times beside check_mapping for one chip."""
    rng = np.random.default_rng(0)
    empty = np.zeros((spec.n_neurons, spec.n_tiles), dtype=bool)
    links = grow_within_capacity(spec, empty, ~empty, rng)
    assert check_mapping(spec, links).violations == 0
    fill = median_seconds(lambda: grow_within_capacity(spec, empty, ~empty, rng), repeats // 4)
    build = median_seconds(lambda: PortUsageTracker(spec, links), repeats)
    route = median_seconds(lambda: check_mapping(spec, links), repeats)
    n_candidates = candidate_order(spec, links, ~empty, "uniform", rng).size
    print(f"{spec.rows}x{spec.cols}x{spec.neurons_per_tile} cap_nt {spec.cap_nt[0]} cap_r0 "
          f"{spec.cap_r0[0]} cap_r1 {spec.cap_r1[0]}: fill {int(links.sum())} links in "
          f"{ms(fill)} | tracker build {ms(build)} | check_mapping {ms(route)}")
    for per_group, label in ((True, "regrow to per-(tile, distance) counts"), (False, "refill")):
        for rebuild in (False, True):
            tracker = PortUsageTracker(spec, links)
            run = rewiring_pass(spec, tracker, rng, per_group, rebuild)
            one_pass = median_seconds(run, repeats)
            assert check_mapping(spec, run()).violations == 0
            naive = n_candidates * route[1]
            how = "tracker rebuilt from links" if rebuild else "tracker kept"
            print(f"  rewiring pass (prune 20%, {label}, {how}): {ms(one_pass)} = "
                  f"{one_pass[1] / route[1]:.1f} x check_mapping (CPU); a check_mapping per "
                  f"candidate (~{n_candidates}) would take ~{naive * 1e3:.0f} ms CPU "
                  f"({naive / one_pass[1]:.0f}x)")


def bench_default_fill(seeds: int) -> None:
    """Print the mean fill of the default chip at issue 9's three capacity settings."""
    for cap_r0, cap_r1, issue in ((8, 24, 468), (4, 16, 392), (16, 32, 552)):
        spec = MosaicSpec(3, 3, 16, cap_nt=32, cap_r0=cap_r0, cap_r1=cap_r1)
        empty = np.zeros((spec.n_neurons, spec.n_tiles), dtype=bool)
        for order in ("uniform", "nearest"):
            counts = [int(grow_within_capacity(spec, empty, ~empty, np.random.default_rng(s),
                                               order=order).sum()) for s in range(seeds)]
            print(f"3x3x16 cap_nt 32 cap_r0 {cap_r0} cap_r1 {cap_r1} fill ({order}): "
                  f"{np.mean(counts):.1f} links (min {min(counts)}, max {max(counts)}, "
                  f"{seeds} seeds; issue 9, uniform: {issue}), 0 violations")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and seeds")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}")
    repeats = 20 if args.quick else 100
    bench_chip(MosaicSpec(5, 5, 32, cap_nt=32, cap_r0=16, cap_r1=64), repeats)
    bench_chip(MosaicSpec(5, 5, 32, cap_nt=32, cap_r0=8, cap_r1=32), repeats)
    bench_chip(MosaicSpec(3, 3, 16, cap_nt=32, cap_r0=8, cap_r1=24), repeats)  # default chip
    bench_default_fill(3 if args.quick else 10)


if __name__ == "__main__":
    main()

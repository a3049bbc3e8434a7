"""Growth and rewiring within exact port capacities: the batched greedy equals the one-at-a-time
rule, every result maps with 0 violations, quotas hold, nearest-first order, edge chips."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.errors import ConfigError, LinksError
from hardware.geometry import hop_distance_matrix
from hardware.profile import pair_groups
from hardware.routing import check_mapping
from hardware.spec import MosaicSpec
from hardware.usage import PortUsageTracker
from model.chip_links import (
    candidate_order,
    grow_in_order,
    grow_in_order_reference,
    grow_within_capacity,
    remove_links,
)
from tests.conftest import make_spec


def random_chip(rng: np.random.Generator, max_cap: int = 6) -> MosaicSpec:
    """A small chip (1-3 x 1-4 tiles, 1-4 neurons) with random tight capacities (0 allowed)."""
    rows, cols, k = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 5))
    return make_spec(rows, cols, k, cap_nt=int(rng.integers(0, max_cap)),
                     cap_r0=int(rng.integers(0, max_cap)), cap_r1=int(rng.integers(0, max_cap)))


def random_quota(rng: np.random.Generator, spec: MosaicSpec, case: int):
    """(groups, quota) for case 0: per (tile, distance) groups; 1: one total; 2: fill."""
    if case == 0:
        groups, depth = pair_groups(spec.rows, spec.cols, spec.neurons_per_tile)
        return groups, rng.integers(0, spec.neurons_per_tile + 1, spec.n_tiles * depth)
    if case == 1:
        return None, int(rng.integers(0, spec.n_neurons * spec.n_tiles // 2 + 1))
    return None, None


@pytest.mark.parametrize("seed", range(40))
def test_batched_greedy_equals_one_at_a_time_rule(seed):
    rng = np.random.default_rng(seed)
    spec = random_chip(rng)
    links = np.zeros((spec.n_neurons, spec.n_tiles), dtype=bool)
    eligible = rng.random(links.shape) < 0.8
    order = ("uniform", "nearest")[seed % 2]
    groups, quota = random_quota(rng, spec, seed % 3)
    candidates = candidate_order(spec, links, eligible, order, rng)
    tracker = PortUsageTracker(spec, links)
    grown = grow_in_order(tracker, candidates, groups, quota)
    assert np.array_equal(grown, grow_in_order_reference(spec, links, candidates, groups, quota))
    assert np.array_equal(tracker.usage_grid, check_mapping(spec, grown).usage)


def test_batched_greedy_with_queue_refilter_equals_reference(monkeypatch):
    # Dead candidates pile up and fitting_pairs filters the waiting queue (made eager here).
    monkeypatch.setattr("hardware.usage.REFILTER_AFTER", 0)
    calls = []
    original = PortUsageTracker.fitting_pairs
    monkeypatch.setattr(PortUsageTracker, "fitting_pairs",
                        lambda self: calls.append(1) or original(self))
    spec = MosaicSpec(3, 3, 8, cap_nt=6, cap_r0=2, cap_r1=4)
    links = np.zeros((spec.n_neurons, spec.n_tiles), dtype=bool)
    rng = np.random.default_rng(0)
    candidates = candidate_order(spec, links, ~links, "uniform", rng)
    grown = grow_in_order(PortUsageTracker(spec, links), candidates)
    assert calls, "the refilter path was not exercised"
    assert np.array_equal(grown, grow_in_order_reference(spec, links, candidates))


@pytest.mark.parametrize("seed", range(30))
def test_growth_and_rewiring_always_map_with_zero_violations(seed):
    rng = np.random.default_rng(seed)
    spec = random_chip(rng, max_cap=10)
    groups, quota = random_quota(rng, spec, seed % 3)
    empty = np.zeros((spec.n_neurons, spec.n_tiles), dtype=bool)
    eligible = rng.random(empty.shape) < 0.9
    order = ("uniform", "nearest")[seed % 2]
    tracker = PortUsageTracker(spec, empty)
    links = grow_within_capacity(spec, tracker, eligible, rng, groups=groups, quota=quota,
                                 order=order)
    for _ in range(4):  # DeepR-style passes: prune ~20%, regrow within capacities
        assert check_mapping(spec, links).violations == 0
        assert np.array_equal(tracker.usage_grid, check_mapping(spec, links).usage)
        pruned = remove_links(tracker, links & (rng.random(links.shape) < 0.2))
        assert np.array_equal(pruned, links & tracker.links)
        links = grow_within_capacity(spec, tracker, eligible, rng, groups=groups, quota=quota,
                                     order=order)
    assert check_mapping(spec, links).mappable
    assert not (links & ~eligible).any()


@pytest.mark.parametrize("seed", range(10))
def test_quota_is_an_upper_bound_per_group_and_met_when_capacity_allows(seed):
    rng = np.random.default_rng(seed)
    spec = make_spec(int(rng.integers(1, 4)), int(rng.integers(2, 4)), 3, cap_nt=2, cap_r0=2,
                     cap_r1=2)
    groups, depth = pair_groups(spec.rows, spec.cols, spec.neurons_per_tile)
    quota = rng.integers(0, 5, spec.n_tiles * depth)
    empty = np.zeros((spec.n_neurons, spec.n_tiles), dtype=bool)
    tight = grow_within_capacity(spec, empty, ~empty, rng, groups=groups, quota=quota)
    assert (np.bincount(groups[tight], minlength=quota.size) <= quota).all()
    roomy = make_spec(spec.rows, spec.cols, 3, cap_nt=99, cap_r0=99, cap_r1=99)
    loose = grow_within_capacity(roomy, empty, ~empty, rng, groups=groups, quota=quota)
    inter = np.repeat(np.arange(spec.n_tiles), 3)[:, None] != np.arange(spec.n_tiles)
    available = np.bincount(groups[inter], minlength=quota.size)
    assert np.array_equal(np.bincount(groups[loose], minlength=quota.size),
                          np.minimum(quota, available))


def test_nearest_fills_distance_one_first_when_capacity_allows():
    spec = make_spec(3, 3, 4, cap_nt=99, cap_r0=99, cap_r1=99)
    hops = hop_distance_matrix(3, 3)[np.arange(spec.n_neurons) // 4]
    n_near = int((hops == 1).sum())
    empty = np.zeros(hops.shape, dtype=bool)
    rng = np.random.default_rng(1)
    near = grow_within_capacity(spec, empty, ~empty, rng, quota=n_near, order="nearest")
    assert np.array_equal(near, hops == 1)
    partial = grow_within_capacity(spec, empty, ~empty, rng, quota=n_near + 5, order="nearest")
    assert (partial[hops == 1]).all() and (hops[partial & (hops > 1)] == 3).all()
    uniform = grow_within_capacity(spec, empty, ~empty, rng, quota=n_near, order="uniform")
    assert (hops[uniform] > 1).any()


def test_zero_capacity_chip_and_single_tile_grow_nothing():
    rng = np.random.default_rng(0)
    spec = make_spec(2, 3, 2, cap_nt=0, cap_r0=0, cap_r1=0)
    empty = np.zeros((12, 6), dtype=bool)
    assert not grow_within_capacity(spec, empty, ~empty, rng).any()
    single = make_spec(1, 1, 3)
    assert not grow_within_capacity(single, np.zeros((3, 1), bool), np.ones((3, 1), bool),
                                    rng).any()


@pytest.mark.parametrize(("cap_r0", "cap_r1", "reference"), [(8, 24, 468), (4, 16, 392),
                                                              (16, 32, 552)])
def test_fill_of_default_chip_matches_the_issue_measurement(cap_r0, cap_r1, reference):
    # Issue 9: greedy random-order fill of 3x3 tiles x 16 neurons, cap_nt 32 places about
    # 468 / 392 / 552 links at these capacities.
    spec = MosaicSpec(3, 3, 16, cap_nt=32, cap_r0=cap_r0, cap_r1=cap_r1)
    empty = np.zeros((144, 9), dtype=bool)
    counts = [int(grow_within_capacity(spec, empty, ~empty, np.random.default_rng(s)).sum())
              for s in range(3)]
    assert abs(np.mean(counts) - reference) <= 0.03 * reference


def test_bad_input_is_rejected_with_a_message():
    spec = make_spec(2, 2, 2, cap_nt=1, cap_r0=1, cap_r1=1)
    rng = np.random.default_rng(0)
    full = np.ones((8, 4), dtype=bool)
    with pytest.raises(LinksError, match="mappable before growing"):
        grow_within_capacity(spec, full, full, rng)
    empty = np.zeros((8, 4), dtype=bool)
    with pytest.raises(ConfigError, match="growth order must be one of"):
        grow_within_capacity(spec, empty, full, rng, order="far")
    with pytest.raises(LinksError, match="eligible must be a bool array of shape"):
        grow_within_capacity(spec, empty, full[:4], rng)
    with pytest.raises(LinksError, match="groups must be ints"):
        grow_within_capacity(spec, empty, full, rng, groups=np.zeros((8, 3), int), quota=[1])
    with pytest.raises(LinksError, match="built for another chip"):
        grow_within_capacity(make_spec(2, 2, 2), PortUsageTracker(spec, empty), full, rng)

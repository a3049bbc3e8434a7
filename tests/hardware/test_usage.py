"""Incremental port usage: agreement with the full router after random add/remove sequences,
distinct-neuron counting worked by hand, and the capacity queries against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.errors import LinksError
from hardware.routing import check_mapping
from hardware.usage import PortUsageTracker
from tests.conftest import make_spec, random_links

IN_N = 0


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 3), cols=st.integers(1, 4), k=st.integers(1, 4),
       seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 6))
def test_incremental_usage_equals_full_router_after_add_remove(rows, cols, k, seed, steps):
    rng = np.random.default_rng(seed)
    spec = make_spec(rows, cols, k)
    links = random_links(rng, rows, cols, k, float(rng.random()))
    tracker = PortUsageTracker(spec, links)
    assert np.array_equal(tracker.usage_grid, check_mapping(spec, links).usage)
    for _ in range(steps):
        change = rng.random(links.shape) < rng.random()  # may touch intra-tile pairs too
        if rng.random() < 0.5:
            tracker.add_mask(change)
            links = links | change
        else:
            tracker.remove_mask(change)
            links = links & ~change
        assert np.array_equal(tracker.links, links)
        assert np.array_equal(tracker.usage_grid, check_mapping(spec, links).usage)
        assert tracker.violations == check_mapping(spec, links).violations


def test_two_links_of_one_neuron_share_a_port_once():
    # 2x2 grid, K = 2: neurons 0 and 1 in tile 0 at full (1,1); tile 2 at (3,1), 3 at (3,3).
    # 0 -> 2 (vertical neighbours): R1 (2,1) in_N, out_S, tile (3,1) in_N.
    # 0 -> 3 (r' > r): R1 (2,1) in_N, east to column 2, south to row 3, step E.
    # Both enter R1 (2,1) through in_N: one neuron, so usage 1 there, not 2.
    spec = make_spec(2, 2, 2, cap_r1=1)
    links = np.zeros((8, 4), dtype=bool)
    links[0, 2] = True
    tracker = PortUsageTracker(spec, links)
    assert tracker.usage_grid[2, 1, IN_N] == 1
    assert tracker.fits(np.array([0]), np.array([3]))[0]  # shares the full port: still fits
    assert not tracker.fits(np.array([1]), np.array([3]))[0]  # a second neuron would not
    tracker.add(np.array([0]), np.array([3]))
    assert tracker.usage_grid[2, 1, IN_N] == 1 and tracker.violations == 0
    tracker.remove(np.array([0]), np.array([2]))  # 0 -> 3 still needs the port
    assert tracker.usage_grid[2, 1, IN_N] == 1
    tracker.remove(np.array([0]), np.array([3]))
    assert tracker.usage_grid[2, 1, IN_N] == 0 and tracker.usage.sum() == 0


def test_adding_active_or_removing_inactive_links_changes_nothing():
    rng = np.random.default_rng(3)
    spec = make_spec(2, 3, 3)
    links = random_links(rng, 2, 3, 3, 0.4)
    tracker = PortUsageTracker(spec, links)
    before = tracker.usage.copy()
    tracker.add_mask(links)
    tracker.remove_mask(~links)
    assert np.array_equal(tracker.usage, before)
    assert np.array_equal(tracker.counts, PortUsageTracker(spec, links).counts)


def mappable_state(seed: int) -> tuple:
    """(spec, links) of a random tight chip with links added one by one while mappable."""
    rng = np.random.default_rng(seed)
    rows, cols, k = (int(v) for v in rng.integers(1, 4, 3))
    spec = make_spec(rows, cols, k + 1, cap_nt=int(rng.integers(0, 5)),
                     cap_r0=int(rng.integers(0, 5)), cap_r1=int(rng.integers(0, 5)))
    links = np.zeros((spec.n_neurons, spec.n_tiles), dtype=bool)
    for flat in rng.permutation(links.size)[: links.size // 2]:
        trial = links.copy()
        trial.ravel()[flat] = True
        if check_mapping(spec, trial).mappable:
            links = trial
    return spec, links, rng


@pytest.mark.parametrize("seed", range(12))
def test_fits_and_fitting_pairs_match_brute_force(seed):
    spec, links, _ = mappable_state(seed)
    tracker = PortUsageTracker(spec, links)
    neuron, dest = np.divmod(np.arange(links.size), spec.n_tiles)
    brute = np.zeros(links.size, dtype=bool)
    for flat in range(links.size):
        trial = links.copy()
        trial.ravel()[flat] = True
        brute[flat] = check_mapping(spec, trial).mappable
    assert np.array_equal(tracker.fits(neuron, dest), brute)
    assert np.array_equal(tracker.fitting_pairs().ravel(), brute)


@pytest.mark.parametrize("seed", range(12))
def test_fitting_prefix_is_the_first_sequential_failure(seed):
    spec, links, rng = mappable_state(seed)
    tracker = PortUsageTracker(spec, links)
    batch = rng.permutation(np.flatnonzero(~links.ravel()))[:12]
    expected, grown = batch.size, links.copy()
    for j, flat in enumerate(batch):
        grown.ravel()[flat] = True
        if not check_mapping(spec, grown).mappable:
            expected = j
            break
    neuron, dest = np.divmod(batch, spec.n_tiles)
    assert tracker.fitting_prefix(neuron, dest) == expected


def test_add_in_order_respects_group_quota_and_updates_it():
    spec = make_spec(2, 2, 2)
    tracker = PortUsageTracker(spec, np.zeros((8, 4), dtype=bool))
    neuron, dest = np.array([0, 0, 2, 4, 6]), np.array([1, 2, 3, 0, 1])
    left = np.array([1, 5])
    added = tracker.add_in_order(neuron, dest, np.array([0, 0, 1, 1, 0]), left)
    assert added.tolist() == [True, False, True, True, False]
    assert left.tolist() == [0, 3]


def test_bad_links_and_pairs_are_rejected():
    spec = make_spec(1, 2, 2)
    with pytest.raises(LinksError, match="boolean array"):
        PortUsageTracker(spec, np.zeros((4, 2), dtype=int))
    tracker = PortUsageTracker(spec, np.zeros((4, 2), dtype=bool))
    with pytest.raises(LinksError, match=r"neurons in \[0, 4\) and tiles in \[0, 2\)"):
        tracker.add(np.array([4]), np.array([0]))
    with pytest.raises(LinksError, match="1-D arrays of one length"):
        tracker.fits(np.array([0, 1]), np.array([1]))
    with pytest.raises(LinksError, match="needs distinct links"):
        tracker.add_in_order(np.array([0, 0]), np.array([1, 1]))

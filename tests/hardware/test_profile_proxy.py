"""Hop-profile budgets, exact samplers, realised profiles and the proxy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.errors import LinksError
from hardware.geometry import hop_distance_matrix
from hardware.profile import (
    link_budget,
    link_counts,
    n_tiles_at_distance,
    realised_profile,
    sample_links,
    sample_uniform_links,
    validate_profile,
)
from hardware.proxy import ProxyCache, predict
from tests.conftest import make_spec

profiles = st.lists(st.floats(0, 1), min_size=1, max_size=5).map(
    lambda ps: tuple(v for p in ps for v in (0.0, p)))  # (0, p1, 0, p3, ...)


def test_tiles_at_distance_on_3x3_centre_and_corner():
    n_d = n_tiles_at_distance(3, 3)
    # centre tile 4: 4 neighbours (d=1), 4 diagonals (d=3)
    assert tuple(n_d[4]) == (1, 4, 0, 4, 0, 0, 0, 0)
    # corner tile 0: 2 neighbours, 1 diagonal (d=3), 2 at D=2 in line (d=5) + ... (1,2)/(2,1)
    # at D=3 off-line (d=5), and the far corner D=4 (d=7)
    assert tuple(n_d[0]) == (1, 2, 0, 1, 0, 4, 0, 1)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 4), cols=st.integers(1, 4), k=st.integers(1, 6),
       profile=profiles, seed=st.integers(0, 1000))
def test_sampler_is_exact_per_tile_and_distance(rows, cols, k, profile, seed):
    max_d = int(hop_distance_matrix(rows, cols).max())
    profile = profile[: max_d + 1]
    links = sample_links(rows, cols, k, profile, np.random.default_rng(seed))
    budget = link_budget(rows, cols, k, profile)
    np.testing.assert_array_equal(link_counts(links, rows, cols, k), budget)
    assert not links[np.arange(links.shape[0]), np.arange(links.shape[0]) // k].any()


def test_budget_is_rounded_product():
    budget = link_budget(3, 3, 8, (0, 0.3, 0, 0.5))
    n_d = n_tiles_at_distance(3, 3)
    assert budget[4, 1] == round(0.3 * 8 * 4) and budget[0, 3] == round(0.5 * 8 * n_d[0, 3])
    assert budget[:, 5:].sum() == 0


def test_realised_profile_recovers_full_connectivity():
    links = sample_links(3, 4, 5, (0, 1.0, 0, 0.0, 0, 1.0), np.random.default_rng(0))
    profile = realised_profile(links, 3, 4, 5)
    assert profile[1] == 1.0 and profile[3] == 0.0 and profile[5] == 1.0


def test_uniform_sampler_hits_total_without_intra_tile_links():
    links = sample_uniform_links(3, 3, 4, 50, np.random.default_rng(1))
    assert links.sum() == 50
    assert not links[np.arange(36), np.arange(36) // 4].any()
    with pytest.raises(LinksError, match="n_links must be in"):
        sample_uniform_links(1, 2, 2, 5, np.random.default_rng(0))


@pytest.mark.parametrize(("profile", "message"), [
    ((0, 1.5), "p1 must be in [0, 1], got 1.5"),
    ((0, float("nan")), "p1 must be in [0, 1], got nan"),
    ((0, 0.5, 0.2), "p2 must be 0"),
    ((0, 0.5, 0, 0, 0, 0, 0, 0, 0, 0.1), "p9 = 0.1 but the longest route on a 2x2 grid has 3"),
])
def test_validate_profile_errors_name_the_entry(profile, message):
    with pytest.raises(LinksError) as info:
        validate_profile(profile, 2, 2)
    assert message in str(info.value)


def test_proxy_fits_generous_chip_and_rejects_tight_one():
    cache = ProxyCache()
    roomy = predict(make_spec(3, 3, 8, cap_nt=64, cap_r0=64, cap_r1=64), (0, 0.8, 0, 0.3),
                    cache=cache)
    tight = predict(make_spec(3, 3, 8, cap_nt=64, cap_r0=1, cap_r1=4), (0, 0.8, 0, 0.3),
                    cache=cache)
    assert roomy.fits and roomy.mappable_fraction == 1.0
    assert not tight.fits and tight.mean_violations > 0
    assert roomy.memory_cells == tight.memory_cells  # same sampled networks (cached)
    assert len(cache._usages) == 1


def test_proxy_memory_is_close_to_exact_memory_of_sampled_networks():
    from hardware.memory import memory_of_usage
    from hardware.routing import port_usage

    spec = make_spec(4, 4, 16)
    profile = (0, 0.9, 0, 0.2)
    predicted = predict(spec, profile, seeds=4).memory_cells
    exact = [memory_of_usage(port_usage(sample_links(4, 4, 16, profile,
                                                     np.random.default_rng(100 + s)),
                                        4, 4, 16), spec).memory_cells for s in range(4)]
    assert abs(predicted - np.mean(exact)) / np.mean(exact) < 0.15




@settings(max_examples=25, deadline=None)
@given(cap_nt=st.integers(0, 12), cap_r0=st.integers(0, 8), cap_r1=st.integers(0, 12),
       p3=st.sampled_from([0.0, 0.2]))
def test_proxy_short_names_each_overflowing_cell_type_with_its_largest_usage(cap_nt, cap_r0,
                                                                              cap_r1, p3):
    from hardware.geometry import NT, R0, R1, cell_types
    from hardware.routing import capacity_grid, port_usage

    spec = make_spec(3, 3, 4, cap_nt=cap_nt, cap_r0=cap_r0, cap_r1=cap_r1)
    profile = (0.0, 0.8, 0.0, p3)
    result = predict(spec, profile, seeds=3)
    # brute force: every sampled network, every port over capacity, by its cell's type
    types, capacity = cell_types(3, 3), capacity_grid(spec)
    expected = {}
    for seed in range(3):
        usage = port_usage(sample_links(3, 3, 4, profile, np.random.default_rng(seed)), 3, 3, 4)
        for i, j, port in zip(*np.nonzero(usage > capacity), strict=True):
            key = {NT: "cap_nt", R0: "cap_r0", R1: "cap_r1"}[int(types[i, j])]
            expected[key] = max(expected.get(key, 0), int(usage[i, j, port]))
    assert dict(result.short) == expected
    assert (not result.short) == (result.mappable_fraction == 1.0)

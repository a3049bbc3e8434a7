"""DeepR rewiring: hand cases and invariants after every step on random grids and profiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hardware.errors import ConfigError
from hardware.geometry import hop_distance_matrix
from hardware.profile import link_budget, link_counts
from model import deepr


def random_case(seed: int, method: str):
    """(rules, rng) of a random small grid, K, readout size and hop profile."""
    rng = np.random.default_rng(seed)
    rows, cols, k = (int(v) for v in rng.integers(1, 4, 3))
    k += 1
    n = rows * cols * k
    n_classes = int(rng.integers(1, n + 1))
    max_hops = int(hop_distance_matrix(rows, cols).max())
    profile = (0.0, float(rng.random()) * (max_hops >= 1), 0.0,
               float(rng.random()) * (max_hops >= 3))
    rules = deepr.make_rules(method, rows, cols, k, n_classes, profile)
    return rules, rng


def random_weights(rng: np.random.Generator, n: int, w_thr: float) -> torch.Tensor:
    """(N, N) weights around w_thr, so a fair share of links falls below the prune rule."""
    return torch.from_numpy(rng.normal(0.0, 1.5 * w_thr, (n, n)).astype(np.float32))


def check_pass(rules, before, weights, rewiring, prune_min):
    """What every DeepR pass must do: weak unprotected links go, the regrown ones replace
    exactly the pruned ones, and every link kept without regrowth is strong or protected."""
    k = rules.neurons_per_tile
    strong = deepr.block_counts(weights, k, 0.1) >= min(prune_min, k)
    frozen = deepr.protected(rules, before)
    kept = rewiring.links & ~rewiring.grown
    assert (kept <= before).all()  # nothing appears without regrowth
    assert (strong | frozen)[kept].all()  # a weak unprotected link never survives as is
    weak = before & ~strong & ~frozen
    np.testing.assert_array_equal(kept, before & ~weak)
    assert not (rewiring.grown & kept).any()
    assert (rewiring.grown <= rewiring.links).all()
    return int(weak.sum()), int(rewiring.grown.sum())


@pytest.mark.parametrize("seed", range(25))
def test_routing_aware_keeps_exact_budget_after_every_step(seed):
    rules, rng = random_case(seed, "routing_aware")
    links = deepr.initial_links(rules, rng)
    k, n = rules.neurons_per_tile, links.shape[0]
    frozen = deepr.protected(rules, links)
    for _ in range(4):
        prev = links
        weights, prune_min = random_weights(rng, n, 0.1), int(rng.integers(0, k + 3))
        rewiring = deepr.rewire(rules, links, weights, w_thr=0.1, prune_min=prune_min, rng=rng)
        links = rewiring.links
        n_weak, n_grown = check_pass(rules, prev, weights, rewiring, prune_min)
        assert n_grown == n_weak  # each group refilled to its budget: one new link per pruned
        counts = link_counts(links, rules.rows, rules.cols, k)
        np.testing.assert_array_equal(counts, rules.budget)
        non_protected = link_counts(links & ~frozen, rules.rows, rules.cols, k)
        protected = link_counts(frozen, rules.rows, rules.cols, k)
        np.testing.assert_array_equal(non_protected, rules.budget - protected)
        assert (links[frozen]).all()  # protected links never removed
        assert not (rewiring.grown & rules.into_output).any()  # none grown into output tiles
        assert not (links & ~rules.inter).any()  # intra-tile pairs are never links


@pytest.mark.parametrize("seed", range(25))
def test_deepr_keeps_total_budget_after_every_step(seed):
    rules, rng = random_case(seed, "deepr")
    links = deepr.initial_links(rules, rng)
    assert links.sum() == rules.total_budget
    frozen = deepr.protected(rules, links)
    for _ in range(4):
        prev = links
        weights = random_weights(rng, links.shape[0], 0.1)
        rewiring = deepr.rewire(rules, links, weights, w_thr=0.1, prune_min=2, rng=rng)
        links = rewiring.links
        n_weak, n_grown = check_pass(rules, prev, weights, rewiring, 2)
        assert n_grown == n_weak
        assert links.sum() == rules.total_budget
        assert links[frozen].all()
        assert not (links & ~rules.inter).any()


def test_a_pass_prunes_and_regrows_on_average():
    # The random cases above must exercise rewiring, not pass on untouched links.
    pruned = 0
    for seed in range(10):
        rules, rng = random_case(seed, "routing_aware")
        links = deepr.initial_links(rules, rng)
        weights = random_weights(rng, links.shape[0], 0.1)
        pruned += int(deepr.rewire(rules, links, weights, w_thr=0.1, prune_min=2,
                                   rng=rng).grown.sum())
    assert pruned > 20


def test_a_full_group_regrows_its_pruned_links_in_place():
    # 1x2 grid, K = 2, p1 = 1: every inter-tile pair is a link, so each pruned link is the only
    # free pair of its group and is chosen again: it must be reported as grown (fresh weights).
    rules = deepr.make_rules("routing_aware", 1, 2, 2, 1, (0.0, 1.0))
    links = deepr.initial_links(rules, np.random.default_rng(0))
    assert links.sum() == 4
    w = torch.full((4, 4), 0.5)
    w[0, 2:] = 0.01  # neuron 0 -> tile 1 is weak (tile 1 holds the output neuron 3 ...)
    w[2, :2] = 0.01  # ... so neuron 2 -> tile 0 is the weak unprotected link
    rewiring = deepr.rewire(rules, links, w, w_thr=0.1, prune_min=1,
                            rng=np.random.default_rng(1))
    np.testing.assert_array_equal(rewiring.links, links)
    assert rewiring.grown.tolist() == [[False, False], [False, False], [True, False],
                                       [False, False]]


def test_mosaic_starts_dense_and_keeps_links_with_a_non_zero_weight():
    rules = deepr.make_rules("mosaic", 1, 2, 2, 1, (0.0, 0.5))
    links = deepr.initial_links(rules, np.random.default_rng(0))
    np.testing.assert_array_equal(links, rules.inter)
    w = torch.zeros(4, 4)
    w[0, 3] = 1e-6  # one tiny non-zero weight keeps neuron 0 -> tile 1
    w[1, 0] = 0.3  # intra-tile: not a link
    rewiring = deepr.rewire(rules, links, w, w_thr=0.1, prune_min=2,
                            rng=np.random.default_rng(0))
    assert rewiring.links.tolist() == [[False, True], [False, False], [False, False],
                                       [False, False]]
    assert not rewiring.grown.any()


def test_mosaic_counts_a_zeroed_block_that_grew_back():
    # 1x2 grid, K = 2: neuron 0 -> tile 1 is zeroed at one epoch end (the link goes), its
    # weights grow back during the next epoch (the mask stays dense): the link is back.
    rules = deepr.make_rules("mosaic", 1, 2, 2, 1, (0.0, 0.5))
    w = torch.full((4, 4), 0.2)
    w[0, 2:] = 0.0
    first = deepr.rewire(rules, rules.inter.copy(), w, w_thr=0.1, prune_min=2,
                         rng=np.random.default_rng(0))
    assert first.links.tolist() == [[False, False], [False, True], [True, False],
                                    [True, False]]
    w[0, 3] = -0.05
    second = deepr.rewire(rules, first.links, w, w_thr=0.1, prune_min=2,
                          rng=np.random.default_rng(0))
    np.testing.assert_array_equal(second.links, rules.inter)
    assert not second.grown.any()


def test_prune_rule_by_hand():
    # 1x2 grid, K = 4, w_thr = 0.1. Neuron 0 -> tile 1 has 3 strong weights, neuron 1 -> tile 1
    # has 2, neuron 4 -> tile 0 has 4 (|w| = 0.1 counts as strong).
    w = torch.zeros(8, 8)
    w[0, 4:] = torch.tensor([0.2, -0.3, 0.05, 0.5])
    w[1, 4:] = torch.tensor([0.2, 0.05, -0.05, 0.5])
    w[4, :4] = torch.tensor([0.1, -0.1, 0.2, 0.3])
    strong = deepr.strong_weight_counts(w, 4, 0.1)
    assert strong[[0, 1, 4], [1, 1, 0]].tolist() == [3, 2, 4]
    links = np.zeros((8, 2), dtype=bool)
    links[[0, 1, 4], [1, 1, 0]] = True
    none = np.zeros_like(links)
    kept = deepr.prune(links, strong, 3, 4, none)
    assert kept[[0, 1, 4], [1, 1, 0]].tolist() == [True, False, True]
    # prune_min 20 > K is clipped to K = 4: only the all-strong link survives ...
    assert deepr.prune(links, strong, 20, 4, none)[[0, 1, 4], [1, 1, 0]].tolist() == [
        False, False, True]
    # ... unless protected.
    keep = none.copy()
    keep[1, 1] = True
    assert deepr.prune(links, strong, 20, 4, keep)[[0, 1, 4], [1, 1, 0]].tolist() == [
        False, True, True]


def test_regrow_fills_each_group_uniformly():
    groups = np.array([[0, 0, 0, 1], [1, 1, 2, 2]])
    links = np.array([[True, False, False, False], [False, False, False, False]])
    eligible = np.ones_like(links)
    eligible[1, 3] = False
    counts = np.zeros((2, 4))
    for seed in range(400):
        new = deepr.regrow(links, groups, np.array([2, 1, 1]), eligible,
                           np.random.default_rng(seed))
        assert not (new & links).any()
        out = links | new
        assert out[0, 0]
        assert np.bincount(groups[out], minlength=3).tolist() == [2, 1, 1]
        counts += out
    assert not counts[1, 3]  # never eligible
    assert counts[1, 2] == 400  # the only eligible pair of group 2
    # group 0 has two candidates, group 1 three: each drawn about equally often.
    assert abs(counts[0, 1] - counts[0, 2]) < 80
    assert all(abs(c - 400 / 3) < 60 for c in (counts[0, 3], counts[1, 0], counts[1, 1]))


def test_initial_links_exact_budget_and_deterministic():
    rules = deepr.make_rules("routing_aware", 3, 3, 4, 5, (0.0, 0.6, 0.0, 0.3))
    a = deepr.initial_links(rules, np.random.default_rng(3))
    b = deepr.initial_links(rules, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(link_counts(a, 3, 3, 4),
                                  link_budget(3, 3, 4, (0.0, 0.6, 0.0, 0.3)))


def test_protection_covers_links_into_output_tiles_only():
    # 1x3 grid, K = 2, 3 classes: the last 3 neurons are in tiles 1 and 2.
    rules = deepr.make_rules("routing_aware", 1, 3, 2, 3, (0.0, 1.0, 0.0, 1.0))
    assert rules.into_output[:, 0].sum() == 0
    assert rules.into_output[:, 1:].sum() == 6 - 2 + 6 - 2
    links = deepr.initial_links(rules, np.random.default_rng(0))
    np.testing.assert_array_equal(deepr.protected(rules, links), links & rules.into_output)
    mosaic_rules = deepr.make_rules("mosaic", 1, 3, 2, 3, (0.0, 1.0))
    assert not deepr.protected(mosaic_rules, mosaic_rules.inter).any()


def test_new_link_weights_law():
    grown = np.zeros((6, 3), dtype=bool)
    grown[0, 2] = grown[5, 0] = True
    w = deepr.new_link_weights(grown, 2, 0.1, 1.0, np.random.default_rng(0))
    block = np.repeat(grown, 2, axis=1)
    assert (w[~block] == 0).all()
    assert (np.abs(w[block]) >= 0.1).all()
    big = deepr.new_link_weights(np.ones((50, 5), dtype=bool), 10, 0.2, 0.5,
                                 np.random.default_rng(1))
    # |w| = w_thr + alpha * w_thr * |n|: E|n| = sqrt(2 / pi); both signs equally likely.
    assert np.abs(big).mean() == pytest.approx(0.2 + 0.1 * math.sqrt(2 / math.pi), rel=0.03)
    assert abs((big > 0).mean() - 0.5) < 0.03


def test_hop_cost_by_hand():
    # 1x3 grid, K = 1: hops 0 -> 1 is 1, 0 -> 2 is 2*2+1 = 5 (same row).
    cost = deepr.hop_cost(1, 3, 1, 0.5)
    assert cost[0, 0] == 0
    assert cost[0, 1] == pytest.approx(math.exp(0.5) - 1)
    assert cost[0, 2] == pytest.approx(math.exp(2.5) - 1)
    # beta = 8 (the original's): 1 hop gives e^8 - 1 = 2980, 5 hops e^40 - 1 is capped at e^15.
    cost = deepr.hop_cost(1, 3, 1, 8.0)
    assert cost[0, 1] == pytest.approx(math.exp(8) - 1, rel=1e-6)
    assert cost[0, 2] == pytest.approx(math.exp(15), rel=1e-6)
    assert np.isfinite(deepr.hop_cost(5, 5, 2, 8.0)).all()


def test_unknown_method_is_a_config_error():
    rule = r"method must be one of .* got 'magic' \(set \[training\]\.method\)"
    with pytest.raises(ConfigError, match=rule):
        deepr.make_rules("magic", 2, 2, 2, 2, (0.0, 0.5))

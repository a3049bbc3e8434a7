"""chip_aware: links placed and regrown within the trial chip's exact capacities always map."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from hardware.geometry import hop_distance_matrix
from hardware.profile import link_counts
from hardware.routing import check_mapping
from model import deepr
from model.train import train
from tests.conftest import make_spec
from tests.model.test_train import DATA_CFG, FAST, pattern_dataset


def random_chip(rng: np.random.Generator):
    rows, cols = (int(v) for v in rng.integers(1, 5, 2))
    k = int(rng.integers(2, 6))
    caps = {f"cap_{c}": int(rng.integers(0, 2 * k + 2)) for c in ("nt", "r0", "r1")}
    return make_spec(rows, cols, k, **caps)


@pytest.mark.parametrize("budget", ["profile", "total", "fill"])
@pytest.mark.parametrize("seed", range(12))
def test_every_pass_maps_on_random_chips(budget, seed):
    rng = np.random.default_rng(seed)
    spec = random_chip(rng)
    k, n = spec.neurons_per_tile, spec.n_neurons
    max_hops = int(hop_distance_matrix(spec.rows, spec.cols).max())
    profile = (0.0, 0.9 * (max_hops >= 1), 0.0, 0.5 * (max_hops >= 3))
    rules = deepr.make_rules("chip_aware", spec.rows, spec.cols, k, min(n, 3), profile, spec,
                             budget,
                             ("uniform", "nearest")[seed % 2])
    links = deepr.initial_links(rules, rng)
    for _ in range(3):
        assert check_mapping(spec, links).violations == 0
        if budget == "profile":  # the profile's budget is an upper bound per (tile, distance)
            counts = link_counts(links, spec.rows, spec.cols, k)
            assert (counts[:, :rules.budget.shape[1]] <= rules.budget).all()
        elif budget == "total":
            assert links.sum() <= rules.total_budget
        weights = torch.from_numpy(rng.normal(0, 0.15, (n, n)).astype(np.float32))
        rewiring = deepr.rewire(rules, links, weights, w_thr=0.1, prune_min=2, rng=rng)
        assert not (rewiring.grown & ~rewiring.links).any()  # every grown link is placed
        assert check_mapping(spec, rewiring.links).violations == 0  # growth within capacities
        links = rewiring.links
    assert check_mapping(spec, links).violations == 0


def test_fill_places_more_links_than_a_budget_and_all_map():
    spec = make_spec(3, 3, 8, cap_nt=16, cap_r0=4, cap_r1=12)
    rng = np.random.default_rng(0)
    placed = {}
    for budget in ("profile", "fill"):
        rules = deepr.make_rules("chip_aware", 3, 3, 8, 20, (0.0, 0.5, 0.0, 0.1), spec, budget)
        placed[budget] = deepr.initial_links(rules, rng)
        assert check_mapping(spec, placed[budget]).mappable
    assert placed["fill"].sum() > placed["profile"].sum()


@pytest.mark.parametrize("seed", range(3))
def test_trained_chip_aware_networks_map(seed):
    data = pattern_dataset(seed, n_train=64, n_val=16, n_test=16)
    spec = make_spec(2, 3, 4, cap_nt=6, cap_r0=2, cap_r1=4)  # tight: dense profiles overflow
    cfg = dataclasses.replace(FAST, method="chip_aware", epochs=3, seed=seed,
                              chip_budget="fill")
    result = train(spec, cfg, data, DATA_CFG)
    routing = check_mapping(spec, result.links)
    assert routing.mappable and routing.violations == 0 and result.n_links > 0

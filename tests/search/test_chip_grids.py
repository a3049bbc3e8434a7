"""The chip's size is a search dimension: on every sampled grid and tile size K the trial builds,
the input and output tiles, the readout, rewiring and the proxy gate work (property test)."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hardware.geometry import hop_distance_matrix
from hardware.profile import link_counts
from hardware.routing import check_mapping
from model import deepr
from model.network import TiledLIF, input_mask, output_tiles, readout_logits
from search.config.files import N_CLASSES, build_trial, load_config, resolve_defaults
from search.driver.trial import proxy_gate

CHIP = load_config("chip")


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 4), cols=st.integers(1, 4),
       k=st.sampled_from([2, 3, 4, 5, 8, 12, 16, 32]), n_inputs=st.integers(1, 48),
       method=st.sampled_from(["routing_aware", "chip_aware", "deepr"]),
       p1=st.floats(0.0, 1.0), p3=st.floats(0.0, 0.3), cap=st.integers(0, 64),
       seed=st.integers(0, 2**16))
def test_every_sampled_grid_builds_reads_out_rewires_and_gates(rows, cols, k, n_inputs, method,
                                                                p1, p3, cap, seed):
    tiles, n = rows * cols, rows * cols * k
    assume(n >= N_CLASSES and math.ceil(n_inputs / k) <= tiles)
    params = resolve_defaults(CHIP) | {"rows": rows, "cols": cols, "neurons_per_tile": k,
                                       "method": method, "p1": p1, "p3": p3, "cap_r1": cap}
    spec, train = build_trial(CHIP, params)
    assert spec.n_neurons == n
    # the pruning threshold is the fraction of this trial's K, rounded half up
    assert train.prune_min == math.floor(0.625 * k + 0.5) and 0 <= train.prune_min <= k
    assert len(train.hop_profile) - 1 <= hop_distance_matrix(rows, cols).max()

    # input tiles: channel j drives exactly the K neurons of tile j // K
    mask = input_mask(n_inputs, n, k)
    assert (mask.sum(axis=1) == k).all()
    driven = np.flatnonzero(mask.any(axis=0)) // k
    assert set(driven) == set(range(math.ceil(n_inputs / k)))
    # output tiles: exactly those holding the last n_classes neurons
    readout_tiles = set(np.arange(n - N_CLASSES, n) // k)
    assert set(output_tiles(n, k, N_CLASSES).tolist()) == readout_tiles

    rng = np.random.default_rng(seed)
    rules = deepr.make_rules(method, rows, cols, k, N_CLASSES, train.hop_profile, spec,
                             train.chip_budget, train.chip_order)
    links = deepr.initial_links(rules, rng)
    weights = torch.from_numpy(rng.normal(0, 0.15, (n, n)).astype(np.float32))
    after = deepr.rewire(rules, links, weights, w_thr=train.w_thr, prune_min=train.prune_min,
                         rng=rng).links
    assert not (after & ~rules.inter).any()  # never an intra-tile link
    assert (after >= deepr.protected(rules, links)).all()  # links into output tiles stay
    if method == "routing_aware":  # exactly the profile's links per (tile, distance)
        assert (link_counts(links, rows, cols, k)[:, :rules.budget.shape[1]]
                == rules.budget).all()
    if method == "chip_aware":
        assert check_mapping(spec, after).violations == 0

    # the network runs on this grid and the readout has one count per class
    net = TiledLIF(n_inputs, n, k, decay=0.97, threshold=1.0, reset=train.reset)
    net.set_links(after)
    with torch.no_grad():
        net.w_in.normal_(0, 2.0, generator=torch.Generator().manual_seed(seed))
        net.w_rec.copy_(weights)
    x = torch.from_numpy((rng.random((2, 6, n_inputs)) < 0.5).astype(np.float32))
    spikes = net(x)
    assert spikes.shape == (2, 6, n) and set(spikes.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(readout_logits(spikes, N_CLASSES),
                       spikes[:, :, sorted(range(n - N_CLASSES, n))].sum(dim=1))

    # the proxy gate decides every configuration it gates (chip_aware trains unjudged)
    _, record, proxy = proxy_gate(spec, train, params)
    if method == "chip_aware":
        assert record is None and proxy is None
    else:
        assert proxy is not None and proxy.memory_cells >= 0
        assert (record is None) == proxy.fits

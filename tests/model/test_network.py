"""LIF kernel against hand-worked trajectories, surrogate gradient, fused vs reference, masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.block_lif import block_sources
from model.network import (
    TiledLIF,
    decay_factor,
    expand_links,
    input_mask,
    lif_recurrence,
    lif_recurrence_blocks,
    lif_reference,
    lif_step,
    output_tiles,
    readout_logits,
    recurrent_mask,
    spike_fn,
    surrogate_derivative,
)

KERNELS = (lif_reference, lif_recurrence)


def lif_blocks(currents, w, decay, threshold, reset="detached"):
    """The block kernel with one neuron per tile and every block listed (any W allowed)."""
    sources = block_sources(torch.ones_like(w), 1)
    return lif_recurrence_blocks(currents, w, sources, decay, threshold, reset)


def test_lif_step_single_neuron_by_hand():
    # a = 0.5, theta = 1, currents 0.6, 0.6, 0.6, 0, 1.5, no recurrence:
    # t0: u = 0.6 -> no spike, v = 0.6
    # t1: u = 0.5*0.6 + 0.6 = 0.9 -> no spike, v = 0.9
    # t2: u = 0.45 + 0.6 = 1.05 -> spike, v = 1.05 - 1 = 0.05 (soft reset)
    # t3: u = 0.025 -> no spike, v = 0.025
    # t4: u = 0.0125 + 1.5 = 1.5125 -> spike, v = 0.5125
    v = torch.zeros(1, 1, dtype=torch.float64)
    z = torch.zeros_like(v)
    w = torch.zeros(1, 1, dtype=torch.float64)
    vs, zs = [], []
    for current in (0.6, 0.6, 0.6, 0.0, 1.5):
        v, z = lif_step(v, z, torch.full((1, 1), current, dtype=torch.float64), w, 0.5, 1.0)
        vs.append(float(v))
        zs.append(float(z))
    assert zs == [0, 0, 1, 0, 1]
    np.testing.assert_allclose(vs, [0.6, 0.9, 0.05, 0.025, 0.5125], atol=1e-12)


@pytest.mark.parametrize("kernel", (*KERNELS, lif_blocks))
def test_recurrent_trajectory_by_hand(kernel):
    # Two neurons, a = 0.5, theta = 1, W[0, 1] = 0.7 (neuron 0 -> neuron 1), nothing else.
    # Neuron 0, currents 1.2, 0, 0, 0: t0 u = 1.2 -> spike (v = 0.2); then 0.1, 0.05, 0.025.
    # Neuron 1, currents 0.4 each bin:
    # t0: u = 0.4 (no spike in bin -1) -> v = 0.4
    # t1: u = 0.5*0.4 + 0.4 + 0.7 * z0(t0) = 1.3 -> spike, v = 0.3
    # t2: u = 0.15 + 0.4 = 0.55; t3: u = 0.275 + 0.4 = 0.675 -> no spikes.
    currents = torch.tensor([[[1.2, 0.4], [0.0, 0.4], [0.0, 0.4], [0.0, 0.4]]],
                            dtype=torch.float64)
    w = torch.tensor([[0.0, 0.7], [0.0, 0.0]], dtype=torch.float64)
    spikes = kernel(currents, w, 0.5, 1.0)
    assert spikes[0].tolist() == [[1, 0], [0, 1], [0, 0], [0, 0]]


@pytest.mark.parametrize("x, expected", [(0.0, 1.0), (0.1, 0.25), (-0.3, 1 / 16), (2.0, 1 / 441)])
def test_surrogate_gradient_matches_formula(x, expected):
    # d/dx H(x) is replaced by 1 / (10|x| + 1)^2: x = 0.1 -> 1/(1+1)^2, x = -0.3 -> 1/(3+1)^2.
    t = torch.tensor([x], dtype=torch.float64, requires_grad=True)
    spike_fn(t).sum().backward()
    assert float(t.grad) == pytest.approx(expected)
    assert float(surrogate_derivative(torch.tensor(x))) == pytest.approx(expected)
    assert float(spike_fn(torch.tensor(x))) == (1.0 if x > 0 else 0.0)


@pytest.mark.parametrize("seed", range(6))
def test_fused_recurrence_matches_reference(seed):
    gen = torch.Generator().manual_seed(seed)
    batch, steps, n = (int(v) for v in torch.randint(1, 9, (3,), generator=gen))
    currents = torch.randn(batch, steps, n, generator=gen, dtype=torch.float64) * 1.3
    w = torch.randn(n, n, generator=gen, dtype=torch.float64) * 0.6
    weights = torch.randn(batch, steps, n, generator=gen, dtype=torch.float64)
    results = []
    for kernel in KERNELS:
        c, ww = currents.clone().requires_grad_(), w.clone().requires_grad_()
        spikes = kernel(c, ww, 0.7, 1.0)
        ((spikes * weights).sum() + spikes.sum(1).square().sum()).backward()
        results.append((spikes.detach(), c.grad, ww.grad))
    for ours, ref in zip(results[0], results[1], strict=True):
        torch.testing.assert_close(ours, ref)
    assert results[0][0].sum() > 0  # the case exercises spikes, not a silent network


def test_fused_recurrence_without_weight_gradient():
    currents = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    spikes = lif_recurrence(currents, torch.eye(3, dtype=torch.float64), 0.5, 0.5)
    spikes.sum().backward()
    assert currents.grad.shape == (2, 5, 3)


def test_masks_by_hand():
    # 2 tiles of K = 2: neuron 0 -> tile 1 is the only link.
    links = np.array([[False, True], [False, False], [False, False], [False, False]])
    expanded = expand_links(links, 2)
    assert expanded.astype(int).tolist() == [[0, 0, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0],
                                             [0, 0, 0, 0]]
    mask = recurrent_mask(links, 2)
    assert mask.astype(int).tolist() == [[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1],
                                         [0, 0, 1, 1]]
    # 3 inputs, K = 2, N = 6: inputs 0, 1 feed tile 0 (neurons 0-1), input 2 feeds tile 1.
    assert input_mask(3, 6, 2).astype(int).tolist() == [[1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0],
                                                         [0, 0, 1, 1, 0, 0]]


@pytest.mark.parametrize("n, k, classes, expected", [(12, 4, 4, [2]), (12, 4, 5, [1, 2]),
                                                      (12, 4, 12, [0, 1, 2]), (6, 6, 3, [0])])
def test_output_tiles(n, k, classes, expected):
    assert output_tiles(n, k, classes).tolist() == expected


def test_decay_factor():
    assert decay_factor(1.0, 10, 0.1) == pytest.approx(np.exp(-1.0))


def test_module_currents_and_masked_gradients():
    gen = torch.Generator().manual_seed(0)
    net = TiledLIF(n_inputs=3, n_neurons=8, neurons_per_tile=2, decay=0.8, threshold=0.5)
    links = np.zeros((8, 4), dtype=bool)
    links[0, 3] = True
    net.set_links(links)
    with torch.no_grad():
        net.w_in.copy_(torch.randn(3, 8, generator=gen))
        net.w_rec.copy_(torch.randn(8, 8, generator=gen))
    x = torch.rand(2, 6, 3, generator=gen) * 3
    currents = net.input_currents(x)
    expected = x @ (net.w_in * torch.from_numpy(input_mask(3, 8, 2)).float())
    torch.testing.assert_close(currents, expected)
    assert currents[..., 4:].abs().sum() == 0  # tiles 2 and 3 get no input
    spikes = net(x)
    readout_logits(spikes, 3).sum().backward()
    allowed = torch.from_numpy(recurrent_mask(links, 2))
    assert net.w_rec.grad[~allowed].abs().sum() == 0
    assert net.w_rec.grad[allowed].abs().sum() > 0
    assert net.w_in.grad[~torch.from_numpy(input_mask(3, 8, 2))].abs().sum() == 0
    assert readout_logits(spikes, 3).tolist() == spikes[:, :, -3:].sum(1).tolist()

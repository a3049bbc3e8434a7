"""The two reset conventions: hand trajectories, and fused kernel vs autograd loop."""

from __future__ import annotations

import pytest
import torch

from model.network import lif_recurrence, lif_reference


@pytest.mark.parametrize("reset, expected", [
    # a = 0.5, theta = 1, currents 1.5, 0.2, 1.0, no recurrence.
    # detached: u0 = 1.5 spikes, v0 = 0.5; u1 = 0.25 + 0.2 = 0.45; u2 = 0.225 + 1.0 = 1.225 spikes.
    ("detached", [1.0, 0.0, 1.0]),
    # original: v0 = 1.5 spikes; v1 = 0.75 + 0.2 - 1 = -0.05; v2 = -0.025 + 1.0 = 0.975: silent.
    ("original", [1.0, 0.0, 0.0]),
])
def test_hand_trajectory(reset, expected):
    currents = torch.tensor([[[1.5], [0.2], [1.0]]])
    w = torch.zeros(1, 1)
    for kernel in (lif_recurrence, lif_reference):
        assert kernel(currents, w, 0.5, 1.0, reset).flatten().tolist() == expected


@pytest.mark.parametrize("reset", ["detached", "original"])
@pytest.mark.parametrize("seed", range(4))
def test_fused_equals_autograd_values_and_gradients(reset, seed):
    gen = torch.Generator().manual_seed(seed)
    currents = (torch.rand(3, 12, 6, generator=gen, dtype=torch.float64) * 1.6)
    w = torch.randn(6, 6, generator=gen, dtype=torch.float64) * 0.4
    grad_out = torch.randn(3, 12, 6, generator=gen, dtype=torch.float64)
    results = []
    for kernel in (lif_recurrence, lif_reference):
        c, ww = currents.clone().requires_grad_(), w.clone().requires_grad_()
        spikes = kernel(c, ww, 0.9, 1.0, reset)
        (spikes * grad_out).sum().backward()
        results.append((spikes.detach(), c.grad, ww.grad))
    for fused, ref in zip(*results, strict=True):
        torch.testing.assert_close(fused, ref)


def test_unknown_reset_is_rejected():
    with pytest.raises(ValueError, match="reset must be one of"):
        lif_recurrence(torch.zeros(1, 2, 1), torch.zeros(1, 1), 0.5, 1.0, "hard")

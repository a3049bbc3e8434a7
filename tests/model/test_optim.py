"""Masked Adam: removed weights and their moments stay zero; regrown ones start fresh."""

from __future__ import annotations

import torch

from model.optim import MaskedAdam


def train_steps(param: torch.nn.Parameter, optimizer: MaskedAdam, steps: int,
                gen: torch.Generator) -> None:
    """A few optimizer steps on a random quadratic loss that pulls every entry."""
    target = torch.randn(param.shape, generator=gen)
    for _ in range(steps):
        optimizer.zero_grad()
        ((param - target) ** 2).sum().backward()
        optimizer.step()


def test_masked_entries_and_moments_stay_zero():
    gen = torch.Generator().manual_seed(0)
    param = torch.nn.Parameter(torch.randn(6, 5, generator=gen))
    optimizer = MaskedAdam([param], lr=0.05)
    train_steps(param, optimizer, 3, gen)  # moments everywhere are non-zero now
    state = optimizer.state[param]
    assert (state["exp_avg"] != 0).all() and (state["exp_avg_sq"] != 0).all()
    mask = torch.rand(6, 5, generator=gen) < 0.5
    optimizer.set_mask(param, mask)
    assert (param[~mask] == 0).all()
    assert (state["exp_avg"][~mask] == 0).all() and (state["exp_avg_sq"][~mask] == 0).all()
    before = param.detach().clone()
    train_steps(param, optimizer, 5, gen)
    assert (param[~mask] == 0).all()  # pruned weights stay zero after optimizer steps
    assert (state["exp_avg"][~mask] == 0).all() and (state["exp_avg_sq"][~mask] == 0).all()
    assert (param[mask] != before[mask]).all()  # the rest keeps training


def test_regrown_entries_restart_with_zero_moments():
    gen = torch.Generator().manual_seed(1)
    param = torch.nn.Parameter(torch.randn(4, 4, generator=gen))
    optimizer = MaskedAdam([param], lr=0.05)
    mask = torch.ones(4, 4, dtype=torch.bool)
    mask[0] = False
    optimizer.set_mask(param, mask)
    train_steps(param, optimizer, 2, gen)
    regrown = torch.zeros(4, 4, dtype=torch.bool)
    regrown[0, :2] = True
    reset = regrown.clone()
    reset[1, 0] = True  # a kept entry whose moments are asked to restart
    optimizer.set_mask(param, mask | regrown, reset=reset)
    state = optimizer.state[param]
    assert (state["exp_avg"][reset] == 0).all() and (state["exp_avg_sq"][reset] == 0).all()
    assert (state["exp_avg"][1, 1:] != 0).all()
    assert (param[0, 2:] == 0).all()


def test_set_mask_before_any_step():
    param = torch.nn.Parameter(torch.ones(3))
    optimizer = MaskedAdam([param], lr=0.1)
    optimizer.set_mask(param, torch.tensor([True, False, True]))
    assert param.tolist() == [1.0, 0.0, 1.0]
    param.sum().backward()
    optimizer.step()
    assert param[1] == 0 and param[0] < 1

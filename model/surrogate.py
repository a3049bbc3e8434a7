"""The spike nonlinearity: Heaviside step forward, surrogate gradient 1 / (10|x| + 1)^2 backward.

Shared by the per-step LIF reference and the fused kernels (`model.network`,
`model.block_lif`), so the surrogate formula lives in one function.
"""

from __future__ import annotations

import torch


class SpikeFunction(torch.autograd.Function):
    """Heaviside step H(x) (1.0 where x > 0) with surrogate gradient 1 / (10|x| + 1)^2."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        """H(x) as x's dtype."""
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> torch.Tensor:
        """grad_out times the surrogate derivative at x."""
        (x,) = ctx.saved_tensors
        return grad_out * surrogate_derivative(x)


def surrogate_derivative(x: torch.Tensor) -> torch.Tensor:
    """The surrogate dz/dx = 1 / (10|x| + 1)^2, elementwise, same shape and dtype as `x`."""
    # one new tensor, then in place: the block kernel calls this once per time bin
    return x.abs().mul_(10.0).add_(1.0).pow_(-2)


def spike_fn(x: torch.Tensor) -> torch.Tensor:
    """Spikes H(x) of `x` = u - theta, differentiable through the surrogate gradient."""
    return SpikeFunction.apply(x)

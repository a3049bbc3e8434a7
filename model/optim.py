"""Masked Adam: gradients, moments and parameters stay zero outside each parameter's mask.

DeepR removes and adds weights between epochs. A removed weight must not keep moving on its
stale Adam moments, and a regrown one must start from fresh moments, so `set_mask` zeroes the
parameter and both moments wherever the mask is off and `step` masks the gradients.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class MaskedAdam(torch.optim.Adam):
    """torch.optim.Adam with optional bool masks (same shape as their parameter).

    Entries outside a mask have zero gradient, zero exp_avg and zero exp_avg_sq, hence a zero
    update: the parameter stays exactly zero there.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float) -> None:
        super().__init__(params, lr=lr)
        self.masks: dict[torch.nn.Parameter, torch.Tensor] = {}

    @torch.no_grad()
    def set_mask(self, param: torch.nn.Parameter, mask: torch.Tensor,
                 reset: torch.Tensor | None = None) -> None:
        """Mask `param` (bool, param's shape); zero it and its moments outside the mask.

        reset: optional bool entries (inside the mask) whose moments restart at zero, e.g.
        regrown weights.
        """
        mask = mask.to(device=param.device, dtype=torch.bool)
        self.masks[param] = mask
        cleared = ~mask if reset is None else ~mask | reset.to(param.device)
        param.masked_fill_(~mask, 0.0)
        for key in ("exp_avg", "exp_avg_sq"):
            moment = self.state.get(param, {}).get(key)
            if moment is not None:
                moment.masked_fill_(cleared, 0.0)

    @torch.no_grad()
    def step(self, closure=None):
        """Mask the gradients, then take torch.optim.Adam's step."""
        for param, mask in self.masks.items():
            if param.grad is not None:
                param.grad.masked_fill_(~mask, 0.0)
        return super().step(closure)

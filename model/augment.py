"""Training-time augmentation of binned spike inputs, drawn per sample for every batch.

Speaker generalisation needs invariance to what changes between voices: when a word starts
(time shift), how fast it is said (time stretch) and where the formants lie on the frequency
axis (channel jitter: a vocal tract's length moves every resonance by about the same amount on
an ERB-like axis). Each sample's input is read through one index map,
out[t, c] = in[floor((t - shift) / stretch), c - jitter], zero outside the input; validation and
test inputs are never changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the per-sample draws: shift in [-time_shift, time_shift] bins, jitter in
    [-channel_jitter, channel_jitter] inputs, stretch in [1 - time_stretch, 1 + time_stretch]."""

    time_shift: int = 0
    channel_jitter: int = 0
    time_stretch: float = 0.0

    @property
    def active(self) -> bool:
        """True when any augmentation is on."""
        return self.time_shift > 0 or self.channel_jitter > 0 or self.time_stretch > 0


def augment(x: torch.Tensor, aug: Augmentation, gen: torch.Generator) -> torch.Tensor:
    """x float (B, T, C) read through a random shift, stretch and jitter per sample (draws from
    `gen`, on the CPU; x unchanged when no augmentation is active)."""
    if not aug.active:
        return x
    b, t, c = x.shape
    shift = torch.randint(-aug.time_shift, aug.time_shift + 1, (b, 1), generator=gen)
    jitter = torch.randint(-aug.channel_jitter, aug.channel_jitter + 1, (b, 1), generator=gen)
    stretch = 1.0 + aug.time_stretch * (2.0 * torch.rand((b, 1), generator=gen) - 1.0)
    src_t = torch.floor((torch.arange(t)[None, :] - shift) / stretch).long()  # (B, T)
    src_c = torch.arange(c)[None, :] - jitter  # (B, C)
    valid = ((src_t >= 0) & (src_t < t))[:, :, None] & ((src_c >= 0) & (src_c < c))[:, None, :]
    rows = src_t.clamp(0, t - 1)[:, :, None].expand(b, t, c)
    cols = src_c.clamp(0, c - 1)[:, None, :].expand(b, t, c)
    batch = torch.arange(b)[:, None, None].expand(b, t, c)
    device = x.device
    out = x[batch.to(device), rows.to(device), cols.to(device)]
    return out * valid.to(device, out.dtype)

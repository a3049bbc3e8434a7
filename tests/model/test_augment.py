"""Training-time augmentation: shifts, jitter and stretch move spikes as declared, drawn per
sample from the run's generator; off means the batch is untouched."""

from __future__ import annotations

import torch

from model.augment import Augmentation, augment


def _one_spike(b: int = 64, t: int = 20, c: int = 8, at: tuple[int, int] = (8, 4)) -> torch.Tensor:
    x = torch.zeros(b, t, c)
    x[:, at[0], at[1]] = 1.0
    return x


def _where(x: torch.Tensor) -> torch.Tensor:
    """(bin, input) of the single spike of every sample (B, 2)."""
    return torch.stack([torch.nonzero(s)[0] for s in x])


def test_inactive_augmentation_returns_the_batch_and_draws_nothing():
    x, gen = _one_spike(), torch.Generator().manual_seed(0)
    state = gen.get_state()
    assert augment(x, Augmentation(), gen) is x
    assert torch.equal(gen.get_state(), state)


def test_time_shift_moves_each_sample_by_at_most_the_range_and_uses_all_of_it():
    y = augment(_one_spike(), Augmentation(time_shift=3), torch.Generator().manual_seed(0))
    where = _where(y)
    assert set(where[:, 0].tolist()) == set(range(5, 12))  # 8 + [-3, 3], every value drawn
    assert (where[:, 1] == 4).all() and (y.sum(dim=(1, 2)) == 1).all()


def test_channel_jitter_moves_inputs_only():
    y = augment(_one_spike(), Augmentation(channel_jitter=2), torch.Generator().manual_seed(1))
    where = _where(y)
    assert set(where[:, 1].tolist()) == set(range(2, 7)) and (where[:, 0] == 8).all()


def test_shifted_out_spikes_are_dropped_not_wrapped():
    x = _one_spike(at=(0, 0))
    y = augment(x, Augmentation(time_shift=2, channel_jitter=2), torch.Generator().manual_seed(2))
    kept = y.sum(dim=(1, 2))
    assert (kept <= 1).all() and 0 < kept.sum() < len(x)
    assert y[:, 18:, :].sum() == 0 and y[:, :, 6:].sum() == 0  # no wrap-around


def test_time_stretch_scales_a_spikes_time_within_the_range():
    y = augment(_one_spike(t=40, at=(20, 4)), Augmentation(time_stretch=0.2),
                torch.Generator().manual_seed(3))
    bins = y.sum(dim=2).nonzero()[:, 1]  # every bin that reads bin 20
    # out bin t reads bin floor(t / f), f in [0.8, 1.2]: t in [20 f, 21 f), within [16, 25]
    assert bins.min() >= 16 and bins.max() <= 25 and len(set(bins.tolist())) > 3


def test_the_same_generator_state_gives_the_same_batch():
    aug, x = Augmentation(3, 2, 0.1), torch.rand(8, 20, 8)
    a = augment(x, aug, torch.Generator().manual_seed(5))
    assert torch.equal(a, augment(x, aug, torch.Generator().manual_seed(5)))
    assert not torch.equal(a, augment(x, aug, torch.Generator().manual_seed(6)))

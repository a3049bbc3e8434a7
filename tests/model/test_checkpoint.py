"""model/checkpoint.py: a checkpoint is checked before a run continues from it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from model.checkpoint import CheckpointError, check_state, expected_state
from model.train import train
from tests.conftest import make_spec
from tests.model.test_train import DATA_CFG, FAST, pattern_dataset

CFG = dataclasses.replace(FAST, epochs=3)


def saved_state(cfg=CFG, epoch: int = 2) -> dict[str, np.ndarray]:
    """The checkpoint of a real run of make_spec(2, 2, 4) on the pattern data after `epoch`."""
    saved = {}

    def keep(report, checkpoint):
        if report.epoch == epoch:
            saved.update(checkpoint())

    train(make_spec(2, 2, 4), cfg, pattern_dataset(), DATA_CFG, on_epoch=keep)
    return saved


@pytest.fixture(scope="module")
def state() -> dict[str, np.ndarray]:
    return saved_state()


SHAPE = expected_state(make_spec(2, 2, 4), CFG, n_inputs=8)


def test_a_sound_checkpoint_passes(state):
    check_state(state, SHAPE)
    check_state(state | {"epoch": np.array(3), "curve": np.ones(3)}, SHAPE)  # the last epoch


@pytest.mark.parametrize(("change", "message"), [
    ({"epoch": np.array(99), "curve": np.ones(99)}, r"epoch 99 is outside 0\.\.3"),
    ({"epoch": np.array(-1)}, r"epoch -1 is outside"),
    ({"epoch": np.array(1.5)}, r"epoch 1\.5 is outside"),
    ({"epoch": np.array("2")}, r"epoch is not a number"),
    ({"format": np.array(7)}, r"format 7, expected 1"),
    ({"curve": np.ones(5)}, r"curve is float64 \(5,\).*needs float \(2,\)"),
    ({"w_rec": np.full((16, 16), np.nan, np.float32)}, r"w_rec holds non-finite values"),
    ({"w_in": np.full((8, 16), np.inf, np.float32)}, r"w_in holds non-finite values"),
    ({"w_rec.exp_avg": np.full((16, 16), np.nan, np.float32)}, r"w_rec\.exp_avg holds non-fin"),
    ({"w_rec": np.zeros((24, 24), np.float32)}, r"w_rec is float32 \(24, 24\).*\(16, 16\)"),
    ({"links": np.zeros((16, 4), np.float32)}, r"links is float32 \(16, 4\).*bool"),
    ({"links": np.zeros((16, 5), bool)}, r"links is bool \(16, 5\)"),
    ({"initial_rate": np.array(np.nan)}, r"initial_rate is not finite"),
    ({"rng": np.frombuffer(b"{not json", np.uint8)}, r"rng is not a numpy generator state"),
    ({"rng": np.frombuffer(b'{"bit_generator": "MT19937"}', np.uint8)}, r"rng is not a numpy"),
    ({"gen": np.zeros(12, np.uint8)}, r"gen is not a torch generator state"),
    ({"gen": np.zeros((2, 2), np.float64)}, r"gen is not a generator state"),
])
def test_a_damaged_checkpoint_is_refused_naming_the_problem(state, change, message):
    with pytest.raises(CheckpointError, match=message):
        check_state(state | change, SHAPE)


@pytest.mark.parametrize("key", ["w_in", "links", "rng", "epoch"])
def test_a_checkpoint_without_a_key_is_refused(state, key):
    with pytest.raises(CheckpointError, match=f"lacks {key}"):
        check_state({k: v for k, v in state.items() if k != key}, SHAPE)


def test_a_partial_adam_state_is_refused(state):
    with pytest.raises(CheckpointError, match="only.*of w_rec's Adam state"):
        check_state({k: v for k, v in state.items() if k != "w_rec.step"}, SHAPE)


def test_a_mosaic_run_resumed_from_a_checkpoint_continues_its_weight_noise_exactly():
    # issue 18: the Mosaic baseline draws weight noise in every training forward pass from its
    # own generator; a run continued from the checkpoint after epoch 2 must match the
    # uninterrupted run bit for bit, which it does only if that generator's state was saved.
    import torch

    spec, data = make_spec(2, 2, 4), pattern_dataset()
    cfg = dataclasses.replace(CFG, method="mosaic", mosaic_noise=0.2, epochs=4)
    full = train(spec, cfg, data, DATA_CFG)
    state = saved_state(cfg, epoch=2)
    assert "noise_gen" in state
    resumed = train(spec, cfg, data, DATA_CFG, state=state)
    assert resumed.loss_curve == full.loss_curve
    np.testing.assert_array_equal(resumed.w_rec, full.w_rec)
    np.testing.assert_array_equal(resumed.w_in, full.w_in)
    # the check can fail: a noise generator restarted at its seed gives another run
    fresh = torch.Generator().manual_seed(cfg.seed + 2).get_state().numpy()
    restarted = train(spec, cfg, data, DATA_CFG, state=state | {"noise_gen": fresh})
    assert restarted.loss_curve[2:] != full.loss_curve[2:]
    with pytest.raises(CheckpointError, match="lacks noise_gen"):  # a state that lost it
        train(spec, cfg, data, DATA_CFG, state={k: v for k, v in state.items()
                                                if k != "noise_gen"})

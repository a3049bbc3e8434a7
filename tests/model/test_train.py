"""Training: learns structured data, determinism, divergence, device choice, result fields."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from hardware.errors import ConfigError
from hardware.profile import link_budget, link_counts
from model.config import DataConfig, TrainConfig
from model.data import BinnedDataset
from model.train import TrainResult, resolve_device, train
from tests.conftest import make_spec

DATA_CFG = DataConfig(time_bins=20, duration=0.4, n_inputs=8)
FAST = TrainConfig(hop_profile=(0.0, 0.8, 0.0, 0.5), epochs=6, batch_size=16, lr=0.01,
                   prune_min=2, device="cpu")


def pattern_split(rng: np.random.Generator, n: int, classes: int = 4, bins: int = 20,
                  inputs: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """x uint8 (n, bins, inputs), y int64 (n,): class c fires channels 2c, 2c+1 (mod inputs)
    during a class-specific half of the bins, plus background noise."""
    y = rng.integers(0, classes, n)
    x = (rng.random((n, bins, inputs)) < 0.05).astype(np.uint8)
    for i, c in enumerate(y):
        half = slice(0, bins // 2) if c % 2 == 0 else slice(bins // 2, bins)
        channels = [(2 * c) % inputs, (2 * c + 1) % inputs]
        x[i, half, channels[0]] += rng.poisson(2.0, bins // 2).astype(np.uint8)
        x[i, half, channels[1]] += rng.poisson(2.0, bins // 2).astype(np.uint8)
    return x, y.astype(np.int64)


def pattern_dataset(seed: int = 0, n_train: int = 240, n_val: int = 40,
                    n_test: int = 80) -> BinnedDataset:
    """A small separable BinnedDataset with 4 classes, 20 bins, 8 inputs."""
    rng = np.random.default_rng(seed)
    splits = [pattern_split(rng, n) for n in (n_train, n_val, n_test)]
    return BinnedDataset(*splits[0], *splits[1], *splits[2], n_classes=4, cache_key="test")


@pytest.fixture(scope="module")
def data() -> BinnedDataset:
    return pattern_dataset()


@pytest.fixture(scope="module")
def trained(data) -> TrainResult:
    return train(make_spec(2, 2, 4), FAST, data, DATA_CFG)


def test_learns_well_above_chance(trained):
    # 4 classes: chance is 25%.
    assert trained.accuracy >= 0.7
    assert trained.val_accuracy >= 0.6
    assert trained.loss_curve[-1] < trained.loss_curve[0]
    assert not trained.diverged and trained.message == "ok"
    assert trained.epochs_run == 6
    assert trained.initial_rate > 0  # neurons fire from the start


def test_result_fields_are_consistent(trained, data):
    links = trained.links
    assert links.shape == (16, 4) and links.dtype == bool
    assert trained.n_links == int(links.sum())
    np.testing.assert_array_equal(link_counts(links, 2, 2, 4),
                                  link_budget(2, 2, 4, FAST.hop_profile))
    assert trained.hop_profile[1] == pytest.approx(0.8, abs=0.13)
    assert trained.hop_profile[3] == pytest.approx(0.5, abs=0.13)
    assert trained.n_input_rows == 8
    assert trained.n_weights == 16 * 4 + trained.n_links * 4 + 8 * 4
    assert trained.mean_spike_counts.shape == (16,)
    assert trained.mean_spike_counts.sum() > 0
    assert all(0 <= a <= 1 for a in (trained.accuracy, trained.val_accuracy,
                                     trained.train_accuracy))
    assert trained.train_seconds > 0


def test_same_seed_same_result(trained, data):
    again = train(make_spec(2, 2, 4), FAST, data, DATA_CFG)
    assert again == trained  # compares accuracies, loss curve, profile, counts ...
    np.testing.assert_array_equal(again.links, trained.links)
    np.testing.assert_array_equal(again.mean_spike_counts, trained.mean_spike_counts)
    other = train(make_spec(2, 2, 4), dataclasses.replace(FAST, seed=1, epochs=1), data,
                  DATA_CFG)
    assert not np.array_equal(other.links, trained.links)


def test_deepr_keeps_the_total_budget(data):
    cfg = dataclasses.replace(FAST, method="deepr", epochs=3)
    result = train(make_spec(2, 2, 4), cfg, data, DATA_CFG)
    assert result.n_links == int(link_budget(2, 2, 4, cfg.hop_profile).sum())
    assert result.accuracy > 0.25 and not result.diverged


def test_mosaic_links_are_the_blocks_with_a_non_zero_weight(data):
    cfg = dataclasses.replace(FAST, method="mosaic", epochs=20)  # the original constants
    result = train(make_spec(2, 2, 4), cfg, data, DATA_CFG)
    assert not result.diverged
    n = result.w_rec.shape[0]
    alive = (result.w_rec != 0).reshape(n, n // 4, 4).any(axis=2)
    inter = np.repeat(np.arange(4), 4)[:, None] != np.arange(4)[None, :]
    np.testing.assert_array_equal(result.links, alive & inter)
    assert result.n_links < inter.sum()  # the penalty and pruning removed links
    assert result.hop_profile[1] >= result.hop_profile[3]  # far links go first


def test_mosaic_prunes_and_clips_the_forward_copy_only(data):
    # As the original: the optimiser keeps the parameters; the forward pass, the links and the
    # result use a pruned and clipped copy that is never written back. 240 samples / 16 = 15
    # steps per epoch, so pruning is on after the first epoch (warm-up 10 steps).
    from model.train import apply_rewiring, build_run, run_epoch

    cfg = dataclasses.replace(FAST, method="mosaic", epochs=3)
    run = build_run(make_spec(2, 2, 4), cfg, data, DATA_CFG, torch.device("cpu"))
    run_epoch(run, data, cfg, 1)
    with torch.no_grad():
        run.net.w_rec[0, 4:8] = 2e-4  # neuron 0 -> tile 1: every weight below prune_thr
        run.net.w_rec[5, 0] = 50.0  # far beyond the clip bound
    for group in run.optimizer.param_groups:
        group["lr"] = 1e-12  # the parameters barely move in epoch 2
    run_epoch(run, data, cfg, 2)
    apply_rewiring(run, cfg)
    with torch.no_grad():
        w_in, w_rec = run.net.weights()
        assert run.net.w_rec[0, 4:8].tolist() == pytest.approx([2e-4] * 4, abs=1e-9)
        assert float(run.net.w_rec[5, 0]) == pytest.approx(50.0)
    assert (w_rec[0, 4:8] == 0).all() and not run.links[0, 1]
    # the bound: 2.5 standard deviations of the pruned parameters (zeros included) and the
    # input weights together
    with torch.no_grad():
        theta = run.net.w_rec * run.net.rec_mask
        pruned = torch.where(theta.abs() < cfg.mosaic_prune_thr, 0.0, theta)
        inputs = run.net.w_in[run.net.in_mask.bool()]
    bound = cfg.mosaic_clip_std * float(torch.cat([pruned.flatten(), inputs]).std())
    assert float(w_rec[5, 0]) == pytest.approx(bound, rel=1e-5) and bound < 50.0
    assert float(w_rec.abs().max()) <= bound * (1 + 1e-6)


def test_recurrent_gain_follows_the_fan_in(data):
    from model.train import build_run

    spec = make_spec(2, 2, 4)
    plain = build_run(spec, FAST, data, DATA_CFG, torch.device("cpu"))
    assert plain.net.rec_gain == 1.0  # rec_fan_in = 0: off
    cfg = dataclasses.replace(FAST, rec_fan_in=3.0)
    run = build_run(spec, cfg, data, DATA_CFG, torch.device("cpu"))
    # fan-in = K + links / tiles: 4 intra-tile sources plus the linked sources per tile
    fan_in = 4 + run.links.sum() / 4
    assert run.net.rec_gain == pytest.approx((3.0 / fan_in) ** 0.5) and run.net.rec_gain < 1
    # the forward pass runs on gain * W: the same spikes as gain 1 with scaled weights
    x = torch.from_numpy(data.train_x[:8].astype(np.float32))
    with torch.no_grad():
        spikes = run.net(x)
        run.net.w_rec.mul_(run.net.rec_gain)
        run.net.rec_gain = 1.0
        assert torch.equal(run.net(x), spikes) and spikes.sum() > 0
    # a dense start (mosaic) counts its budget, as its weights are scaled to it
    mosaic = build_run(spec, dataclasses.replace(cfg, method="mosaic"), data, DATA_CFG,
                       torch.device("cpu"))
    budget = int(link_budget(2, 2, 4, FAST.hop_profile).sum())
    assert mosaic.net.rec_gain == pytest.approx((3.0 / (4 + budget / 4)) ** 0.5)


def test_weak_links_regrown_in_place_get_fresh_weights_and_moments(data):
    # p1 = 1 on 2x2: every 1-hop pair is a link, so a pruned link is the only free pair of its
    # group and regrowth picks it again. It must restart from fresh weights and zero moments.
    from model.train import apply_rewiring, build_run, run_epoch

    cfg = dataclasses.replace(FAST, hop_profile=(0.0, 1.0, 0.0, 0.0), prune_min=3, epochs=2)
    run = build_run(make_spec(2, 2, 4), cfg, data, DATA_CFG, torch.device("cpu"))
    run_epoch(run, data, cfg, 1)
    weak = run.links & ~run.rules.into_output
    weak[np.flatnonzero(weak.any(axis=1))[1:]] = False  # one neuron's links
    entries = torch.from_numpy(np.repeat(weak, 4, axis=1))
    with torch.no_grad():
        run.net.w_rec[entries] = 1e-3
    before = run.links.copy()
    apply_rewiring(run, cfg)
    np.testing.assert_array_equal(run.links, before)  # the full groups are refilled in place
    state = run.optimizer.state[run.net.w_rec]
    assert (run.net.w_rec[entries].abs() >= cfg.w_thr).all()
    assert (state["exp_avg"][entries] == 0).all() and (state["exp_avg_sq"][entries] == 0).all()


def test_non_finite_gradient_returns_diverged(data):
    cfg = dataclasses.replace(FAST, lr=1e10, epochs=3)
    result = train(make_spec(2, 2, 4), cfg, data, DATA_CFG)
    assert result.diverged
    assert result.message.startswith("non-finite gradient at epoch 1, batch ")
    assert result.epochs_run == 0 and result.loss_curve == ()
    assert 0 <= result.accuracy <= 1


def test_non_finite_loss_returns_diverged(data):
    # lambda = 1e38 times a capped hop cost overflows float32: the loss is not finite.
    cfg = dataclasses.replace(FAST, method="mosaic", mosaic_lambda=1e38, epochs=2)
    result = train(make_spec(2, 2, 4), cfg, data, DATA_CFG)
    assert result.diverged
    assert result.message.startswith("non-finite loss")
    assert "at epoch 1, batch 1" in result.message


def test_exploding_weights_are_diverged_not_ok(data):
    # lr = 1e3: finite losses, but weights far beyond any sensible scale.
    result = train(make_spec(2, 2, 4), dataclasses.replace(FAST, lr=1e3, epochs=2), data,
                   DATA_CFG)
    assert result.diverged
    assert "lower [training].lr" in result.message


def test_zero_epochs_evaluates_the_initial_network(data):
    result = train(make_spec(2, 2, 4), dataclasses.replace(FAST, epochs=0), data, DATA_CFG)
    assert result.loss_curve == () and result.epochs_run == 0


def test_empty_validation_split_gives_nan(data):
    empty = dataclasses.replace(data, val_x=data.val_x[:0], val_y=data.val_y[:0])
    result = train(make_spec(2, 2, 4), dataclasses.replace(FAST, epochs=1), empty, DATA_CFG)
    assert np.isnan(result.val_accuracy)


@pytest.mark.parametrize("change, message", [
    ({"method": "magic"}, "method must be one of"),
    ({"lr": 0.0}, "lr must be > 0, got 0.0 (set [training].lr)"),
    ({"batch_size": 0}, "batch_size must be >= 1"),
    ({"lr_decay": 1.5}, "lr_decay must be in (0, 1]"),
    ({"device": "tpu"}, "device must be auto, cpu, mps or cuda[:i], got 'tpu'"),
    ({"threads": 0}, 'threads must be "auto" or an integer >= 1, got 0'),
    ({"rec_fan_in": -1.0}, "rec_fan_in must be >= 0, got -1.0"),
    ({"threads": "two"}, 'threads must be "auto" or an integer >= 1, got \'two\''),
])
def test_bad_config_raises(change, message, data):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        train(make_spec(2, 2, 4), dataclasses.replace(FAST, **change), data, DATA_CFG)


@pytest.mark.parametrize("threads, during", [("auto", 1), (3, 3)])
def test_training_runs_on_its_threads_and_restores_the_callers(threads, during, data):
    seen = []
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train(make_spec(2, 2, 4), dataclasses.replace(FAST, epochs=1, threads=threads), data,
              DATA_CFG, on_epoch=lambda report, state: seen.append(torch.get_num_threads()))
        assert seen == [during] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_chip_too_small_for_readout_or_inputs(data):
    with pytest.raises(ConfigError, match="readout needs n_classes = 4 neurons but the chip"):
        train(make_spec(1, 1, 3), dataclasses.replace(FAST, hop_profile=(0.0,)), data,
              DATA_CFG)
    with pytest.raises(ConfigError, match="n_inputs = 8 needs 4 input tiles"):
        train(make_spec(1, 3, 2), FAST, data, DATA_CFG)


def test_device_selection():
    assert resolve_device("auto", cuda_available=False) == torch.device("cpu")
    assert resolve_device("auto", cuda_available=True) == torch.device("cuda")
    assert resolve_device("cpu", cuda_available=True) == torch.device("cpu")
    assert resolve_device("cuda:1", cuda_available=True) == torch.device("cuda:1")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda", cuda_available=False)
    with pytest.raises(ConfigError, match="device must be auto, cpu, mps or cuda"):
        resolve_device("cuda:x", cuda_available=True)


def test_tiny_synthetic_shd_well_above_chance(tmp_path):
    # The embedded synthetic SHD (20 classes, chance 5%) on a 3x3 x 8 chip, 50 bins, 32 inputs.
    from model.data import load_dataset

    data_cfg = DataConfig(root=str(tmp_path), time_bins=50, n_inputs=32, synthetic_train=600,
                          synthetic_test=100)
    data = load_dataset(data_cfg)
    cfg = TrainConfig(epochs=6, prune_min=5, device="cpu")
    result = train(make_spec(3, 3, 8), cfg, data, data_cfg)
    assert result.accuracy >= 0.12
    assert result.train_accuracy >= 0.12


def test_progress_bar_silent_without_terminal(data, capsys):
    train(make_spec(2, 2, 4), dataclasses.replace(FAST, epochs=1, progress=True), data,
          DATA_CFG)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize("method", ["routing_aware", "deepr"])
def test_rewiring_zeroes_removed_weights_and_moments(method, data):
    from model.train import apply_rewiring, build_run, run_epoch

    cfg = dataclasses.replace(FAST, method=method, prune_min=4, epochs=3)
    run = build_run(make_spec(2, 3, 4), cfg, data, DATA_CFG, torch.device("cpu"))
    n_removed = 0
    for epoch in (1, 2, 3):
        before = run.links.copy()
        run_epoch(run, data, cfg, epoch)
        apply_rewiring(run, cfg)
        off = ~run.net.rec_mask.bool()
        state = run.optimizer.state[run.net.w_rec]
        assert (run.net.w_rec[off] == 0).all()
        assert (state["exp_avg"][off] == 0).all() and (state["exp_avg_sq"][off] == 0).all()
        grown = torch.from_numpy(np.repeat(run.links & ~before, 4, axis=1))
        assert (state["exp_avg"][grown] == 0).all()
        assert (run.net.w_rec[grown].abs() >= cfg.w_thr).all()  # fresh +-(w_thr + ...) weights
        n_removed += int((before & ~run.links).sum())
    assert n_removed > 0  # the case exercises pruning


@pytest.mark.parametrize("method", ["routing_aware", "mosaic"])
def test_checkpoint_continues_exactly(method, data):
    # Stop after epoch 2 of 4 (as a killed worker would), continue from the checkpoint: the
    # result equals the uninterrupted run's, bit for bit, on CPU (mosaic: the forward copy's
    # rule, pruning on, is restored with it).
    from model.checkpoint import CheckpointError

    cfg = dataclasses.replace(FAST, epochs=4, method=method)
    full = train(make_spec(2, 2, 4), cfg, data, DATA_CFG)
    saved = {}

    def keep(report, checkpoint):
        if report.epoch == 2:
            saved.update(checkpoint())

    train(make_spec(2, 2, 4), dataclasses.replace(cfg, epochs=4), data, DATA_CFG,
          on_epoch=keep)
    resumed = train(make_spec(2, 2, 4), cfg, data, DATA_CFG, state=saved)
    assert resumed.loss_curve == full.loss_curve
    np.testing.assert_array_equal(resumed.links, full.links)
    np.testing.assert_array_equal(resumed.w_rec, full.w_rec)
    assert resumed.accuracy == full.accuracy
    with pytest.raises(CheckpointError, match="does not match this run"):
        train(make_spec(2, 3, 4), cfg, data, DATA_CFG, state=saved)


def test_epoch_reports(data):
    reports = []
    train(make_spec(2, 2, 4), dataclasses.replace(FAST, epochs=3), data, DATA_CFG,
          on_epoch=lambda report, _: reports.append(report))
    assert [r.epoch for r in reports] == [1, 2, 3] and all(r.epochs == 3 for r in reports)
    assert all(0 <= r.val_accuracy <= 1 and r.firing_rate > 0 for r in reports)
    assert reports[-1].n_links == int(link_budget(2, 2, 4, FAST.hop_profile).sum())


def test_learning_rate_schedules_by_hand():
    from model.setup import learning_rate

    exp = TrainConfig(lr=0.1, lr_decay=0.5, epochs=10)
    assert [learning_rate(exp, e) for e in (0, 1, 3)] == pytest.approx([0.1, 0.05, 0.0125])
    poly = TrainConfig(lr=0.1, epochs=10, lr_schedule="polynomial")
    # constant for the first 20% (2 epochs); after 6 epochs q = (0.6 - 0.2) / 0.8 = 0.5:
    # 0.01 + 0.09 * 0.5^0.5 = 0.07364; after all 10: lr / 10.
    assert [learning_rate(poly, e) for e in (0, 2, 6, 10)] == pytest.approx(
        [0.1, 0.1, 0.01 + 0.09 * 0.5 ** 0.5, 0.01])


def test_rate_regularisers_by_hand():
    from model.train import rate_penalty

    spikes = torch.zeros(2, 5, 4)
    spikes[:, :, 0] = 1.0  # neuron 0 fires every bin, the others never: mean z = 0.25
    neuron = TrainConfig(rate_reg=2.0, target_rate=0.25)
    # per neuron: 2 * mean((1 - 0.25)^2, 3 x (0 - 0.25)^2) = 2 * (0.5625 + 3 * 0.0625) / 4
    assert float(rate_penalty(spikes, neuron)) == pytest.approx(0.375)
    population = TrainConfig(rate_reg=2.0, target_rate=5.0, rate_reg_form="population")
    # the original: 2 * (5 - 10 * 0.25)^2 = 12.5
    assert float(rate_penalty(spikes, population)) == pytest.approx(12.5)


def test_augmentation_changes_training_inputs_only_and_resumes_exactly(data, monkeypatch):
    # the training batches go through model.augment with the run's generator (a checkpoint
    # holds its state, so a resumed run draws the same shifts); evaluation never does
    import model.train as train_module

    seen = []
    real = train_module.augment

    def spy(x, aug, gen):
        seen.append(aug)
        return real(x, aug, gen)

    monkeypatch.setattr(train_module, "augment", spy)
    cfg = dataclasses.replace(FAST, epochs=2, time_shift=2, channel_jitter=1, time_stretch=0.1)
    full = train(make_spec(2, 2, 4), cfg, data, DATA_CFG)
    assert seen and all(a.time_shift == 2 and a.channel_jitter == 1 for a in seen)
    plain = train(make_spec(2, 2, 4), dataclasses.replace(cfg, time_shift=0, channel_jitter=0,
                                                          time_stretch=0.0), data, DATA_CFG)
    assert plain.loss_curve != full.loss_curve
    saved = {}

    def keep(report, checkpoint):
        if report.epoch == 1:
            saved.update(checkpoint())

    train(make_spec(2, 2, 4), cfg, data, DATA_CFG, on_epoch=keep)
    resumed = train(make_spec(2, 2, 4), cfg, data, DATA_CFG, state=saved)
    assert resumed.loss_curve == full.loss_curve and resumed.accuracy == full.accuracy

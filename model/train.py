"""Training of one tiled LIF network with DeepR rewiring: `train(spec, cfg, data, data_cfg)`.

Per epoch: shuffled mini-batches (uint8 numpy -> float tensors per batch), cross-entropy on the
readout spike counts plus the firing-rate regulariser (plus the hop-cost penalty for mosaic_l2),
masked Adam; then one rewiring (`model.deepr.rewire`; the DeepR methods skip it after the last
epoch, where regrown links would keep untrained random weights) and the learning-rate decay.
A non-finite loss or gradient stops training (diverged=True) instead of raising. At the end the
network is evaluated on the train, validation and test splits. Nothing is written to disk.
Randomness: input weights and batch order come from a torch.Generator seeded with cfg.seed,
links, recurrent weights and rewiring from np.random.default_rng([cfg.seed, 1]); no global seed
is touched, and the same seed gives the same result on CPU.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.nn import functional

from hardware.errors import ConfigError
from hardware.profile import realised_profile
from hardware.spec import MosaicSpec
from model import deepr
from model.config import METHODS, DataConfig, TrainConfig
from model.network import TiledLIF, decay_factor, readout_logits
from model.optim import MaskedAdam

if TYPE_CHECKING:
    from model.data import BinnedDataset

EVAL_BATCH = 256
INIT_SAMPLES = 256  # training samples used to scale the input weights


@dataclass(frozen=True)
class TrainResult:
    """Outcome of one training run.

    Accuracies are fractions in [0, 1] (val_accuracy is NaN when the validation split is
    empty). loss_curve: mean training loss per epoch run. links: bool (N, T) final links.
    hop_profile: realised p_d by hop distance d. mean_spike_counts: float64 (N,) spikes per
    test sample of each neuron. n_links: active inter-tile links. n_weights: weight slots of the
    final network: N*K intra-tile + K per link + n_input_rows*K input weights. initial_rate /
    final_rate: mean spikes per neuron per bin on the first training batch / the test set.
    """

    accuracy: float
    val_accuracy: float
    train_accuracy: float
    loss_curve: tuple[float, ...]
    links: np.ndarray = field(compare=False, repr=False)
    hop_profile: tuple[float, ...]
    mean_spike_counts: np.ndarray = field(compare=False, repr=False)
    n_links: int
    n_weights: int
    n_input_rows: int
    train_seconds: float = field(compare=False)
    diverged: bool
    message: str
    epochs_run: int
    initial_rate: float = 0.0
    final_rate: float = 0.0


def resolve_device(name: str, cuda_available: bool | None = None) -> torch.device:
    """torch.device for "auto" (CUDA when available, else CPU), "cpu" or "cuda[:i]"."""
    available = torch.cuda.is_available() if cuda_available is None else cuda_available
    if name == "auto":
        return torch.device("cuda" if available else "cpu")
    if name == "cpu" or (name.startswith("cuda") and available):
        try:
            return torch.device(name)
        except RuntimeError as err:
            raise ConfigError(f"device must be auto, cpu or cuda[:i], got {name!r} "
                              "(set [training].device)") from err
    if name.startswith("cuda"):
        raise ConfigError(f"device {name!r} requested but CUDA is not available "
                          "(set [training].device = \"auto\" or \"cpu\")")
    raise ConfigError(f"device must be auto, cpu or cuda[:i], got {name!r} "
                      "(set [training].device)")


def validate_setup(spec: MosaicSpec, cfg: TrainConfig, data: BinnedDataset,
                   data_cfg: DataConfig) -> None:
    """Raise ConfigError when cfg, the chip and the data cannot train together."""
    n, k, n_inputs = spec.n_neurons, spec.neurons_per_tile, data.n_inputs
    checks = (
        (cfg.method in METHODS, "training", "method", f"one of {METHODS}"),
        (cfg.epochs >= 0, "training", "epochs", ">= 0"),
        (cfg.batch_size >= 1, "training", "batch_size", ">= 1"),
        (math.isfinite(cfg.lr) and cfg.lr > 0, "training", "lr", "finite and > 0"),
        (0 < cfg.lr_decay <= 1, "training", "lr_decay", "in (0, 1]"),
        (cfg.tau > 0, "training", "tau", "> 0 seconds"),
        (cfg.threshold > 0, "training", "threshold", "> 0"),
        (cfg.w_thr >= 0, "training", "w_thr", ">= 0"),
        (cfg.prune_min >= 0, "training", "prune_min", ">= 0"),
        (cfg.alpha >= 0, "training", "alpha", ">= 0"),
        (cfg.input_gain > 0, "training", "input_gain", "> 0"),
        (data_cfg.duration > 0, "data", "duration", "> 0 seconds"),
    )
    for ok, section, key, rule in checks:
        if not ok:
            value = getattr(cfg if section == "training" else data_cfg, key)
            raise ConfigError(f"{key} must be {rule}, got {value!r} (set [{section}].{key})")
    if data.n_classes > n:
        raise ConfigError(f"the readout needs n_classes = {data.n_classes} neurons but the chip "
                          f"has N = {n} (enlarge [hardware] rows/cols/neurons_per_tile)")
    if -(-n_inputs // k) > spec.n_tiles:
        raise ConfigError(f"n_inputs = {n_inputs} needs {-(-n_inputs // k)} input tiles of "
                          f"{k} rows but the chip has {spec.n_tiles} tiles (lower [data].n_inputs)")
    if len(data.train_y) == 0:
        raise ConfigError("the training split is empty (lower [data].val_fraction or add data)")


@dataclass
class _Run:
    """Mutable state of one training run (internal)."""

    net: TiledLIF
    optimizer: MaskedAdam
    rules: deepr.LinkRules
    links: np.ndarray
    rng: np.random.Generator
    gen: torch.Generator
    device: torch.device
    hop_cost: torch.Tensor | None


def input_scale(train_x: np.ndarray, neurons_per_tile: int) -> float:
    """1 / sqrt(K * E[x^2]) over the first INIT_SAMPLES training samples: with input weights
    N(0, input_gain^2 * scale^2), a neuron's input current has std about input_gain."""
    x = np.asarray(train_x[:INIT_SAMPLES], dtype=np.float64)
    return 1.0 / math.sqrt(neurons_per_tile * max(float(np.mean(x * x)), 1e-6))


def initial_weights(rules: deepr.LinkRules, links: np.ndarray, cfg: TrainConfig,
                    rng: np.random.Generator) -> np.ndarray:
    """float32 (N, N): +-(w_thr + alpha * w_thr * |n|) on intra-tile blocks and active links.

    mosaic_l2 starts with every link, so its inter-tile weights are scaled by
    sqrt(budget / all links) to give the same recurrent input variance as the DeepR methods.
    """
    k = rules.neurons_per_tile
    w = deepr.new_link_weights(links | ~rules.inter, k, cfg.w_thr, cfg.alpha, rng)
    if rules.method == "mosaic_l2":
        shrink = math.sqrt(max(rules.total_budget, 1) / max(int(rules.inter.sum()), 1))
        w *= np.where(np.repeat(rules.inter, k, axis=1), shrink, 1.0).astype(np.float32)
    return w


def build_run(spec: MosaicSpec, cfg: TrainConfig, data: BinnedDataset, data_cfg: DataConfig,
              device: torch.device) -> _Run:
    """Network, optimizer, link rules and initial links of a run, all seeded from cfg.seed."""
    k = spec.neurons_per_tile
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng([cfg.seed, 1])
    rules = deepr.make_rules(cfg.method, spec.rows, spec.cols, k, data.n_classes,
                             tuple(cfg.hop_profile))
    links = deepr.initial_links(rules, rng)
    decay = decay_factor(data_cfg.duration, data.time_bins, cfg.tau)
    net = TiledLIF(data.n_inputs, spec.n_neurons, k, decay, cfg.threshold)
    scale = cfg.input_gain * input_scale(data.train_x, k)
    with torch.no_grad():
        net.w_in.copy_(torch.randn(net.w_in.shape, generator=gen) * scale)
        net.w_rec.copy_(torch.from_numpy(initial_weights(rules, links, cfg, rng)))
    net.set_links(links)
    net.to(device)
    optimizer = MaskedAdam(net.parameters(), lr=cfg.lr)
    optimizer.set_mask(net.w_in, net.in_mask.bool())
    optimizer.set_mask(net.w_rec, net.rec_mask.bool())
    cost = None
    if cfg.method == "mosaic_l2":
        cost = torch.from_numpy(deepr.hop_cost(rules, cfg.l2_beta)).to(device)
    return _Run(net, optimizer, rules, links, rng, gen, device, cost)


def to_tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    """float32 tensor on `device` of a uint8 numpy batch (n, time_bins, n_inputs).

    Slices of a memory-mapped split are read-only: np.require copies those (torch wants
    writable memory) and passes fancy-indexed batches (already copies) through.
    """
    return torch.from_numpy(np.require(x, requirements=("C", "W"))).to(device).float()


def batch_order(n: int, batch_size: int, gen: torch.Generator) -> list[np.ndarray]:
    """Shuffled mini-batches of indices into n samples, each sorted (fast memory-mapped reads)."""
    perm = torch.randperm(n, generator=gen).numpy()
    return [np.sort(perm[i:i + batch_size]) for i in range(0, n, batch_size)]


def batch_loss(run: _Run, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
               n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, spikes (B, T, N)): cross-entropy on readout counts + rate regulariser
    rate_reg * mean_i((rate_i - target_rate)^2) (rate: spikes per bin) + hop-cost penalty."""
    spikes = run.net(x)
    loss = functional.cross_entropy(readout_logits(spikes, n_classes), y)
    rate = spikes.mean(dim=(0, 1))
    loss = loss + cfg.rate_reg * (rate - cfg.target_rate).square().mean()
    if run.hop_cost is not None:
        w = run.net.w_rec * run.net.rec_mask
        loss = loss + cfg.l2_lambda * (run.hop_cost * w.square()).mean()
    return loss, spikes


def gradients_finite(net: TiledLIF) -> bool:
    """True when every parameter gradient is finite."""
    norms = [p.grad.norm() for p in net.parameters() if p.grad is not None]
    return bool(torch.isfinite(torch.stack(norms)).all()) if norms else True


def run_epoch(run: _Run, data: BinnedDataset, cfg: TrainConfig, epoch: int) -> tuple[float, str]:
    """(mean loss, "" or a divergence message) of one pass over the training split."""
    losses = []
    for b, idx in enumerate(batch_order(len(data.train_y), cfg.batch_size, run.gen)):
        x = to_tensor(data.train_x[idx], run.device)
        y = torch.from_numpy(np.asarray(data.train_y[idx], dtype=np.int64)).to(run.device)
        run.optimizer.zero_grad(set_to_none=True)
        loss, _ = batch_loss(run, x, y, cfg, data.n_classes)
        value = float(loss.detach())
        where = f"epoch {epoch}, batch {b + 1}"
        if not math.isfinite(value):
            return math.nan, f"non-finite loss {value} at {where} (lower [training].lr)"
        loss.backward()
        if not gradients_finite(run.net):
            return math.nan, f"non-finite gradient at {where} (lower [training].lr)"
        run.optimizer.step()
        losses.append(value)
    return float(np.mean(losses)), ""


def apply_rewiring(run: _Run, cfg: TrainConfig, epoch: int) -> None:
    """Rewire the links after `epoch` (1-based): zero removed weights and their Adam moments,
    give regrown links fresh weights with zero moments."""
    net, k = run.net, run.rules.neurons_per_tile
    new_links = deepr.rewire(run.rules, run.links, net.w_rec, w_thr=cfg.w_thr,
                             prune_min=cfg.prune_min, epoch=epoch, epochs=cfg.epochs,
                             rng=run.rng)
    grown = new_links & ~run.links
    fresh = torch.from_numpy(deepr.new_link_weights(grown, k, cfg.w_thr, cfg.alpha, run.rng))
    grown_entries = torch.from_numpy(np.repeat(grown, k, axis=1)).to(run.device)
    mask = net.set_links(new_links).bool()
    run.optimizer.set_mask(net.w_rec, mask, reset=grown_entries)
    with torch.no_grad():
        net.w_rec.copy_(torch.where(grown_entries, fresh.to(run.device), net.w_rec))
    run.links = new_links


@torch.no_grad()
def evaluate(net: TiledLIF, x: np.ndarray, y: np.ndarray, n_classes: int,
             device: torch.device) -> tuple[float, np.ndarray]:
    """(accuracy, spike counts float64 (N,) summed over samples) on one split (NaN if empty)."""
    counts = np.zeros(net.w_rec.shape[0])
    correct = 0
    for start in range(0, len(y), EVAL_BATCH):
        spikes = net(to_tensor(x[start:start + EVAL_BATCH], device))
        pred = readout_logits(spikes, n_classes).argmax(dim=1).cpu().numpy()
        correct += int((pred == np.asarray(y[start:start + EVAL_BATCH])).sum())
        counts += spikes.sum(dim=(0, 1)).double().cpu().numpy()
    return (correct / len(y) if len(y) else math.nan), counts


def initial_rate(run: _Run, data: BinnedDataset) -> float:
    """Mean spikes per neuron per bin of the initial network on the first training batch."""
    with torch.no_grad():
        x = to_tensor(data.train_x[:EVAL_BATCH], run.device)
        return float(run.net(x).mean())


def epoch_bar(cfg: TrainConfig) -> Iterable[int]:
    """A tqdm bar over epochs when cfg.progress and stderr is a terminal, else a plain range."""
    if cfg.progress and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(range(1, cfg.epochs + 1), desc="epochs", unit="epoch", leave=False)
    return range(1, cfg.epochs + 1)


def fit(run: _Run, data: BinnedDataset, cfg: TrainConfig) -> tuple[list[float], str]:
    """Train for cfg.epochs; returns (per-epoch mean losses, divergence message or "")."""
    curve: list[float] = []
    bar = epoch_bar(cfg)
    for epoch in bar:
        loss, message = run_epoch(run, data, cfg, epoch)
        if message:
            return curve, message
        curve.append(loss)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss:.3f}")
        # DeepR regrowth after the last epoch would add untrained random weights: skip it.
        if cfg.method == "mosaic_l2" or epoch < cfg.epochs:
            apply_rewiring(run, cfg, epoch)
        for group in run.optimizer.param_groups:
            group["lr"] = cfg.lr * cfg.lr_decay ** epoch
    return curve, ""


def train(spec: MosaicSpec, cfg: TrainConfig, data: BinnedDataset,
          data_cfg: DataConfig) -> TrainResult:
    """Train the network of `spec` on `data` with `cfg` (data_cfg gives the bins' duration).

    Raises ConfigError / LinksError for settings that cannot work; a diverging run returns
    diverged=True with a message instead.
    """
    validate_setup(spec, cfg, data, data_cfg)
    start = time.perf_counter()
    run = build_run(spec, cfg, data, data_cfg, resolve_device(cfg.device))
    rate0 = initial_rate(run, data)
    curve, message = fit(run, data, cfg)
    seconds = time.perf_counter() - start
    n_classes, net, device = data.n_classes, run.net, run.device
    acc, counts = evaluate(net, data.test_x, data.test_y, n_classes, device)
    val_acc, _ = evaluate(net, data.val_x, data.val_y, n_classes, device)
    train_acc, _ = evaluate(net, data.train_x, data.train_y, n_classes, device)
    return result_of(run, data, curve, message, (acc, val_acc, train_acc), counts, seconds,
                     rate0)


def result_of(run: _Run, data: BinnedDataset, curve: list[float], message: str,
              accuracies: tuple[float, float, float], test_counts: np.ndarray, seconds: float,
              rate0: float) -> TrainResult:
    """Assemble the TrainResult of a finished (or diverged) run."""
    rules, links = run.rules, run.links
    k = rules.neurons_per_tile
    n = links.shape[0]
    n_test = max(len(data.test_y), 1)
    n_links = int(links.sum())
    return TrainResult(
        accuracy=accuracies[0], val_accuracy=accuracies[1], train_accuracy=accuracies[2],
        loss_curve=tuple(curve), links=links.copy(),
        hop_profile=tuple(float(p) for p in realised_profile(links, rules.rows, rules.cols, k)),
        mean_spike_counts=test_counts / n_test, n_links=n_links,
        n_weights=n * k + n_links * k + data.n_inputs * k, n_input_rows=data.n_inputs,
        train_seconds=seconds, diverged=bool(message), message=message or "ok",
        epochs_run=len(curve), initial_rate=rate0,
        final_rate=float(test_counts.sum() / n_test / data.time_bins / n))

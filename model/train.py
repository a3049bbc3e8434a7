"""Training of one tiled LIF network with rewiring: `train(spec, cfg, data, data_cfg)`.

Per epoch: shuffled mini-batches (uint8 numpy -> float tensors per batch), cross-entropy on the
readout spike counts plus the firing-rate regulariser (plus the method's penalty), masked Adam
(per-weight pruning: the forward pass uses a pruned and clipped copy of the weights, renewed
after every step, while the optimiser keeps the parameters); then one rewiring
(`model.deepr.rewire`; methods without `rewire_last_epoch` skip it after the last epoch, where
regrown links would keep untrained random weights) and the learning-rate schedule. What
differs between methods comes from their record in `model.methods`.
A non-finite loss or gradient, or weights grown beyond any sensible scale, stops training
(diverged=True) instead of raising. At the end the network is evaluated on the train,
validation and test splits. Nothing is written to disk.
Randomness: input weights, batch order and weight noise come from torch.Generators seeded with
cfg.seed, links, recurrent weights and rewiring from np.random.default_rng([cfg.seed, 1]); no
global seed is touched, and the same seed gives the same result on CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.nn import functional

from hardware.errors import ConfigError
from hardware.profile import realised_profile
from hardware.spec import MosaicSpec
from model import deepr
from model.augment import Augmentation, augment
from model.config import DataConfig, TrainConfig
from model.evaluation import Evaluation, evaluate_split, to_tensor
from model.methods import PENALTIES, draws_weight_noise, get_method
from model.network import TiledLIF, WeightRule, decay_factor, readout_logits
from model.optim import MaskedAdam
from model.run import Run, RunState
from model.setup import epoch_bar, learning_rate, torch_threads, validate_setup

if TYPE_CHECKING:
    from model.data import BinnedDataset

INIT_SAMPLES = 256  # training samples used to scale the input weights
DIVERGED_WEIGHT = 1e3  # |w| beyond this many thresholds: a run that blew up (lr far too large)


@dataclass(frozen=True)
class TrainResult:
    """Outcome of one training run.

    Accuracies are fractions in [0, 1] (val_accuracy is NaN when the validation split is
    empty); with stride-augmented data `accuracy` and `val_accuracy` are over every shifted
    copy of their split, `accuracy_first_copy` over the test set's first copy (equal
    otherwise), and `train_accuracy` over the training set's first copy. loss_curve: mean training
    loss per epoch run. links: bool (N, T) final links. w_in float32 (n_inputs, N) and w_rec
    float32 (N, N): the weights the network runs on (masked, w_rec times the recurrent gain;
    the Mosaic baseline's forward copy). hop_profile: realised p_d by hop distance d.
    mean_spike_counts: float64 (N,) spikes per test sample of each neuron. n_links: active
    inter-tile links. n_weights: weight slots of the final network: N*K intra-tile + K per link
    + n_input_rows*K input weights. initial_rate / final_rate: mean spikes per neuron per bin on
    the first training batch / the test set.
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
    accuracy_first_copy: float = math.nan
    w_in: np.ndarray | None = field(default=None, compare=False, repr=False)
    w_rec: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class EpochReport:
    """What `train` tells its `on_epoch` callback after every epoch (rates: spikes/neuron/bin)."""

    epoch: int
    epochs: int
    loss: float
    val_accuracy: float
    firing_rate: float
    n_links: int


def resolve_device(name: str, cuda_available: bool | None = None) -> torch.device:
    """torch.device for "auto" (CUDA when available, else CPU), "cpu", "mps" or "cuda[:i]"."""
    available = torch.cuda.is_available() if cuda_available is None else cuda_available
    if name == "mps":  # Apple GPUs: the kernels are plain torch (not run on MPS in our CI)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        raise ConfigError("device 'mps' requested but MPS is not available (set "
                          "[training].device = \"auto\" or \"cpu\")")
    if name == "auto":
        return torch.device("cuda" if available else "cpu")
    if name == "cpu" or (name.startswith("cuda") and available):
        try:
            return torch.device(name)
        except RuntimeError as err:
            raise ConfigError(f"device must be auto, cpu, mps or cuda[:i], got {name!r} "
                              "(set [training].device)") from err
    if name.startswith("cuda"):
        raise ConfigError(f"device {name!r} requested but CUDA is not available "
                          "(set [training].device = \"auto\" or \"cpu\")")
    raise ConfigError(f"device must be auto, cpu, mps or cuda[:i], got {name!r} "
                      "(set [training].device)")


def input_scale(train_x: np.ndarray, neurons_per_tile: int) -> float:
    """1 / sqrt(K * E[x^2]) over the first INIT_SAMPLES training samples: with input weights
    N(0, input_gain^2 * scale^2), a neuron's input current has std about input_gain."""
    x = np.asarray(train_x[:INIT_SAMPLES], dtype=np.float64)
    return 1.0 / math.sqrt(neurons_per_tile * max(float(np.mean(x * x)), 1e-6))


def initial_weights(rules: deepr.LinkRules, links: np.ndarray, cfg: TrainConfig,
                    rng: np.random.Generator) -> np.ndarray:
    """float32 (N, N): +-(w_thr + alpha * w_thr * |n|) on intra-tile blocks and active links.

    A dense start ("all" links) scales its inter-tile weights by sqrt(budget / all links), so
    the recurrent input has the variance of a budgeted start with the same profile.
    """
    k = rules.neurons_per_tile
    w = deepr.new_link_weights(links | ~rules.inter, k, cfg.w_thr, cfg.alpha, rng)
    if rules.method.initial_links == "all":
        shrink = math.sqrt(max(rules.total_budget, 1) / max(int(rules.inter.sum()), 1))
        w *= np.where(np.repeat(rules.inter, k, axis=1), shrink, 1.0).astype(np.float32)
    return w


def recurrent_gain(rules: deepr.LinkRules, links: np.ndarray, cfg: TrainConfig) -> float:
    """sqrt(rec_fan_in / fan-in), fan-in = K + initial links / tiles (a dense start counts its
    budget: its weights are scaled to a budgeted start's variance); 1 when rec_fan_in is 0."""
    if cfg.rec_fan_in <= 0:
        return 1.0
    n_links = rules.total_budget if rules.method.initial_links == "all" else int(links.sum())
    fan_in = rules.neurons_per_tile + n_links / (rules.rows * rules.cols)
    return math.sqrt(cfg.rec_fan_in / fan_in)


def build_run(spec: MosaicSpec, cfg: TrainConfig, data: BinnedDataset, data_cfg: DataConfig,
              device: torch.device) -> Run:
    """Network, optimizer, link rules and initial links of a run, all seeded from cfg.seed."""
    k = spec.neurons_per_tile
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng([cfg.seed, 1])
    rules = deepr.make_rules(cfg.method, spec.rows, spec.cols, k, data.n_classes,
                             tuple(cfg.hop_profile), spec, cfg.chip_budget, cfg.chip_order)
    links = deepr.initial_links(rules, rng)
    decay = decay_factor(data_cfg.duration, data.time_bins, cfg.tau)
    net = TiledLIF(data.n_inputs, spec.n_neurons, k, decay, cfg.threshold, cfg.reset)
    scale = cfg.input_gain * input_scale(data.train_x, k)
    with torch.no_grad():
        net.w_in.copy_(torch.randn(net.w_in.shape, generator=gen) * scale)
        net.w_rec.copy_(torch.from_numpy(initial_weights(rules, links, cfg, rng)))
    net.set_links(links)
    net.rec_gain = recurrent_gain(rules, links, cfg)
    net.to(device)
    if draws_weight_noise(cfg.method, cfg.mosaic_noise):
        net.noise = cfg.mosaic_noise
        net.noise_gen = torch.Generator(device=device).manual_seed(cfg.seed + 2)
    optimizer = MaskedAdam(net.parameters(), lr=cfg.lr)
    optimizer.set_mask(net.w_in, net.in_mask.bool())
    optimizer.set_mask(net.w_rec, net.rec_mask.bool())
    cost = None
    if rules.method.penalty == "mosaic_hop":
        cost = torch.from_numpy(deepr.hop_cost(spec.rows, spec.cols, k, cfg.mosaic_beta))
        cost = cost.to(device)
    return Run(net, optimizer, rules, links, rng, gen, device, cost)


def batch_order(n: int, batch_size: int, gen: torch.Generator) -> list[np.ndarray]:
    """Shuffled mini-batches of indices into n samples, each sorted (fast memory-mapped reads)."""
    perm = torch.randperm(n, generator=gen).numpy()
    return [np.sort(perm[i:i + batch_size]) for i in range(0, n, batch_size)]


def rate_penalty(spikes: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """The firing-rate regulariser of spikes float (B, T, N) (see TrainConfig.rate_reg_form)."""
    if cfg.rate_reg_form == "population":
        return cfg.rate_reg * (cfg.target_rate - 10.0 * spikes.mean()).square()
    rate = spikes.mean(dim=(0, 1))
    return cfg.rate_reg * (rate - cfg.target_rate).square().mean()


def _mosaic_hop_penalty(run: Run, cfg: TrainConfig) -> torch.Tensor:
    w = run.net.weights()[1]  # the forward copy, as the original's penalty
    return cfg.mosaic_lambda * (run.hop_cost * w.square()).mean()


_PENALTY: dict[str, Callable[[Run, TrainConfig], torch.Tensor] | None] = {
    "none": None, "mosaic_hop": _mosaic_hop_penalty}
if set(_PENALTY) != set(PENALTIES):  # a penalty named in model.methods lacks its code
    raise ImportError("model.train does not implement every penalty of model.methods")


def batch_loss(run: Run, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
               n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, spikes (B, T, N)): cross-entropy on readout counts + rate regulariser + the
    method's penalty."""
    spikes = run.net(x)
    loss = functional.cross_entropy(readout_logits(spikes, n_classes), y)
    loss = loss + rate_penalty(spikes, cfg)
    penalty = _PENALTY[run.rules.method.penalty]
    if penalty is not None:
        loss = loss + penalty(run, cfg)
    return loss, spikes


def gradients_finite(net: TiledLIF) -> bool:
    """True when every parameter gradient is finite."""
    norms = [p.grad.norm() for p in net.parameters() if p.grad is not None]
    return bool(torch.isfinite(torch.stack(norms)).all()) if norms else True


@torch.no_grad()
def mosaic_forward_copy(w_in: torch.Tensor, w_rec: torch.Tensor, *, in_mask: torch.Tensor,
                        prune_thr: float, clip_std: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The Mosaic baseline's forward copy of the masked weights w_in (n_inputs, N) and w_rec
    (N, N), as the original's `pruner`: recurrent weights with |w| < prune_thr zeroed, then both
    clipped to +-clip_std standard deviations of the pruned recurrent matrix (zeros included)
    and the input weights on in_mask (bool (n_inputs, N)) together (the original's one matrix
    holds the input blocks too). Values only: the parameters are never changed."""
    if prune_thr > 0:
        w_rec = w_rec.masked_fill(w_rec.abs() < prune_thr, 0.0)
    if clip_std > 0:
        bound = clip_std * float(torch.cat([w_rec.flatten(), w_in[in_mask]]).std())
        w_rec, w_in = w_rec.clamp(-bound, bound), w_in.clamp(-bound, bound)
    return w_in, w_rec


def mosaic_rule(net: TiledLIF, cfg: TrainConfig, step: int) -> WeightRule | None:
    """The forward copy's rule of training step `step` (1-based; the Mosaic baseline): none at
    step 1 (the original's first step uses its initial weights), then clipping, and pruning
    once more than mosaic_warmup steps are done. The optimiser keeps the parameters."""
    if step <= 1:
        return None
    prune = cfg.mosaic_prune_thr if step - 1 > cfg.mosaic_warmup else 0.0
    return partial(mosaic_forward_copy, in_mask=net.in_mask.bool(), prune_thr=prune,
                   clip_std=cfg.mosaic_clip_std)


def run_epoch(run: Run, data: BinnedDataset, cfg: TrainConfig, epoch: int) -> tuple[float, str]:
    """(mean loss, "" or a divergence message) of one pass over the training split."""
    losses = []
    per_weight = run.rules.method.pruning == "weights"
    batches = batch_order(len(data.train_y), cfg.batch_size, run.gen)
    aug = Augmentation(cfg.time_shift, cfg.channel_jitter, cfg.time_stretch)
    for b, idx in enumerate(batches):
        x = augment(to_tensor(data.train_x[idx], run.device), aug, run.gen)
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
        if per_weight:  # the next step's forward copy
            run.net.weight_rule = mosaic_rule(run.net, cfg, (epoch - 1) * len(batches) + b + 2)
        losses.append(value)
    largest = max(float(p.detach().abs().max()) for p in run.net.parameters())
    if not largest < DIVERGED_WEIGHT * cfg.threshold:
        return math.nan, (f"weights reached |w| = {largest:.3g} at epoch {epoch} "
                          "(lower [training].lr)")
    return float(np.mean(losses)), ""


def apply_rewiring(run: Run, cfg: TrainConfig) -> None:
    """Rewire the links: zero removed weights and their Adam moments, give every regrown link
    fresh weights and zero moments (also a link pruned and chosen again in the same pass)."""
    net, k = run.net, run.rules.neurons_per_tile
    with torch.no_grad():
        weights = net.weights()[1]  # the Mosaic baseline's links: its forward copy's blocks
    rewiring = deepr.rewire(run.rules, run.links, weights, w_thr=cfg.w_thr,
                            prune_min=cfg.prune_min, rng=run.rng)
    if run.rules.method.pruning == "weights":
        run.links = rewiring.links  # the links in use; zeroed weights may still grow back
        return
    fresh = torch.from_numpy(deepr.new_link_weights(rewiring.grown, k, cfg.w_thr, cfg.alpha,
                                                    run.rng))
    grown_entries = torch.from_numpy(np.repeat(rewiring.grown, k, axis=1)).to(run.device)
    mask = net.set_links(rewiring.links).bool()
    run.optimizer.set_mask(net.w_rec, mask, reset=grown_entries)
    with torch.no_grad():
        net.w_rec.copy_(torch.where(grown_entries, fresh.to(run.device), net.w_rec))
    run.links = rewiring.links


OnEpoch = Callable[[EpochReport, Callable[[], RunState]], None]


def fit(run: Run, data: BinnedDataset, cfg: TrainConfig, start_epoch: int = 0,
        curve: list[float] | None = None,
        on_epoch: OnEpoch | None = None) -> tuple[list[float], str]:
    """Train epochs start_epoch+1 .. cfg.epochs; returns (per-epoch mean losses, divergence
    message or ""). on_epoch(report, checkpoint) is called after every epoch's rewiring;
    checkpoint() returns the run's state (`model.checkpoint.run_state`) for saving."""
    from model.checkpoint import run_state

    curve = list(curve or [])
    bar = epoch_bar(cfg, start_epoch)
    rewire_last = run.rules.method.rewire_last_epoch
    for epoch in bar:
        for group in run.optimizer.param_groups:
            group["lr"] = learning_rate(cfg, epoch - 1)
        loss, message = run_epoch(run, data, cfg, epoch)
        if message:
            return curve, message
        curve.append(loss)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss:.3f}")
        if rewire_last or epoch < cfg.epochs:
            apply_rewiring(run, cfg)
        if on_epoch is not None:
            on_epoch(epoch_report(run, data, epoch, cfg.epochs, loss),
                     partial(run_state, run, epoch, list(curve)))
    return curve, ""


def epoch_report(run: Run, data: BinnedDataset, epoch: int, epochs: int,
                 loss: float) -> EpochReport:
    """Validation accuracy, firing rate and links of the network after `epoch`."""
    val = evaluate_split(run.net, data.val_x, data.val_y, data.n_classes, run.device,
                         data.copies_of("val"))
    rate = val.spike_counts.sum() / max(len(data.val_y), 1) / data.time_bins
    return EpochReport(epoch, epochs, loss, val.accuracy,
                       float(rate / run.net.w_rec.shape[0]), int(run.links.sum()))


def train(spec: MosaicSpec, cfg: TrainConfig, data: BinnedDataset, data_cfg: DataConfig, *,
          on_epoch: OnEpoch | None = None,
          state: RunState | None = None) -> TrainResult:
    """Train the network of `spec` on `data` with `cfg` (data_cfg gives the bins' duration).

    on_epoch(report, checkpoint): called after every epoch; checkpoint() gives the run's state
    to save. state: such a checkpoint to continue from (same spec, cfg and data).
    Raises ConfigError / LinksError for settings that cannot work; a diverging run returns
    diverged=True with a message instead. Runs on cfg.threads torch threads ("auto": 1) and
    restores the caller's count.
    """
    validate_setup(spec, cfg, data, data_cfg)
    get_method(cfg.method)
    previous = torch.get_num_threads()
    torch.set_num_threads(torch_threads(cfg.threads))
    try:
        return _train(spec, cfg, data, data_cfg, on_epoch, state)
    finally:
        torch.set_num_threads(previous)


def _train(spec: MosaicSpec, cfg: TrainConfig, data: BinnedDataset, data_cfg: DataConfig,
           on_epoch: OnEpoch | None, state: RunState | None) -> TrainResult:
    start = time.perf_counter()
    run = build_run(spec, cfg, data, data_cfg, resolve_device(cfg.device))
    run.initial_rate = initial_rate(run, data)
    epoch0, curve0 = 0, []
    if state is not None:
        from model.checkpoint import restore_state

        epoch0, curve0 = restore_state(run, state)
        if run.rules.method.pruning == "weights":
            steps = epoch0 * -(-len(data.train_y) // cfg.batch_size)
            run.net.weight_rule = mosaic_rule(run.net, cfg, steps + 1)
    curve, message = fit(run, data, cfg, epoch0, curve0, on_epoch)
    seconds = time.perf_counter() - start
    n_classes, device = data.n_classes, run.device
    run.net.eval()
    test = evaluate_split(run.net, data.test_x, data.test_y, n_classes, device,
                          data.copies_of("test"))
    val = evaluate_split(run.net, data.val_x, data.val_y, n_classes, device,
                         data.copies_of("val"))
    # the training accuracy on the first copy only: the other copies would cost `copies` times
    train_eval = evaluate_split(run.net, *data.first_copy("train"), n_classes, device)
    return result_of(run, data, curve, message, (test, val, train_eval), seconds)


def initial_rate(run: Run, data: BinnedDataset) -> float:
    """Mean spikes per neuron per bin of the initial network on the first training batch."""
    with torch.no_grad():
        x = to_tensor(data.train_x[:256], run.device)
        return float(run.net(x).mean())


def result_of(run: Run, data: BinnedDataset, curve: list[float], message: str,
              evals: tuple[Evaluation, Evaluation, Evaluation], seconds: float) -> TrainResult:
    """Assemble the TrainResult of a finished (or diverged) run."""
    rules, links = run.rules, run.links
    test, val, train_eval = evals
    k = rules.neurons_per_tile
    n = links.shape[0]
    n_test = max(len(data.test_y), 1)
    n_links = int(links.sum())
    with torch.no_grad():
        w_in, w_rec = run.net.weights()
        w_in, w_rec = w_in.cpu().numpy(), (w_rec * run.net.rec_gain).cpu().numpy()
    return TrainResult(
        accuracy=test.accuracy, val_accuracy=val.accuracy, train_accuracy=train_eval.accuracy,
        accuracy_first_copy=test.first_copy_accuracy,
        loss_curve=tuple(curve), links=links.copy(),
        hop_profile=tuple(float(p) for p in realised_profile(links, rules.rows, rules.cols, k)),
        mean_spike_counts=test.spike_counts / n_test, n_links=n_links,
        n_weights=n * k + n_links * k + data.n_inputs * k, n_input_rows=data.n_inputs,
        train_seconds=seconds, diverged=bool(message), message=message or "ok",
        epochs_run=len(curve), initial_rate=run.initial_rate,
        final_rate=float(test.spike_counts.sum() / n_test / data.time_bins / n),
        w_in=w_in, w_rec=w_rec)

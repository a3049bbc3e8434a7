"""Frozen settings that cross from the config layer into data loading and training.

Pure dataclasses (no torch import) so `search.config` can build them cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.methods import METHOD_NAMES

METHODS = METHOD_NAMES  # the method registry's names (model.methods)
RESETS = ("detached", "original")
RATE_REGS = ("neuron", "population")
LR_SCHEDULES = ("exponential", "polynomial")
CHIP_BUDGETS = ("profile", "total", "fill")
CHIP_ORDERS = ("uniform", "nearest")
DATASETS = ("synthetic", "shd", "auto")
CHANNEL_REDUCTIONS = ("sum", "stride")
AUTO_THREADS = 1  # torch threads for threads = "auto" (benchmarks/bench_train.py --load)


@dataclass(frozen=True)
class DataConfig:
    """How a dataset is found, binned and split.

    dataset: "synthetic" (embedded default, generated once under `root`), "shd" (tonic layout
    `<root>/SHD/shd_{train,test}.h5`) or "auto" (SHD when its files are under `root`, else
    synthetic). duration: seconds covered by `time_bins` bins.
    n_inputs: inputs per sample after reducing SHD's 700 channels.
    channel_reduction: "sum" adds adjacent groups (channel c -> input c * n_inputs // 700);
    "stride" sub-samples as the original study: copy o (0 <= o < stride) takes channels
    o, o + stride, ... (channel c -> copy c % stride, input c // stride), zero-padded to n_inputs
    (needs ceil(700 / stride) <= n_inputs). Every split then holds the copies copy-major.
    augment ("stride" only): train on all `stride` copies of each sample; false: copy 0 only
    (val and test always hold all copies).
    binary: clip spike counts per (bin, input) to {0, 1} (else to 255).
    synthetic_train / synthetic_test: sample counts when the synthetic dataset is generated.
    cache_dir: where binned arrays are cached; "" means `<root>/cache`.
    """

    dataset: str = "synthetic"
    root: str = "~/.cache/mosaic-dse"
    time_bins: int = 100
    duration: float = 1.4
    n_inputs: int = 128
    val_fraction: float = 0.1
    binary: bool = False
    channel_reduction: str = "sum"
    stride: int = 6
    augment: bool = True
    split_seed: int = 0
    synthetic_train: int = 2000
    synthetic_test: int = 500
    synthetic_seed: int = 0
    cache_dir: str = ""


@dataclass(frozen=True)
class TrainConfig:
    """One training run of a tiled recurrent LIF network.

    method: a name of the method registry (`model.methods`). hop_profile: target fraction of
    active links per hop distance, indexed by distance (index 0 unused, e.g. (0, p1, 0, p3)).
    tau: membrane time constant in seconds; the decay per bin is exp(-bin width / tau).
    reset: "detached" (theta subtracted after spiking, before the next decay, without gradient)
    or "original" (the original study: the pre-reset membrane decays, then theta * z_{t-1} is
    subtracted, with gradient).
    lr_schedule: "exponential" (lr * lr_decay^epoch) or "polynomial" (the original's: constant
    for the first 20% of the epochs, then to lr / 10 with power 0.5, counted in epochs).
    alpha: regrowth noise scale (new |w| = w_thr + alpha * w_thr * |n|, n ~ N(0, 1)).
    rate_reg / target_rate / rate_reg_form: firing-rate regulariser weight and target;
    "neuron": rate_reg * mean_i((rate_i - target_rate)^2) with rate_i spikes per bin of neuron i;
    "population" (the original's): rate_reg * (target_rate - 10 * mean(z))^2.
    mosaic_*: the Mosaic baseline (method "mosaic"), the original's constants as defaults:
    penalty mosaic_lambda * mean(min(exp(mosaic_beta * hops) - 1, e^15) * W^2); the forward
    pass uses a copy of the weights (the optimiser keeps the parameters, as in the original): in
    it, beyond the first mosaic_warmup steps, recurrent weights with |w| < mosaic_prune_thr are
    zero (they may grow back), and all weights are clipped to +-mosaic_clip_std standard
    deviations of the (pruned) recurrent and input weights; mosaic_noise: programming noise
    (w + mosaic_noise * max(W) * n on non-zero weights) in training forward passes (0 = off;
    the original's noisy runs use 0.05).
    chip_budget / chip_order (method "chip_aware"): how many links to place within the chip's
    capacities: "profile" (at most round(p_d K n_d(s)) per source tile and distance: routing-aware
    DeepR plus capacities), "total" (at most the profile's total, any distance) or "fill" (as
    many as the chip holds); tried in "uniform" random order or "nearest" first.
    device: "auto" (CUDA when available), "cpu" or "cuda[:i]".
    input_gain: input weights start N(0, (input_gain / sqrt(K * E[x^2]))^2) (E over training
    inputs), so each input-tile neuron's input current has a std of about input_gain.
    rec_fan_in: 0 (off) or F > 0: the forward pass runs on g * W_rec, g = sqrt(F / fan-in),
    fan-in the mean number of recurrent weights into a neuron at the start (K + initial
    links / tiles); pruning, regrowth (w_thr, alpha) and the parameters stay in their units, so
    a chip with a larger fan-in gets the recurrent input variance of one with fan-in F.
    threads: torch's CPU threads during the run, an int >= 1 or "auto" (= AUTO_THREADS, 1:
    measured with benchmarks/bench_train.py, two threads are no faster at these sizes and
    collapse when other work shares the cores).
    """

    method: str = "routing_aware"
    hop_profile: tuple[float, ...] = (0.0, 0.8)
    lr: float = 5e-3
    lr_decay: float = 0.95
    epochs: int = 20
    batch_size: int = 32
    w_thr: float = 0.1
    prune_min: int = 20
    alpha: float = 1.0
    tau: float = 0.045
    threshold: float = 1.0
    rate_reg: float = 1e-3
    target_rate: float = 0.02
    rate_reg_form: str = "neuron"
    reset: str = "detached"
    lr_schedule: str = "exponential"
    mosaic_lambda: float = 0.1
    mosaic_beta: float = 8.0
    mosaic_prune_thr: float = 5e-4
    mosaic_warmup: int = 10
    mosaic_clip_std: float = 2.5
    mosaic_noise: float = 0.0
    chip_budget: str = "profile"
    chip_order: str = "uniform"
    seed: int = 0
    device: str = "auto"
    progress: bool = False
    input_gain: float = 1.0
    rec_fan_in: float = 0.0
    threads: int | str = "auto"

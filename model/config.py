"""Frozen settings that cross from the config layer into data loading and training.

Pure dataclasses (no torch import) so `search.config.files` can build them cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hardware.keys import (
    AT_LEAST_1,
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    Bound,
    Pattern,
    key,
)
from model.methods import METHOD_NAMES

N_CHANNELS = 700  # SHD's cochlea channels (and the synthetic SHD's)

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
    """[data]: how a dataset is found, binned and split (every field a config key; see help)."""

    dataset: str = key("synthetic", DATASETS, "synthetic (embedded default, generated once "
                       "under root), shd (tonic layout <root>/SHD/shd_{train,test}.h5) or auto "
                       "(SHD when its files are under root, else synthetic)", searchable=False)
    root: str = key("~/.cache/mosaic-dse", Pattern(r".+", "a non-empty path"),
                    "directory of the dataset files", searchable=False)
    time_bins: int = key(100, AT_LEAST_1, "time bins per sample", searchable=False)
    duration: float = key(1.4, Bound(1e-6), "seconds covered by time_bins bins",
                          searchable=False)
    n_inputs: int = key(128, Bound(1, N_CHANNELS), "inputs per sample after reducing SHD's 700 "
                        "channels", searchable=False)
    val_fraction: float = key(0.1, Bound(0, 1, open_high=True), "fraction of the training "
                              "recordings held out for validation (selection never sees test)",
                              searchable=False)
    binary: bool = key(False, None, "clip spike counts per (bin, input) to {0, 1} (else to 255)",
                       searchable=False)
    channel_reduction: str = key("sum", CHANNEL_REDUCTIONS, "sum: adjacent groups added "
                                 "(channel c -> input c * n_inputs // 700); stride: as the "
                                 "original study, copy o takes channels o, o + stride, ..., "
                                 "zero-padded to n_inputs (needs ceil(700 / stride) <= "
                                 "n_inputs), every split holds the copies copy-major",
                                 searchable=False)
    stride: int = key(6, Bound(1, N_CHANNELS), "channel stride of channel_reduction = stride",
                      searchable=False)
    augment: bool = key(True, None, "stride only: train on all stride copies of each sample "
                        "(false: copy 0 only; val and test always hold all copies)",
                        searchable=False)
    split_seed: int = key(0, SEED, "seed of the validation split", searchable=False)
    synthetic_train: int = key(2000, AT_LEAST_1, "training samples of a generated synthetic "
                               "dataset", searchable=False)
    synthetic_test: int = key(500, AT_LEAST_1, "test samples of a generated synthetic dataset",
                              searchable=False)
    synthetic_seed: int = key(0, SEED, "seed of the synthetic dataset", searchable=False)
    cache_dir: str = key("", None, "where binned arrays are cached; empty: <root>/cache",
                         searchable=False, resumable=True)


@dataclass(frozen=True)
class TrainConfig:
    """[training]: one training run of a tiled recurrent LIF network (each field's help says
    what it does). hop_profile: target fraction of active links per hop distance, indexed by
    distance (index 0 unused, e.g. (0, p1, 0, p3)); set by the keys p1, p3, ..."""

    method: str = key("routing_aware", METHODS, "training method (model.methods registry)")
    hop_profile: tuple[float, ...] = (0.0, 0.8)
    lr: float = key(5e-3, POSITIVE, "Adam learning rate")
    lr_decay: float = key(0.95, Bound(0, 1, open_low=True),
                          "exponential schedule: lr * lr_decay^epoch")
    epochs: int = key(20, NON_NEGATIVE, "training epochs (0: evaluate the initial network)")
    batch_size: int = key(32, AT_LEAST_1, "samples per gradient step")
    w_thr: float = key(0.1, NON_NEGATIVE, "a weight with |w| >= w_thr is strong (DeepR pruning)")
    prune_min: int = key(20, NON_NEGATIVE, "a link with fewer strong weights than this (of its "
                         "K) is pruned")
    alpha: float = key(1.0, NON_NEGATIVE, "regrowth noise scale: new |w| = w_thr + alpha * "
                       "w_thr * |n|, n ~ N(0, 1)")
    tau: float = key(0.045, POSITIVE, "membrane time constant in seconds; decay per bin "
                     "exp(-bin width / tau)")
    threshold: float = key(1.0, POSITIVE, "spike threshold theta")
    rate_reg: float = key(1e-3, NON_NEGATIVE, "firing-rate regulariser weight")
    target_rate: float = key(0.02, NON_NEGATIVE, "target firing rate, spikes per bin")
    rate_reg_form: str = key("neuron", RATE_REGS, "neuron: rate_reg * mean_i((rate_i - "
                             "target_rate)^2); population (the original's): rate_reg * "
                             "(target_rate - 10 * mean(z))^2")
    reset: str = key("detached", RESETS, "detached: theta subtracted after spiking, before the "
                     "next decay, without gradient; original: the pre-reset membrane decays, "
                     "then theta * z_{t-1} is subtracted, with gradient")
    lr_schedule: str = key("exponential", LR_SCHEDULES, "exponential (lr * lr_decay^epoch) or "
                           "polynomial (the original's: constant for the first 20% of the "
                           "epochs, then to lr / 10 with power 0.5, counted in epochs)")
    mosaic_lambda: float = key(0.1, NON_NEGATIVE, "Mosaic baseline: penalty mosaic_lambda * "
                               "mean(min(exp(mosaic_beta * hops) - 1, e^15) * W^2)")
    mosaic_beta: float = key(8.0, NON_NEGATIVE, "Mosaic baseline: hop exponent of the penalty")
    mosaic_prune_thr: float = key(5e-4, NON_NEGATIVE, "Mosaic baseline: beyond the first "
                                  "mosaic_warmup steps, recurrent weights with |w| below this "
                                  "are zero in the forward pass's copy of the weights (the "
                                  "optimiser keeps the parameters, as in the original)")
    mosaic_warmup: int = key(10, NON_NEGATIVE, "Mosaic baseline: steps before pruning starts")
    mosaic_clip_std: float = key(2.5, NON_NEGATIVE, "Mosaic baseline: the forward copy's "
                                 "weights clipped to +- this many standard deviations of the "
                                 "(pruned) recurrent and input weights")
    mosaic_noise: float = key(0.0, NON_NEGATIVE, "Mosaic baseline: programming noise w + "
                              "mosaic_noise * max(W) * n on non-zero weights in training "
                              "forward passes (0 = off; the original's noisy runs use 0.05)")
    chip_budget: str = key("profile", CHIP_BUDGETS, "chip_aware: links placed within the "
                           "chip's capacities: profile (at most round(p_d K n_d(s)) per source "
                           "tile and distance), total (the profile's total, any distance) or "
                           "fill (as many as the chip holds)")
    chip_order: str = key("uniform", CHIP_ORDERS, "chip_aware: candidate links tried in "
                          "uniform random order or nearest first")
    seed: int = key(0, SEED, "seed of initialisation, rewiring and batches")
    device: str = key("auto", Pattern(r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, mps or cuda[:i]"),
                      "auto (CUDA when available), cpu, mps or cuda[:i]; checked on this "
                      "machine before any work", searchable=False)
    progress: bool = field(default=False)  # a CLI flag, not a config key
    input_gain: float = key(1.0, POSITIVE, "input weights start N(0, (input_gain / sqrt(K * "
                            "E[x^2]))^2), so each input-tile neuron's input current has a std "
                            "of about input_gain")
    rec_fan_in: float = key(0.0, NON_NEGATIVE, "0 (off) or F > 0: the forward pass runs on "
                            "g * W_rec, g = sqrt(F / fan-in), fan-in the mean number of "
                            "recurrent weights into a neuron at the start (K + initial links / "
                            "tiles); pruning, regrowth and the parameters keep their units, so "
                            "a chip with a larger fan-in gets the recurrent input variance of "
                            "one with fan-in F")
    time_shift: int = key(0, NON_NEGATIVE, "augmentation: each training sample shifted by a "
                          "random whole number of bins in [-time_shift, time_shift] per batch "
                          "(zero fill; val and test never augmented)")
    time_stretch: float = key(0.0, Bound(0, 0.5), "augmentation: each training sample's time "
                              "axis stretched by a random factor in [1 - time_stretch, 1 + "
                              "time_stretch] (nearest bin; speaking rate)")
    channel_jitter: int = key(0, NON_NEGATIVE, "augmentation: each training sample's inputs "
                              "shifted by a random number in [-channel_jitter, channel_jitter] "
                              "along the frequency axis (zero fill; formant shifts between "
                              "speakers)")
    threads: str = key("auto", Pattern(r"auto|[1-9][0-9]*", '"auto" or an integer >= 1',
                                       ints=True),
                       "torch CPU threads of the run: auto (= 1: measured with "
                       "benchmarks/bench_train.py, two threads are no faster at these sizes and "
                       "collapse when other work shares the cores) or an integer",
                       searchable=False)

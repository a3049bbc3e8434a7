"""Frozen settings that cross from the config layer into data loading and training.

Pure dataclasses (no torch import) so `search.config` can build them cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

METHODS = ("routing_aware", "deepr", "mosaic_l2")
DATASETS = ("synthetic", "shd", "auto")
CHANNEL_REDUCTIONS = ("sum", "stride")


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

    hop_profile: target fraction of active links per hop distance, indexed by distance
    (index 0 unused, e.g. (0, p1, 0, p3)). tau: membrane time constant in seconds.
    lr_decay: multiplicative learning-rate factor applied once per epoch.
    alpha: regrowth noise scale (new |w| = w_thr + alpha * w_thr * |n|, n ~ N(0, 1)).
    rate_reg / target_rate: firing-rate regulariser weight and target (spikes per bin).
    l2_lambda / l2_beta: `mosaic_l2` hop-cost penalty lambda * mean((exp(beta*hops)-1) * W^2).
    device: "auto" (CUDA when available), "cpu" or "cuda[:i]".
    input_gain: input weights start N(0, (input_gain / sqrt(K * E[x^2]))^2) (E over training
    inputs), so each input-tile neuron's input current has a std of about input_gain.
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
    l2_lambda: float = 1e-3
    l2_beta: float = 1.0
    seed: int = 0
    device: str = "auto"
    progress: bool = False
    input_gain: float = 1.0

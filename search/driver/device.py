"""Is the configured training device on this machine? Checked before data and the first trial.

Without the check a `training.device = "cuda"` on a machine without CUDA turns every trial of a
search into an `error` row (exit 0) and `train` into exit 1 after loading the data.
"""

from __future__ import annotations

import math

from hardware.errors import ConfigError


def device_problem(name: str, cuda_devices: int, mps: bool) -> str | None:
    """Why the device `name` ("auto", "cpu", "mps", "cuda" or "cuda:N") cannot train where
    `cuda_devices` CUDA devices are visible and MPS is (not) available; None when it can."""
    if name in ("auto", "cpu"):
        return None
    if name == "mps":
        return None if mps else "MPS is not available on this machine"
    index = int(name.partition(":")[2] or 0)
    if cuda_devices == 0:
        return "CUDA is not available on this machine"
    if index >= cuda_devices:
        return f"a trial sees {cuda_devices} CUDA device(s), cuda:0 to cuda:{cuda_devices - 1}"
    return None


def trial_cuda_devices(machine: int, gpus_per_trial: float) -> int:
    """CUDA devices a trial sees: Ray shows a trial only the GPUs it assigned (renumbered from
    0), and all of the machine's when it assigned none."""
    return machine if gpus_per_trial <= 0 else min(machine, math.ceil(gpus_per_trial))


def check_device(name: str, gpus_per_trial: float = 0.0) -> None:
    """ConfigError when [training].device cannot train on this machine (a local run or a
    local Ray: a cluster's nodes are not this machine)."""
    import torch

    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    problem = device_problem(name, trial_cuda_devices(cuda, gpus_per_trial),
                             bool(torch.backends.mps.is_available()))
    if problem is not None:
        raise ConfigError(f"[training].device = {name!r} but {problem} (set [training].device "
                          "= \"auto\" or \"cpu\")")

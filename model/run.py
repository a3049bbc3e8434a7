"""The typed state of one training run, shared by the training loop and its checkpoints.

`Run` is what `model.train` mutates epoch by epoch; `RunState` is its saved form (the arrays of
a checkpoint's state.npz, `model.checkpoint.run_state`), which a run continues from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from model import deepr
from model.network import TiledLIF
from model.optim import MaskedAdam

RunState = Mapping[str, np.ndarray]  # checkpoint arrays by name (model.checkpoint's FORMAT)


@dataclass
class Run:
    """Mutable state of one training run: network, optimiser, link rules and links, the
    generators (numpy for links and rewiring, torch for batches), device and hop cost."""

    net: TiledLIF
    optimizer: MaskedAdam
    rules: deepr.LinkRules
    links: np.ndarray
    rng: np.random.Generator
    gen: torch.Generator
    device: torch.device
    hop_cost: torch.Tensor | None
    initial_rate: float = 0.0

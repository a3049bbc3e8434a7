"""Evaluation of a trained network on one split: accuracy over every row and the first copy.

With stride augmentation (`[data].channel_reduction = "stride"`) each split holds `copies`
shifted copies of its samples, copy-major: rows [c*n, (c+1)*n) are copy c. The original study
reports accuracy over all copies; the first copy alone is what a chip sees without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from model.network import TiledLIF, readout_logits

EVAL_BATCH = 256


@dataclass(frozen=True)
class Evaluation:
    """accuracy over all rows, first_copy_accuracy over the first copy (NaN when empty);
    spike_counts float64 (N,) summed over all rows."""

    accuracy: float
    first_copy_accuracy: float
    spike_counts: np.ndarray = field(compare=False, repr=False)


def to_tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    """float32 tensor on `device` of a uint8 numpy batch (n, time_bins, n_inputs).

    Slices of a memory-mapped split are read-only: np.require copies those (torch wants
    writable memory) and passes fancy-indexed batches (already copies) through.
    """
    return torch.from_numpy(np.require(x, requirements=("C", "W"))).to(device).float()


@torch.no_grad()
def evaluate_split(net: TiledLIF, x: np.ndarray, y: np.ndarray, n_classes: int,
                   device: torch.device, copies: int = 1) -> Evaluation:
    """Accuracies and spike counts of `net` (in eval mode: no weight noise) on one split."""
    was_training = net.training
    net.eval()
    counts = np.zeros(net.w_rec.shape[0])
    correct = np.zeros(len(y), dtype=bool)
    for start in range(0, len(y), EVAL_BATCH):
        spikes = net(to_tensor(x[start:start + EVAL_BATCH], device))
        pred = readout_logits(spikes, n_classes).argmax(dim=1).cpu().numpy()
        correct[start:start + len(pred)] = pred == np.asarray(y[start:start + EVAL_BATCH])
        counts += spikes.sum(dim=(0, 1)).double().cpu().numpy()
    net.train(was_training)
    first = correct[:len(y) // max(copies, 1)]
    return Evaluation(float(correct.mean()) if len(y) else math.nan,
                      float(first.mean()) if len(first) else math.nan, counts)

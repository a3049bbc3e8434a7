"""Heat map of router port usage relative to capacity for `mosaic-dse map --plot`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hardware.routing import RoutingResult


def usage_ratio(result: RoutingResult) -> np.ndarray:
    """float (2R+1, 2C+1): max over a cell's ports of usage / capacity (inf where capacity is 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(result.usage > 0, result.usage / result.capacity, 0.0)
    return ratio.max(axis=2)


def plot_usage(result: RoutingResult, path: Path) -> None:
    """Write a PNG heat map: colour = worst port's usage/capacity per cell, red box = violation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratio = usage_ratio(result)
    shown = np.minimum(ratio, 2.0)
    fig, ax = plt.subplots(figsize=(1 + 0.45 * ratio.shape[1], 0.8 + 0.45 * ratio.shape[0]))
    image = ax.imshow(shown, cmap="viridis", vmin=0, vmax=2.0)
    fig.colorbar(image, ax=ax, label="usage / capacity (worst port, clipped at 2)")
    bad = np.argwhere(result.over_capacity.any(axis=2))
    for r, c in bad:
        ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="red", lw=2))
    ax.set_title(f"port usage / capacity ({result.violations} violations)")
    ax.set_xlabel("full-grid column")
    ax.set_ylabel("full-grid row")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=150)
    plt.close(fig)
    os.replace(tmp, path)

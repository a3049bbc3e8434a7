"""Heat map of router port usage relative to capacity for `mosaic-dse map --plot`."""

from __future__ import annotations

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
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from analysis.plots import save_png

    ratio = usage_ratio(result)
    fig = Figure(figsize=(1 + 0.45 * ratio.shape[1], 0.8 + 0.45 * ratio.shape[0]),
                 layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(np.minimum(ratio, 2.0), cmap="viridis", vmin=0, vmax=2.0)
    fig.colorbar(image, ax=ax, label="usage / capacity (worst port, clipped at 2)")
    for r, c in np.argwhere(result.over_capacity.any(axis=2)):
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="red", lw=2))
    ax.set_title(f"port usage / capacity ({result.violations} violations)")
    ax.set_xlabel("full-grid column")
    ax.set_ylabel("full-grid row")
    save_png(fig, path)

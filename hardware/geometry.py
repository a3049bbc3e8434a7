"""Mosaic grid geometry: cell types, counts, tile coordinates, hop distances (DESIGN 3.2)."""

from __future__ import annotations

import numpy as np

NT, R0, R1 = 0, 1, 2  # cell type codes
CELL_CODES = {"NT": NT, "R0": R0, "R1": R1}  # a CapacityKind's `cells` -> code


def cell_types(rows: int, cols: int) -> np.ndarray:
    """int8 (2R+1, 2C+1): NT where both full coordinates are odd, R0 both even, else R1."""
    odd_r = (np.arange(2 * rows + 1) % 2 == 1)[:, None]
    odd_c = (np.arange(2 * cols + 1) % 2 == 1)[None, :]
    types = np.full((2 * rows + 1, 2 * cols + 1), R1, dtype=np.int8)
    types[odd_r & odd_c] = NT
    types[~odd_r & ~odd_c] = R0
    return types


def r1_east_west(rows: int, cols: int) -> np.ndarray:
    """bool (2R+1, 2C+1): R1 cells east/west of a tile (odd row); the others are north/south."""
    types = cell_types(rows, cols)
    return (types == R1) & (np.arange(types.shape[0]) % 2 == 1)[:, None]


def cell_counts(rows: int, cols: int) -> tuple[int, int, int]:
    """(#NT, #R0, #R1) = (R*C, (R+1)(C+1), R(C+1) + (R+1)C)."""
    return rows * cols, (rows + 1) * (cols + 1), rows * (cols + 1) + (rows + 1) * cols


def tile_coords(rows: int, cols: int) -> np.ndarray:
    """int64 (T, 2): tile coordinates (k // C, k % C) of tile k."""
    k = np.arange(rows * cols)
    return np.stack([k // cols, k % cols], axis=1)


def tile_full_coords(rows: int, cols: int) -> np.ndarray:
    """int64 (T, 2): full-grid coordinates (2*(k//C)+1, 2*(k%C)+1) of tile k."""
    return 2 * tile_coords(rows, cols) + 1


def tile_of_neuron(rows: int, cols: int, neurons_per_tile: int) -> np.ndarray:
    """int64 (N,): tile index i // K of each neuron i."""
    return np.arange(rows * cols * neurons_per_tile) // neurons_per_tile


def hop_distance_matrix(rows: int, cols: int) -> np.ndarray:
    """int64 (T, T): routers crossed by the one-turn route from tile s to tile t.

    With D the Manhattan tile distance: 0 if s == t, 1 if D == 1, 2D+1 if s and t share a row
    or column (D >= 2), else 2D-1.
    """
    rc = tile_coords(rows, cols)
    dr = np.abs(rc[:, None, 0] - rc[None, :, 0])
    dc = np.abs(rc[:, None, 1] - rc[None, :, 1])
    manhattan = dr + dc
    aligned = (dr == 0) | (dc == 0)
    hops = np.where(aligned, 2 * manhattan + 1, 2 * manhattan - 1)
    hops[manhattan == 1] = 1
    hops[manhattan == 0] = 0
    return hops.astype(np.int64)

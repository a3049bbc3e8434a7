"""Memory model on hand-computed cases (DESIGN.md 3.5)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.memory import (
    chip_memory_cells,
    memory_of_config,
    memory_of_usage,
    minimum_config,
    synapse_cells,
)
from hardware.profile import sample_links
from hardware.routing import capacity_grid, port_usage
from tests.conftest import make_spec, random_links


def test_empty_network_on_1x1_needs_only_tile_facing_r1_inputs():
    # 1x1 grid, K = 2: the 4 R1 inputs facing the tile are set to K. N/S R1s give in_S/in_N = 2;
    # E/W R1s give in_W (east one) / in_E (west one) = 2, rotated into in_N / in_S. So
    # r1 = (2, 0, 2, 0, 0, 0, 0, 0), L = 2*2 + 0 = 4, R1 = 16 cells; NT = R0 = 0.
    # Counts 1x1: 1 NT, 4 R0, 4 R1 -> memory = 4 * 16 = 64.
    spec = make_spec(1, 1, 2)
    nt, r0, r1 = minimum_config(np.zeros((3, 3, 8), dtype=np.int64), 2)
    assert tuple(r1) == (2, 0, 2, 0, 0, 0, 0, 0)
    assert not nt.any() and not r0.any()
    assert memory_of_usage(np.zeros((3, 3, 8), dtype=np.int64), spec).memory_cells == 64


def test_chip_memory_from_capacities_by_hand():
    # K = 2, 1x1 grid. NT = 2 * (3+3+3+3) = 24. R0 = 16 * 5^2 = 400.
    # L = max(2*max(4,4) + 2*max(1,1), 2*max(2,2) + 2*max(3,3)) = max(10, 10) -> R1 = 100.
    # memory = 1*24 + 4*400 + 4*100 = 2024.
    spec = make_spec(1, 1, 2, cap_nt=3, cap_r0=5, cap_r1=(4, 1, 4, 1, 2, 3, 2, 3))
    assert chip_memory_cells(spec) == 2024


def test_memory_of_config_uses_largest_r0_port_and_r1_side():
    # 2x2 grid: 4 NT, 9 R0, 12 R1. K = 4.
    # NT = 4 * (1+2+3+4) = 40; R0 = 16 * 7^2 = 784 (max over all ports, outputs included);
    # L = max(2*max(5,1) + 2*max(0,2), 2*max(1,6) + 2*max(3,0)) = max(14, 18) = 18 -> 324.
    report = memory_of_config(2, 2, 4, nt=(1, 2, 3, 4, 0, 0, 0, 0), r0=(0, 0, 0, 0, 7, 0, 0, 0),
                              r1=(5, 0, 1, 2, 1, 3, 6, 0))
    assert (report.nt_cells, report.r0_cells, report.r1_cells) == (40, 784, 324)
    assert report.memory_cells == 4 * 40 + 9 * 784 + 12 * 324


def test_neighbour_only_network_has_no_r0_memory():
    # Reference (DESIGN.md 3.5): 5x5 x 32, p1 = 0.8 only -> R0 = 0, R1 = 4096 (L = 2*32 from the
    # tile-facing inputs; outputs carry at most 32), NT input rows about 116.
    spec = make_spec(5, 5, 32)
    for seed in range(3):
        links = sample_links(5, 5, 32, (0, 0.8), np.random.default_rng(seed))
        report = memory_of_usage(port_usage(links, 5, 5, 32), spec)
        assert report.r0_cells == 0 and report.r1_cells == 4096
        assert 105 <= sum(report.nt[:4]) <= 128


def test_min_config_takes_max_over_cells_of_a_type():
    usage = np.zeros((5, 5, 8), dtype=np.int64)  # 2x2 grid
    usage[0, 0, 5] = 3  # R0 corner out_E
    usage[2, 2, 5] = 9  # R0 centre out_E
    usage[3, 3, 1] = 4  # tile (1,1) in_E
    usage[2, 1, 6] = 7  # N/S R1 out_S
    usage[1, 2, 4] = 8  # E/W R1 out_N: its capacity is cap_r1[out_W] (rotated grid) -> r1 out_W
    nt, r0, r1 = minimum_config(usage, 2)
    assert nt[1] == 4 and r0[5] == 9 and r1[6] == 7 and r1[7] == 8


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 4), cols=st.integers(1, 4), k=st.integers(1, 4),
       seed=st.integers(0, 1000))
def test_minimum_config_used_as_capacities_hosts_the_network(rows, cols, k, seed):
    """The defining property: a chip with capacities (nt, r0, r1) maps the network."""
    links = random_links(np.random.default_rng(seed), rows, cols, k, 0.4)
    usage = port_usage(links, rows, cols, k)
    nt, r0, r1 = minimum_config(usage, k)
    # capacities need not be 180°-symmetric here, so build the grid by hand like capacity_grid
    spec = make_spec(rows, cols, k)
    object.__setattr__(spec, "cap_nt", tuple(nt))
    object.__setattr__(spec, "cap_r0", tuple(r0))
    object.__setattr__(spec, "cap_r1", tuple(r1))
    assert not (usage > capacity_grid(spec)).any()


def test_synapse_cells_counts_intra_tile_and_input_rows():
    spec = make_spec(2, 3, 4)
    assert synapse_cells(spec, 10) == 6 * 16 + 10 * 4

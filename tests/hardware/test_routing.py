"""Exact one-turn router: hand-worked routes, properties, and fast-vs-reference agreement."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.errors import LinksError
from hardware.geometry import hop_distance_matrix
from hardware.routing import (
    capacity_grid,
    check_mapping,
    port_usage,
    port_usage_reference,
    route_marks,
)
from tests.conftest import make_spec, random_links

IN_N, IN_E, IN_S, IN_W, OUT_N, OUT_E, OUT_S, OUT_W = range(8)

# Hand-worked routes. Tile k of a C-column grid sits at full coordinates (2(k//C)+1, 2(k%C)+1).
HAND_ROUTES = {
    # 3x3, tile 0 (1,1) -> tile 1 (1,3): neighbours; R1 (1,2) entered from the west, step E.
    (3, 3, 0, 1): [(1, 2, IN_W), (1, 2, OUT_E), (1, 3, IN_W)],
    # 3x3, tile 0 (1,1) -> tile 3 (3,1): neighbours; R1 (2,1) entered from the north, step S.
    (3, 3, 0, 3): [(2, 1, IN_N), (2, 1, OUT_S), (3, 1, IN_N)],
    # 3x3, tile 0 -> tile 4 (3,3): r' > r so enter R1 (2,1) via in_N, east to column c'-1 = 2,
    # south to row 3, step E into the tile: 3 routers = 2D-1 with D = 2.
    (3, 3, 0, 4): [(2, 1, IN_N), (2, 1, OUT_E), (2, 2, IN_W), (2, 2, OUT_S), (3, 2, IN_N),
                   (3, 2, OUT_E), (3, 3, IN_W)],
    # 3x3, tile 0 -> tile 2 (1,5): same row, r' = r so leave north into R1 (0,1) via in_S,
    # east to column 4, south to row 1, step E: 5 routers = 2D+1.
    (3, 3, 0, 2): [(0, 1, IN_S), (0, 1, OUT_E), (0, 2, IN_W), (0, 2, OUT_E), (0, 3, IN_W),
                   (0, 3, OUT_E), (0, 4, IN_W), (0, 4, OUT_S), (1, 4, IN_N), (1, 4, OUT_E),
                   (1, 5, IN_W)],
    # 3x3, tile 0 -> tile 6 (5,1): same column: turn in R1 (1,0) entered via in_E, walk south
    # to row 5, step E into the tile.
    (3, 3, 0, 6): [(1, 0, IN_E), (1, 0, OUT_S), (2, 0, IN_N), (2, 0, OUT_S), (3, 0, IN_N),
                   (3, 0, OUT_S), (4, 0, IN_N), (4, 0, OUT_S), (5, 0, IN_N), (5, 0, OUT_E),
                   (5, 1, IN_W)],
    # 3x3, tile 8 (5,5) -> tile 0 (1,1): r' < r: R1 (4,5) via in_S, west to column c'+1 = 2,
    # north to row 1, step W into the tile: 7 routers = 2D-1 with D = 4.
    (3, 3, 8, 0): [(4, 5, IN_S), (4, 5, OUT_W), (4, 4, IN_E), (4, 4, OUT_W), (4, 3, IN_E),
                   (4, 3, OUT_W), (4, 2, IN_E), (4, 2, OUT_N), (3, 2, IN_S), (3, 2, OUT_N),
                   (2, 2, IN_S), (2, 2, OUT_N), (1, 2, IN_S), (1, 2, OUT_W), (1, 1, IN_E)],
    # 2x4, tile 4 (3,1) -> tile 3 (1,7): R1 (2,1) via in_S, east to column 6, north, step E.
    (2, 4, 4, 3): [(2, 1, IN_S), (2, 1, OUT_E), (2, 2, IN_W), (2, 2, OUT_E), (2, 3, IN_W),
                   (2, 3, OUT_E), (2, 4, IN_W), (2, 4, OUT_E), (2, 5, IN_W), (2, 5, OUT_E),
                   (2, 6, IN_W), (2, 6, OUT_N), (1, 6, IN_S), (1, 6, OUT_E), (1, 7, IN_W)],
    # 2x4, tile 7 (3,7) -> tile 4 (3,1): same row, leave north via R1 (2,7) in_S, west to
    # column 2, south to row 3, step W: 7 routers = 2D+1 with D = 3.
    (2, 4, 7, 4): [(2, 7, IN_S), (2, 7, OUT_W), (2, 6, IN_E), (2, 6, OUT_W), (2, 5, IN_E),
                   (2, 5, OUT_W), (2, 4, IN_E), (2, 4, OUT_W), (2, 3, IN_E), (2, 3, OUT_W),
                   (2, 2, IN_E), (2, 2, OUT_S), (3, 2, IN_N), (3, 2, OUT_W), (3, 1, IN_E)],
    # 2x4, tile 1 (1,3) -> tile 5 (3,3): vertical neighbours through R1 (2,3).
    (2, 4, 1, 5): [(2, 3, IN_N), (2, 3, OUT_S), (3, 3, IN_N)],
}


@pytest.mark.parametrize("key", sorted(HAND_ROUTES))
def test_route_matches_hand_worked_marks(key):
    rows, cols, s, t = key
    assert route_marks(rows, cols, s, t) == HAND_ROUTES[key]


@pytest.mark.parametrize("key", sorted(HAND_ROUTES))
def test_single_link_usage_is_the_hand_route(key):
    rows, cols, s, t = key
    k = 3
    links = np.zeros((rows * cols * k, rows * cols), dtype=bool)
    links[s * k + 1, t] = True
    usage = port_usage(links, rows, cols, k)
    expected = np.zeros_like(usage)
    for r, c, p in HAND_ROUTES[key]:
        expected[r, c, p] = 1
    np.testing.assert_array_equal(usage, expected)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 5), cols=st.integers(1, 5), data=st.data())
def test_single_link_touches_hop_distance_routers(rows, cols, data):
    """A route crosses d routers and marks 2d + 1 ports (in + out per router, tile input)."""
    if rows * cols < 2:
        return
    s = data.draw(st.integers(0, rows * cols - 1))
    t = data.draw(st.integers(0, rows * cols - 1).filter(lambda x: x != s))
    links = np.zeros((rows * cols, rows * cols), dtype=bool)
    links[s, t] = True
    usage = port_usage(links, rows, cols, 1)
    hops = hop_distance_matrix(rows, cols)[s, t]
    assert usage.sum() == 2 * hops + 1
    cells_used = (usage.sum(axis=2) > 0).sum()
    assert cells_used == hops + 1  # routers plus the destination tile


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 4), cols=st.integers(1, 4), k=st.integers(1, 4),
       seed=st.integers(0, 10_000), density=st.floats(0.0, 1.0))
def test_fast_router_equals_reference(rows, cols, k, seed, density):
    links = random_links(np.random.default_rng(seed), rows, cols, k, density)
    np.testing.assert_array_equal(port_usage(links, rows, cols, k),
                                  port_usage_reference(links, rows, cols, k))


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 4), cols=st.integers(1, 4), k=st.integers(1, 4),
       seed=st.integers(0, 10_000))
def test_usage_is_monotone_and_bounded_by_active_sources(rows, cols, k, seed):
    rng = np.random.default_rng(seed)
    big = random_links(rng, rows, cols, k, 0.5)
    small = big & (rng.random(big.shape) < 0.5)
    usage_big = port_usage(big, rows, cols, k)
    assert (port_usage(small, rows, cols, k) <= usage_big).all()
    assert usage_big.max(initial=0) <= big.any(axis=1).sum()


def test_intra_tile_links_use_no_router():
    rows, cols, k = 2, 3, 4
    links = np.zeros((rows * cols * k, rows * cols), dtype=bool)
    links[np.arange(rows * cols * k), np.arange(rows * cols * k) // k] = True
    result = check_mapping(make_spec(rows, cols, k), links)
    assert result.usage.sum() == 0 and result.n_links == 0 and result.mappable


def test_multicast_counts_a_shared_port_once_per_neuron():
    # 1x4 grid, K = 1: routes 0->2 and 0->3 both leave tile 0 through the R1 above it and walk
    # east along router row 0, so they share ports; the neuron's tree counts each port once.
    links = np.zeros((4, 4), dtype=bool)
    links[0, [2, 3]] = True
    marks = [set(route_marks(1, 4, 0, t)) for t in (2, 3)]
    shared = marks[0] & marks[1]
    assert shared  # the case really shares ports
    usage = port_usage(links, 1, 4, 1)
    assert usage.sum() == len(marks[0] | marks[1]) < sum(map(len, marks))
    assert usage.max() == 1
    links2 = np.zeros((8, 4), dtype=bool)  # two neurons of tile 0, same destinations
    links2[[0, 1]] = links[0]
    usage2 = port_usage(links2, 1, 4, 2)
    assert usage2.max() == 2 and all(usage2[m] == 2 for m in shared)


def test_capacity_grid_rotates_r1_east_west_of_tiles():
    spec = make_spec(1, 1, 2, cap_nt=3, cap_r0=5, cap_r1=(4, 1, 4, 1, 2, 3, 2, 3))
    cap = capacity_grid(spec)
    assert tuple(cap[1, 1]) == (3,) * 8  # the tile
    assert tuple(cap[0, 0]) == (5,) * 8  # R0 corner
    assert tuple(cap[0, 1]) == (4, 1, 4, 1, 2, 3, 2, 3)  # R1 north of the tile: as given
    # R1 west of the tile, rotated: new N = old W, E = old N, S = old E, W = old S
    assert tuple(cap[1, 0]) == (1, 4, 1, 4, 3, 2, 3, 2)


def test_violations_count_ports_over_capacity():
    spec = make_spec(1, 2, 3, cap_nt=3, cap_r0=3, cap_r1=2)
    links = np.zeros((6, 2), dtype=bool)
    links[:3, 1] = True  # 3 neurons of tile 0 into tile 1 through R1 (1,2): in_W, out_E, tile in_W
    result = check_mapping(spec, links)
    # R1 (1,2) is east/west of tiles: capacity rotated but uniform 2 -> in_W and out_E exceed it
    assert result.violations == 2 and not result.mappable
    assert result.n_links == 3
    assert set(map(tuple, np.argwhere(result.over_capacity))) == {(1, 2, IN_W), (1, 2, OUT_E)}


@pytest.mark.parametrize(("links", "message"), [
    (np.zeros((5, 2), dtype=bool), "links must have shape (N, T) = (6, 2)"),
    (np.zeros((6, 2), dtype=np.int8), "links must be a boolean array, got dtype int8"),
])
def test_bad_links_raise_links_error(links, message):
    with pytest.raises(LinksError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_mapping(make_spec(1, 2, 3), links)


def test_multicast_routers_counts_distinct_routers_per_neuron():
    from hardware.routing import multicast_routers

    links = np.zeros((9, 9), dtype=bool)
    links[0, [1, 3]] = True  # 0->1 and 0->3: 1 router each, disjoint -> 2
    links[4, 1] = True  # 4->1: vertical neighbours -> 1
    links[8, [0, 1]] = True  # 8->0 (7 routers) and 8->1 share the column-2 walk
    hops = multicast_routers(links, 3, 3, 1)
    union = {(r, c) for t in (0, 1) for r, c, _ in route_marks(3, 3, 8, t)
             if not (r % 2 == 1 and c % 2 == 1)}
    assert hops[0] == 2 and hops[4] == 1 and hops[8] == len(union)
    assert hops[[1, 2, 3, 5, 6, 7]].sum() == 0

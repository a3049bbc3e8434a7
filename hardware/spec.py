"""`MosaicSpec`: the frozen, validated description of one Mosaic chip (DESIGN.md 3.1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, dataclass

from hardware.errors import SpecError
from hardware.keys import AT_LEAST_1, NON_NEGATIVE, key

PORTS = ("in_N", "in_E", "in_S", "in_W", "out_N", "out_E", "out_S", "out_W")
Ports8 = tuple[int, int, int, int, int, int, int, int]


@dataclass(frozen=True)
class CapacityKind:
    """One kind of port capacity: its MosaicSpec field (= [hardware] key, `map --cap-<short>`),
    the cells it sets (a cell type of hardware.geometry: "NT", "R0" or "R1") and a help line.

    Every layer iterates CAPACITIES (spec checks, capacity grid, proxy shortfalls, `map`'s flags
    and table, the network file); a new kind is a row here, its MosaicSpec field and its memory
    term in hardware/memory.py."""

    key: str
    cells: str
    help: str

    @property
    def short(self) -> str:
        """'cap_r1' -> 'r1': the `map` report's key and flag suffix."""
        return self.key.removeprefix("cap_")


CAPACITIES = (
    CapacityKind("cap_nt", "NT", "neuron-tile ports: source neurons entering a tile per side"),
    CapacityKind("cap_r0", "R0", "R0 router ports: source neurons per port of a corner router"),
    CapacityKind("cap_r1", "R1", "R1 router ports: source neurons per port of a router between "
                 "two tiles (east/west ones rotated by 90 degrees)"),
)
CAPACITY_HELP = {kind.key: f"{kind.help}: an int for all 8 ports or 8 ints (in_N..out_W)"
                 for kind in CAPACITIES}


def _positive_int(name: str, value: object) -> int:
    """`value` as an int >= 1, else SpecError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{name} must be a positive integer, got {value!r} (set [hardware].{name})")
    return value


def normalise_ports(name: str, value: int | Sequence[int]) -> Ports8:
    """An int or 8-sequence of port capacities as a validated, 180°-symmetric 8-tuple.

    Order: in_N, in_E, in_S, in_W, out_N, out_E, out_S, out_W. 180° symmetry means
    N == S and E == W within the input group and within the output group.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        ports = (value,) * 8
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 8:
        ports = tuple(value)
    else:
        raise SpecError(f"{name} must be an int or 8 ints (in_N..out_W), got {value!r} "
                        f"(set [hardware].{name})")
    for port, v in zip(PORTS, ports, strict=True):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise SpecError(f"{name}[{port}] must be an integer >= 0, got {v!r} "
                            f"(set [hardware].{name})")
    for a, b in ((0, 2), (1, 3), (4, 6), (5, 7)):
        if ports[a] != ports[b]:
            raise SpecError(f"{name} must be 180°-symmetric: {PORTS[a]}={ports[a]} != "
                            f"{PORTS[b]}={ports[b]} (make opposite ports equal)")
    return ports  # type: ignore[return-value]


@dataclass(frozen=True)
class MosaicSpec:
    """A Mosaic chip: rows x cols neuron tiles of `neurons_per_tile` neurons, router capacities.

    Capacities count source neurons per port (an int for all 8 ports or an 8-tuple);
    hop_energy_pj: energy per spike per routing-tile hop; bits_per_cell: bits of one memory cell.
    """

    rows: int = key(MISSING, AT_LEAST_1, "tile rows of the grid")
    cols: int = key(MISSING, AT_LEAST_1, "tile columns of the grid")
    neurons_per_tile: int = key(MISSING, AT_LEAST_1, "neurons per tile (K)")
    cap_nt: int | Sequence[int] = key(32, NON_NEGATIVE, CAPACITY_HELP["cap_nt"])
    cap_r0: int | Sequence[int] = key(32, NON_NEGATIVE, CAPACITY_HELP["cap_r0"])
    cap_r1: int | Sequence[int] = key(64, NON_NEGATIVE, CAPACITY_HELP["cap_r1"])
    hop_energy_pj: float = key(1.0, NON_NEGATIVE, "energy per spike per routing-tile hop, pJ")
    bits_per_cell: int = key(1, AT_LEAST_1, "bits of one memory cell (memory_bits = "
                             "memory_cells * bits_per_cell)")

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "neurons_per_tile", "bits_per_cell"):
            _positive_int(name, getattr(self, name))
        for kind in CAPACITIES:
            object.__setattr__(self, kind.key, normalise_ports(kind.key, getattr(self, kind.key)))
        energy = self.hop_energy_pj
        if isinstance(energy, bool) or not isinstance(energy, int | float) or not energy >= 0:
            raise SpecError(f"hop_energy_pj must be a number >= 0, got {energy!r} "
                            "(set [hardware].hop_energy_pj)")

    @property
    def n_tiles(self) -> int:
        """T = rows * cols."""
        return self.rows * self.cols

    @property
    def n_neurons(self) -> int:
        """N = rows * cols * neurons_per_tile."""
        return self.n_tiles * self.neurons_per_tile

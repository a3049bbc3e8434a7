"""The trained network as a NIR graph (`train --save-network FILE.nir`), for other simulators.

Graph (node names as snntorch's importer expects a recurrent layer, `<layer>.lif` and
`<layer>.w_rec`):

    input (n_inputs) -> input_weights: Linear (N, n_inputs) -> rec.lif: LIF (N)
    rec.lif -> rec.w_rec: Linear (N, N) -> rec.lif              (recurrent weights, row = target)
    rec.lif -> readout: Linear (n_classes, N) -> output (n_classes)

The readout selects the last n_classes neurons; the class is the argmax of its spikes summed
over all time steps. Time: one step per time bin, dt = duration / time_bins seconds (graph
metadata `dt`). The project's neuron per step is u_t = a v_{t-1} + I_t + W z_{t-1} with
a = exp(-dt / tau); NIR's LIF (tau dv/dt = v_leak - v + r I) under forward Euler with step dt
gives the same update for tau_NIR = dt / (1 - a), r = tau_NIR / dt and v_leak = 0, which the
file holds. Reset: NIR's LIF resets to v_reset = 0; the project's neuron subtracts the
threshold instead (metadata `reset`: "detached" subtracts theta after the spike, "original"
subtracts theta * z_{t-1} at the next step), which `read_nir` restores exactly and a NIR
importer without a subtractive reset does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hardware.errors import LinksError
from search.artefacts.network_file import NetworkFile, Neuron

LAYER = "rec"
RESET_TEXT = {"detached": "subtract threshold after the spike (v = u - theta z)",
              "original": "subtract threshold * previous spike at the next step, undecayed"}


@dataclass(frozen=True)
class LIFNetwork:
    """A recurrent LIF layer as the project simulates it (`model.network.TiledLIF`).

    w_in float32 (n_inputs, N) and w_rec float32 (N, N, row = source): effective weights.
    dt: seconds per step; tau: seconds (decay per step exp(-dt / tau)); threshold; reset:
    "detached" | "original"; readout: the last n_classes neurons.
    """

    w_in: np.ndarray = field(compare=False)
    w_rec: np.ndarray = field(compare=False)
    neurons_per_tile: int
    n_classes: int
    dt: float
    tau: float
    threshold: float
    reset: str

    @property
    def decay(self) -> float:
        """Membrane decay per step, exp(-dt / tau) (as `model.network.decay_factor`)."""
        return math.exp(-self.dt / self.tau)


def lif_network(w_in: np.ndarray, w_rec: np.ndarray, neurons_per_tile: int,
                neuron: Neuron) -> LIFNetwork:
    """The LIFNetwork of trained weights simulated as `neuron` says."""
    return LIFNetwork(w_in, w_rec, neurons_per_tile, neuron.n_classes, neuron.dt, neuron.tau,
                      neuron.threshold, neuron.reset)


def file_network(net: NetworkFile, source: object = "the network file") -> LIFNetwork:
    """The LIFNetwork of a network file (`search.artefacts.network_file`); LinksError when the
    file predates the neuron settings (a NIR graph needs them)."""
    if net.neuron is None:
        raise LinksError(f"{source} lacks the neuron settings (n_classes, dt, tau, threshold, "
                         "reset) a NIR graph needs: it was written by an older mosaic-dse "
                         "(train again with --save-network FILE.nir)")
    return lif_network(net.w_in, net.w_rec, net.spec.neurons_per_tile, net.neuron)


def network_graph(net: LIFNetwork):  # noqa: ANN201 - nir.NIRGraph (nir is optional)
    """The NIR graph of `net` (see the module docstring)."""
    import nir

    n_inputs, n = net.w_in.shape
    tau_nir = net.dt / (1.0 - net.decay)
    full = np.ones(n)
    readout = np.zeros((net.n_classes, n), np.float32)
    readout[np.arange(net.n_classes), np.arange(n - net.n_classes, n)] = 1.0
    lif = nir.LIF(tau=tau_nir * full, r=tau_nir / net.dt * full, v_leak=0.0 * full,
                  v_threshold=net.threshold * full, v_reset=0.0 * full,
                  metadata={"reset": net.reset, "reset_rule": RESET_TEXT[net.reset],
                            "decay_per_step": net.decay, "tau_exponential": net.tau})
    nodes = {"input": nir.Input(input_type={"input": np.array([n_inputs])}),
             "input_weights": nir.Linear(weight=np.ascontiguousarray(net.w_in.T)),
             f"{LAYER}.lif": lif,
             f"{LAYER}.w_rec": nir.Linear(weight=np.ascontiguousarray(net.w_rec.T)),
             "readout": nir.Linear(weight=readout),
             "output": nir.Output(output_type={"output": np.array([net.n_classes])})}
    edges = [("input", "input_weights"), ("input_weights", f"{LAYER}.lif"),
             (f"{LAYER}.lif", f"{LAYER}.w_rec"), (f"{LAYER}.w_rec", f"{LAYER}.lif"),
             (f"{LAYER}.lif", "readout"), ("readout", "output")]
    metadata = {"producer": "mosaic-dse", "dt": net.dt, "time_step": "one step per time bin",
                "neurons_per_tile": net.neurons_per_tile, "n_classes": net.n_classes,
                "readout": "class = argmax of output spikes summed over all steps",
                "reset": net.reset}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def graph_network(graph) -> LIFNetwork:  # noqa: ANN001 - nir.NIRGraph
    """The LIFNetwork of a graph written by `network_graph` (LinksError if it is not one)."""
    try:
        lif, meta = graph.nodes[f"{LAYER}.lif"], graph.metadata
        return LIFNetwork(
            w_in=np.asarray(graph.nodes["input_weights"].weight, np.float32).T.copy(),
            w_rec=np.asarray(graph.nodes[f"{LAYER}.w_rec"].weight, np.float32).T.copy(),
            neurons_per_tile=int(meta["neurons_per_tile"]), n_classes=int(meta["n_classes"]),
            dt=float(meta["dt"]), tau=float(lif.metadata["tau_exponential"]),
            threshold=float(np.unique(lif.v_threshold)[0]), reset=str(lif.metadata["reset"]))
    except (KeyError, AttributeError) as exc:
        raise LinksError(f"not a mosaic-dse NIR network: it lacks {exc} (write one with "
                         "train --save-network FILE.nir)") from None


def write_nir(path: Path, net: LIFNetwork) -> None:
    """Write `net` as a NIR (HDF5) file atomically."""
    import io

    import nir

    from analysis.io import atomic_write_bytes

    buffer = io.BytesIO()
    nir.write(buffer, network_graph(net))
    atomic_write_bytes(Path(path).expanduser(), buffer.getvalue())


def read_nir(path: Path) -> LIFNetwork:
    """The LIFNetwork of a NIR file written by `write_nir`."""
    import nir

    if not Path(path).is_file():
        raise LinksError(f"NIR file not found: {path} (write one with train --save-network "
                         "FILE.nir)")
    return graph_network(nir.read(path))


def tiled_lif(net: LIFNetwork, kernel: str = "fused"):  # noqa: ANN201 - model.network.TiledLIF
    """The project's TiledLIF module holding `net`'s weights (block input mask as trained;
    every recurrent weight allowed: the file's zeros stay zero)."""
    import torch

    from model.network import TiledLIF

    n_inputs, n = net.w_in.shape
    module = TiledLIF(n_inputs, n, net.neurons_per_tile, net.decay, net.threshold, net.reset,
                      kernel=kernel)
    with torch.no_grad():
        module.w_in.copy_(torch.from_numpy(net.w_in))
        module.w_rec.copy_(torch.from_numpy(net.w_rec))
        module.rec_mask.fill_(1.0)
    return module

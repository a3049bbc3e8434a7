"""Checkpoints of a training run: everything needed to continue it exactly after an epoch.

A checkpoint is a flat dict of numpy arrays (saved with np.savez by the caller): weights and
masks, links, the Adam state, every random generator's state and the loss curve so far.
Continuing from it gives the same result as an uninterrupted run with the same seed on CPU.
`check_state` tells a damaged or foreign checkpoint from a usable one before anything trains.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from hardware.errors import MosaicDSEError
from hardware.spec import MosaicSpec
from model.config import TrainConfig
from model.methods import draws_weight_noise
from model.run import Run, RunState

FORMAT = 1
REQUIRED = ("format", "epoch", "curve", "initial_rate", "links", "rng", "gen", "w_in", "w_rec",
            "rec_mask")
MOMENTS = ("exp_avg", "exp_avg_sq", "step")
_KINDS = {np.floating: "float", np.bool_: "bool", np.number: "a number"}


class CheckpointError(MosaicDSEError, ValueError):
    """A checkpoint that does not belong to this run or is damaged."""


@dataclass(frozen=True)
class StateShape:
    """What a run's checkpoint must hold: its sizes, its epochs (None: not checked) and whether
    it draws weight noise (then the noise generator's state is required)."""

    n_inputs: int
    n_neurons: int
    n_tiles: int
    epochs: int | None
    noise: bool


def expected_state(spec: MosaicSpec, cfg: TrainConfig, n_inputs: int) -> StateShape:
    """The StateShape of a run of `spec` with `cfg` on data with `n_inputs` input channels."""
    return StateShape(n_inputs, spec.n_neurons, spec.n_tiles, cfg.epochs,
                      draws_weight_noise(cfg.method, cfg.mosaic_noise))


def check_state(state: Mapping[str, np.ndarray], shape: StateShape) -> None:
    """CheckpointError naming the first problem of `state` for a run of `shape`: a missing key,
    another format, an epoch outside 0..epochs, a wrong shape or dtype, non-finite weights."""
    missing = [k for k in (*REQUIRED, *(("noise_gen",) if shape.noise else ())) if k not in state]
    if missing:
        raise CheckpointError(f"the checkpoint lacks {', '.join(missing)}")
    if _scalar(state, "format") != FORMAT:
        raise CheckpointError(f"checkpoint format {_scalar(state, 'format')}, expected {FORMAT}")
    epoch, last = _scalar(state, "epoch"), shape.epochs
    if not float(epoch).is_integer() or epoch < 0 or last is not None and epoch > last:
        raise CheckpointError(f"checkpoint epoch {epoch} is outside 0..{last}")
    n, k = shape.n_neurons, shape.n_inputs
    _check_array(state, "curve", (int(epoch),), np.floating)
    for name, dims, kind in (("links", (n, shape.n_tiles), np.bool_),
                             ("rec_mask", (n, n), np.bool_), ("w_in", (k, n), np.floating),
                             ("w_rec", (n, n), np.floating)):
        _check_array(state, name, dims, kind)
    for name, dims in (("w_in", (k, n)), ("w_rec", (n, n))):
        present = [m for m in MOMENTS if f"{name}.{m}" in state]
        if present and len(present) < len(MOMENTS):
            raise CheckpointError(f"the checkpoint holds only {present} of {name}'s Adam state")
        for m in present:
            _check_array(state, f"{name}.{m}", dims if m != "step" else (), np.number)
    _check_generators(state)
    if not math.isfinite(_scalar(state, "initial_rate")):
        raise CheckpointError("the checkpoint's initial_rate is not finite")


def _scalar(state: Mapping[str, np.ndarray], key: str) -> float:
    """The one number stored under `key`; CheckpointError if it is not one number."""
    value = np.asarray(state[key])
    if value.shape != () or not np.issubdtype(value.dtype, np.number):
        raise CheckpointError(f"checkpoint {key} is not a number ({value.dtype} {value.shape})")
    return value.item()


def _check_array(state: Mapping[str, np.ndarray], key: str, dims: tuple[int, ...],
                 kind: type) -> None:
    """CheckpointError unless state[key] has shape `dims`, a dtype of `kind` and finite values."""
    value = np.asarray(state[key])
    if value.shape != dims or not np.issubdtype(value.dtype, kind):
        raise CheckpointError(f"checkpoint {key} is {value.dtype} {value.shape}, this run's "
                              f"network needs {_KINDS[kind]} {dims}")
    if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
        raise CheckpointError(f"checkpoint {key} holds non-finite values")


def _check_generators(state: Mapping[str, np.ndarray]) -> None:
    """CheckpointError unless the generator states are byte strings torch and numpy accept."""
    for key in ("rng", "gen", "noise_gen"):
        value = np.asarray(state.get(key, np.zeros(1, np.uint8)))
        if value.ndim != 1 or value.dtype != np.uint8 or value.size == 0:
            raise CheckpointError(f"checkpoint {key} is not a generator state")
    if state["gen"].size != torch.Generator().get_state().numel():
        raise CheckpointError("checkpoint gen is not a torch generator state")
    try:
        np.random.PCG64().state = json.loads(bytes(state["rng"]).decode())  # default_rng's
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"checkpoint rng is not a numpy generator state ({exc})") from None


def run_state(run: Run, epoch: int, curve: list[float]) -> dict[str, np.ndarray]:
    """The checkpoint of `run` after `epoch` epochs with losses `curve`."""
    net, opt = run.net, run.optimizer
    state = {
        "format": np.array(FORMAT), "epoch": np.array(epoch),
        "curve": np.asarray(curve, dtype=np.float64),
        "initial_rate": np.array(run.initial_rate),
        "links": run.links.copy(),
        "rng": np.frombuffer(json.dumps(run.rng.bit_generator.state).encode(), dtype=np.uint8),
        "gen": run.gen.get_state().numpy().copy(),
    }
    if net.noise_gen is not None:
        state["noise_gen"] = net.noise_gen.get_state().cpu().numpy().copy()
    for name, param in (("w_in", net.w_in), ("w_rec", net.w_rec)):
        state[name] = param.detach().cpu().numpy().copy()
        moments = opt.state.get(param, {})
        for key in ("exp_avg", "exp_avg_sq", "step"):
            if key in moments:
                state[f"{name}.{key}"] = torch.as_tensor(moments[key]).cpu().numpy().copy()
    state["rec_mask"] = net.rec_mask.bool().cpu().numpy()
    return state


def restore_state(run: Run, state: RunState) -> tuple[int, list[float]]:
    """Load a checkpoint into a freshly built `run`; returns (epochs done, loss curve)."""
    net, opt = run.net, run.optimizer
    shape = StateShape(net.w_in.shape[0], net.w_rec.shape[0], run.links.shape[1], None,
                       net.noise_gen is not None)
    try:
        check_state(state, shape)
    except CheckpointError as exc:
        raise CheckpointError(f"the checkpoint does not match this run's network: {exc} (start "
                              "the trial afresh: delete its checkpoint)") from None
    run.links = np.asarray(state["links"], dtype=bool).copy()
    run.rng.bit_generator.state = json.loads(bytes(state["rng"]).decode())
    run.gen.set_state(torch.from_numpy(np.asarray(state["gen"], dtype=np.uint8).copy()))
    if net.noise_gen is not None:
        noise = torch.from_numpy(np.asarray(state["noise_gen"], dtype=np.uint8).copy())
        net.noise_gen.set_state(noise)
    run.initial_rate = float(state["initial_rate"])
    mask = torch.from_numpy(np.asarray(state["rec_mask"], dtype=bool)).to(run.device)
    with torch.no_grad():
        net.rec_mask.copy_(mask)
        for name, param in (("w_in", net.w_in), ("w_rec", net.w_rec)):
            param.copy_(torch.from_numpy(np.asarray(state[name])).to(run.device))
    opt.set_mask(net.w_rec, mask)
    for name, param in (("w_in", net.w_in), ("w_rec", net.w_rec)):
        if f"{name}.exp_avg" not in state:
            continue
        opt.state[param] = {
            key: torch.from_numpy(np.asarray(state[f"{name}.{key}"]).copy()).to(
                run.device if key != "step" else "cpu")
            for key in MOMENTS}
    return int(state["epoch"]), [float(v) for v in state["curve"]]

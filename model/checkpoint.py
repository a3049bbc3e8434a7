"""Checkpoints of a training run: everything needed to continue it exactly after an epoch.

A checkpoint is a flat dict of numpy arrays (saved with np.savez by the caller): weights and
masks, links, the Adam state, every random generator's state and the loss curve so far.
Continuing from it gives the same result as an uninterrupted run with the same seed on CPU.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import torch

from hardware.errors import MosaicDSEError

if TYPE_CHECKING:
    from model.train import _Run

FORMAT = 1


class CheckpointError(MosaicDSEError, ValueError):
    """A checkpoint that does not belong to this run or is damaged."""


def run_state(run: _Run, epoch: int, curve: list[float]) -> dict[str, np.ndarray]:
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


def restore_state(run: _Run, state: dict[str, np.ndarray]) -> tuple[int, list[float]]:
    """Load a checkpoint into a freshly built `run`; returns (epochs done, loss curve)."""
    net, opt = run.net, run.optimizer
    if int(state.get("format", -1)) != FORMAT or state["w_rec"].shape != tuple(net.w_rec.shape):
        raise CheckpointError("the checkpoint does not match this run's network (start the "
                              "trial afresh: delete its checkpoint)")
    run.links = np.asarray(state["links"], dtype=bool).copy()
    run.rng.bit_generator.state = json.loads(bytes(state["rng"]).decode())
    run.gen.set_state(torch.from_numpy(np.asarray(state["gen"], dtype=np.uint8).copy()))
    if net.noise_gen is not None and "noise_gen" in state:
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
            for key in ("exp_avg", "exp_avg_sq", "step")}
    return int(state["epoch"]), [float(v) for v in state["curve"]]

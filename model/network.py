"""The tiled recurrent LIF network: LIF step, reference and fused recurrences, masks, module.

Neuron i sits in tile i // K. Per time bin t (dt = duration / time_bins seconds), with
decay a = exp(-dt / tau) and threshold theta:

    u_t = a * v_{t-1} + I_t + z_{t-1} @ W_rec      (membrane before spiking)
    z_t = H(u_t - theta)                           (spike, surrogate 1 / (10|u - theta| + 1)^2)
    v_t = u_t - theta * z_t                        (soft reset by subtraction)

v_{-1} = 0 and z_{-1} = 0. The reset uses the spike without its gradient (detached), which keeps
the surrogate gradient from flowing through the reset ("original" instead subtracts theta *
z_{t-1} at the next bin, with gradient). Three kernels compute it: the per-step autograd
reference (`lif_reference`), the fused loop with dense products and hand-written BPTT
(`lif_recurrence`) and the same on packed (source neuron -> destination tile) weight blocks
(`lif_recurrence_blocks`, `model.block_lif`), which skips the empty blocks of W; tests check
that all three agree. `TiledLIF` picks the blocks where they pay (`blocks_pay`).
Input channel j drives the K neurons of tile j // K (block input crossbars); the readout is the
spike counts of the last `n_classes` neurons.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from model.block_lif import block_lif_recurrence, block_sources, blocks_pay, pack_blocks
from model.surrogate import spike_fn, surrogate_derivative

RESETS = ("detached", "original")
# (masked w_in, masked w_rec) -> their forward copy, values only (see TiledLIF.weights)
WeightRule = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def check_reset(reset: str) -> None:
    """ValueError unless `reset` is one of RESETS."""
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")


def lif_step(v: torch.Tensor, z: torch.Tensor, current: torch.Tensor, w_rec: torch.Tensor,
             decay: float, threshold: float,
             reset: str = "detached") -> tuple[torch.Tensor, torch.Tensor]:
    """One LIF time bin, state in and state out.

    v, z: float (B, N) membrane state and spikes of the previous bin; current: float (B, N)
    input current of this bin; w_rec: float (N, N) effective recurrent weights (row = source).
    Returns (v, z) of this bin. reset "detached": v is the membrane after subtracting theta * z
    (z detached); "original": v is the pre-reset membrane and theta * z_{t-1} is subtracted at
    the next bin, with gradient.
    """
    if reset == "original":
        u = decay * v + current + z @ w_rec - threshold * z
        return u, spike_fn(u - threshold)
    check_reset(reset)
    u = decay * v + current + z @ w_rec
    z_new = spike_fn(u - threshold)
    return u - threshold * z_new.detach(), z_new


def lif_reference(currents: torch.Tensor, w_rec: torch.Tensor, decay: float,
                  threshold: float, reset: str = "detached") -> torch.Tensor:
    """Spikes float (B, T, N) of the recurrence by a plain autograd loop over `lif_step`.

    The simple reference of `lif_recurrence`; currents: float (B, T, N); w_rec: float (N, N).
    """
    batch, steps, n = currents.shape
    v = currents.new_zeros(batch, n)
    z = currents.new_zeros(batch, n)
    spikes = []
    for t in range(steps):
        v, z = lif_step(v, z, currents[:, t], w_rec, decay, threshold, reset)
        spikes.append(z)
    return torch.stack(spikes, dim=1)


class _LIFRecurrence(torch.autograd.Function):
    """Fused forward loop and hand-written backpropagation through time (see module docstring).

    Backward, with g_u(t) = dL/du_t, sigma'_t the surrogate at u_t - theta and g_z the gradient
    arriving at the spikes: g_u(t) = a * g_u(t+1) + sigma'_t * (g_z(t) + g_u(t+1) @ W^T), since
    dv_t/du_t = 1 (detached reset) and u_{t+1} depends on v_t (factor a) and z_t (through W).
    Then dL/dI_t = g_u(t) and dL/dW = sum_t z_{t-1}^T g_u(t), one matmul over all bins.
    """

    @staticmethod
    def forward(ctx, currents: torch.Tensor, w_rec: torch.Tensor, decay: float,
                threshold: float, subtract: float) -> torch.Tensor:
        """Spikes (B, T, N); saves the membranes u (T, B, N) for the backward pass.

        subtract: the detached reset (theta, or 0 when the reset lives in w_rec)."""
        steps_first = currents.transpose(0, 1).contiguous()  # (T, B, N): contiguous bins
        u_all = torch.empty_like(steps_first)
        v = steps_first.new_zeros(steps_first.shape[1:])
        z = torch.zeros_like(v)
        for t in range(steps_first.shape[0]):
            u = torch.addmm(steps_first[t], z, w_rec, out=u_all[t])
            u.add_(v, alpha=decay)
            z = (u > threshold).to(u.dtype)
            v = torch.sub(u, z, alpha=subtract)
        ctx.save_for_backward(u_all, w_rec)
        ctx.decay, ctx.threshold = decay, threshold
        return (u_all > threshold).to(u_all.dtype).transpose(0, 1)

    @staticmethod
    def backward(ctx, grad_spikes: torch.Tensor):
        """Gradients for (currents, w_rec, decay, threshold, subtract), the last three None."""
        u_all, w_rec = ctx.saved_tensors
        surrogate = surrogate_derivative(u_all - ctx.threshold)
        grad_z = grad_spikes.transpose(0, 1).contiguous()
        grad_u = torch.empty_like(u_all)
        w_t = w_rec.t()
        g_next = u_all.new_zeros(u_all.shape[1:])
        for t in range(u_all.shape[0] - 1, -1, -1):
            g_total = torch.addmm(grad_z[t], g_next, w_t)
            g_next = torch.addcmul(g_next * ctx.decay, g_total, surrogate[t], out=grad_u[t])
        grad_w = None
        if ctx.needs_input_grad[1]:
            z_prev = (u_all[:-1] > ctx.threshold).to(u_all.dtype).flatten(0, 1)
            grad_w = z_prev.t() @ grad_u[1:].flatten(0, 1)
        return grad_u.transpose(0, 1), grad_w, None, None, None


def _reset_in_weights(w_rec: torch.Tensor, threshold: float,
                      reset: str) -> tuple[torch.Tensor, float]:
    """(weights, detached reset) for the fused kernels: the "original" reset -theta * z_{t-1}
    (with gradient) is the reset-free recurrence with W - theta * I, so a kernel with only the
    detached reset (theta, here 0) runs both conventions."""
    check_reset(reset)
    if reset == "original":
        eye = torch.eye(w_rec.shape[0], dtype=w_rec.dtype, device=w_rec.device)
        return w_rec - threshold * eye, 0.0
    return w_rec, threshold


def lif_recurrence(currents: torch.Tensor, w_rec: torch.Tensor, decay: float,
                   threshold: float, reset: str = "detached") -> torch.Tensor:
    """Spikes float (B, T, N) of the recurrent LIF layer, fused loop and hand-written BPTT.

    currents: float (B, T, N) input current per bin; w_rec: float (N, N) effective recurrent
    weights (row = source neuron). Same values and gradients as `lif_reference`; dense
    products, kept as the reference of `lif_recurrence_blocks`.
    """
    weights, subtract = _reset_in_weights(w_rec, threshold, reset)
    return _LIFRecurrence.apply(currents, weights, decay, threshold, subtract)


def lif_recurrence_blocks(currents: torch.Tensor, w_rec: torch.Tensor, sources: torch.Tensor,
                          decay: float, threshold: float,
                          reset: str = "detached") -> torch.Tensor:
    """Spikes float (B, T, N) of the recurrent LIF layer on packed weight blocks (fast path).

    currents: float (B, T, N), fastest when its memory is bin-major (T, N, B), as
    `TiledLIF.input_currents` makes it; w_rec: float (N, N), zero outside the blocks listed by
    sources: int64 (C, S) from `model.block_lif.block_sources(mask, K)`. Same values as
    `lif_recurrence` within float rounding; the w_rec gradient is its gradient on the listed
    blocks and zero elsewhere (a masked weight's gradient is zero either way). The result is a
    (B, T, N) view of bin-major memory.
    """
    weights, subtract = _reset_in_weights(w_rec, threshold, reset)
    spikes = block_lif_recurrence(currents.permute(1, 2, 0), pack_blocks(weights, sources),
                                  sources, decay, threshold, subtract)
    return spikes.permute(2, 0, 1)


def expand_links(links: np.ndarray, neurons_per_tile: int) -> np.ndarray:
    """bool (N, N): W[i, j] allowed iff links[i, j // K] (links: bool (N, T))."""
    return np.repeat(np.asarray(links, dtype=bool), neurons_per_tile, axis=1)


def recurrent_mask(links: np.ndarray, neurons_per_tile: int) -> np.ndarray:
    """bool (N, N): expanded `links` plus the dense intra-tile blocks (diagonal included)."""
    mask = expand_links(links, neurons_per_tile)
    tile = np.arange(mask.shape[0]) // neurons_per_tile
    return mask | (tile[:, None] == tile[None, :])


def input_mask(n_inputs: int, n_neurons: int, neurons_per_tile: int) -> np.ndarray:
    """bool (n_inputs, N): channel j feeds the K neurons of tile j // K (block crossbars)."""
    return (np.arange(n_inputs)[:, None] // neurons_per_tile
            == np.arange(n_neurons)[None, :] // neurons_per_tile)


def output_tiles(n_neurons: int, neurons_per_tile: int, n_classes: int) -> np.ndarray:
    """int64: the tiles holding the readout neurons, the last `n_classes` of N."""
    first = (n_neurons - n_classes) // neurons_per_tile
    return np.arange(first, n_neurons // neurons_per_tile, dtype=np.int64)


def decay_factor(duration: float, time_bins: int, tau: float) -> float:
    """Membrane decay per bin exp(-dt / tau), dt = duration / time_bins (seconds)."""
    return math.exp(-duration / time_bins / tau)


KERNELS = ("auto", "blocks", "fused", "reference")


def check_kernel(kernel: str, n_neurons: int, neurons_per_tile: int) -> None:
    """ValueError unless `kernel` is one of KERNELS and fits the layer (blocks need whole tiles)."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "blocks" and n_neurons % neurons_per_tile:
        raise ValueError(f"kernel 'blocks' needs n_neurons a multiple of neurons_per_tile, got "
                         f"{n_neurons} and {neurons_per_tile} (use kernel='auto' or 'fused')")


class TiledLIF(nn.Module):
    """One recurrent layer of N LIF neurons in tiles of K; thin shell around the LIF kernels.

    Parameters: w_in float (n_inputs, N) and w_rec float (N, N), start at zero (the trainer
    initialises them). Buffers: in_mask and rec_mask float (0/1) of the same shapes; the
    effective weights are parameter * mask (times `rec_gain` for w_rec), computed once per
    forward. kernel: "blocks"
    (`lif_recurrence_blocks`), "fused" (`lif_recurrence`, dense), "reference"
    (`lif_reference`, autograd loop) or "auto" (the default: blocks where `blocks_pay`, else
    fused; see `kernel_for`); all give the same spikes and gradients within float rounding.
    """

    def __init__(self, n_inputs: int, n_neurons: int, neurons_per_tile: int, decay: float,
                 threshold: float, reset: str = "detached", kernel: str = "auto") -> None:
        super().__init__()
        check_reset(reset)
        check_kernel(kernel, n_neurons, neurons_per_tile)
        self.neurons_per_tile, self.kernel = neurons_per_tile, kernel
        self.decay, self.threshold, self.reset = decay, threshold, reset
        # relative weight noise in training forward passes (Mosaic baseline), from noise_gen
        self.noise, self.noise_gen = 0.0, None
        # the forward copy's rule (Mosaic baseline's pruning and clipping), see `weights`
        self.weight_rule: WeightRule | None = None
        self.rec_gain = 1.0  # the forward pass runs on rec_gain * W (fan-in scaling)
        # Only the first ceil(n_inputs / K) tiles have input rows: the input matmul skips the rest.
        self.input_columns = min(n_neurons, -(-n_inputs // neurons_per_tile) * neurons_per_tile)
        self.w_in = nn.Parameter(torch.zeros(n_inputs, n_neurons))
        self.w_rec = nn.Parameter(torch.zeros(n_neurons, n_neurons))
        mask = torch.from_numpy(input_mask(n_inputs, n_neurons, neurons_per_tile))
        self.register_buffer("in_mask", mask.float())
        self.register_buffer("rec_mask", torch.eye(n_neurons))

    def set_links(self, links: np.ndarray) -> torch.Tensor:
        """Set rec_mask from links bool (N, T) (plus intra-tile blocks); returns the new mask."""
        mask = torch.from_numpy(recurrent_mask(links, self.neurons_per_tile))
        self.rec_mask.copy_(mask)
        return self.rec_mask

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(w_in float (n_inputs, N), w_rec float (N, N)): the masked weights the forward pass
        uses. With a `weight_rule`, their values are the rule's forward copy of the masked
        parameters and the gradient passes straight through to the parameters (the Mosaic
        baseline: the optimiser keeps the parameters, the copy is never written back)."""
        w_in, w_rec = self.w_in * self.in_mask, self.w_rec * self.rec_mask
        if self.weight_rule is None:
            return w_in, w_rec
        with torch.no_grad():
            copy_in, copy_rec = self.weight_rule(w_in.detach(), w_rec.detach())
        return w_in + (copy_in - w_in).detach(), w_rec + (copy_rec - w_rec).detach()

    def effective_weights(self, w_rec: torch.Tensor | None = None) -> torch.Tensor:
        """float (N, N): the recurrent weights of `weights` (or `w_rec`); while training with
        `noise` > 0, the Mosaic baseline's programming noise: every non-zero weight
        w + noise * max(W) * n, n ~ N(0, 1) (one draw per call), clipped to [-1, 1], with a
        straight-through gradient."""
        w_rec = self.weights()[1] if w_rec is None else w_rec
        if self.noise > 0 and self.training:
            draw = torch.randn(w_rec.shape, generator=self.noise_gen, device=w_rec.device)
            with torch.no_grad():
                noisy = w_rec + (w_rec != 0) * self.noise * w_rec.max() * draw
                noisy = noisy.clamp(-1.0, 1.0)
            w_rec = w_rec + (noisy - w_rec).detach()
        return w_rec

    def input_currents(self, x: torch.Tensor, bin_major: bool = False,
                       w_in: torch.Tensor | None = None) -> torch.Tensor:
        """Input currents float (B, T, N) of inputs x float (B, T, n_inputs), one matmul.

        w_in: the input weights of `weights` (default: the masked parameters). bin_major: the
        result is a view of (T, N, B) memory, the block kernel's layout, so the kernel needs
        no transposing copy (same values)."""
        cols, n = self.input_columns, self.w_rec.shape[0]
        if w_in is None:
            w = self.w_in[:, :cols] * self.in_mask[:, :cols]
        else:
            w = w_in[:, :cols]
        if bin_major:
            currents = torch.matmul(w.t(), x.permute(1, 2, 0))  # (T, cols, B)
            return nn.functional.pad(currents, (0, 0, 0, n - cols)).permute(2, 0, 1)
        return nn.functional.pad(x @ w, (0, n - cols))

    def kernel_for(self, batch: int) -> tuple[str, torch.Tensor | None]:
        """(kernel, block sources int64 (C, S) or None): what a forward pass of `batch` samples
        runs; "auto" resolves to "blocks" or "fused" by `blocks_pay` (on CPU; fused elsewhere)."""
        n, k = self.w_rec.shape[0], self.neurons_per_tile
        if self.kernel in ("fused", "reference"):
            return self.kernel, None
        # blocks_pay was measured on CPU; elsewhere "auto" keeps the dense kernel
        cpu = self.w_rec.device.type == "cpu"
        if self.kernel == "auto" and (not cpu or n % k or not blocks_pay(n, batch, 0.0)):
            return "fused", None  # no saving expected: skip deriving the blocks
        # derived from the mask at every call: rewiring (set_links) changes it
        sources = block_sources(self.rec_mask, k)
        if self.kernel == "auto" and not blocks_pay(n, batch, sources.numel() * k / n ** 2):
            return "fused", None
        return "blocks", sources

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes float (B, T, N) in {0, 1} for inputs x float (B, T, n_inputs)."""
        kernel, sources = self.kernel_for(x.shape[0])
        w_in, w_rec = self.weights()
        currents = self.input_currents(x, bin_major=kernel == "blocks", w_in=w_in)
        w_rec = self.effective_weights(w_rec if self.rec_gain == 1.0 else self.rec_gain * w_rec)
        if sources is not None:
            return lif_recurrence_blocks(currents, w_rec, sources, self.decay, self.threshold,
                                         self.reset)
        recurrence = lif_recurrence if kernel == "fused" else lif_reference
        return recurrence(currents, w_rec, self.decay, self.threshold, self.reset)


def readout_logits(spikes: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Logits float (B, n_classes): spike counts of the last n_classes neurons over all bins."""
    return spikes[:, :, -n_classes:].sum(dim=1)

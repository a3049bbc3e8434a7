"""The fused LIF recurrence on packed weight blocks: the fast training and evaluation kernel.

Symbols as in `model.network` (u, v, z, a = decay, theta = threshold; g_u(t) = dL/du_t). A
recurrent weight W[i, j] can be non-zero only in the block (source neuron i, destination tile
c = j // K) of K weights, and most blocks are empty (inter-tile links are sparse). For each of
the C = N / K destination tiles, `sources[c]` (int64 (C, S)) lists the source neurons with a
block into c, ascending, padded with N (a source that never spikes); `packed[c, s]` (float
(C, S, K)) holds the block W[sources[c, s], cK:(c+1)K], zero for padding. Per bin, each
product is one row gather and one batched matmul of C * S * K * B multiply-adds (N^2 * B dense):

    forward   (z_{t-1} W)[cK+k, b] = sum_s packed[c, s, k] z_{t-1}[sources[c, s], b]
    backward  (g_u W^T)[i, b] = sum of packed[c, s] . g_u[cK:(c+1)K, b] over sources[c, s] = i
    weights   dL/dpacked[c, s, k] = sum_t sum_b z_{t-1}[sources[c, s], b] g_u(t)[cK+k, b]

Tensors are (T, N, B): a bin is one contiguous (N, B) slab and the gathers select whole rows
(an (N, T, B) layout was slower: a bin's rows then lie in different memory pages).

Chosen by measurement on 2 cores (5x5 tiles x 32, B = 64, 2-10% firing): per bin, the block
forward product took about 0.2 ms; using the spikes' sparsity instead, a CSR spike matrix times
W took 0.25-0.3 ms and adding W's rows of the active spikes (index_add) 0.35-0.55 ms, dense
0.6 ms. The backward product g_u W^T is dense in g_u: 0.26 ms as blocks and scatter-add, 0.6
ms as CSR, 0.65 ms dense, slower grouped by source tile (padding to whole tile blocks). For the
weight gradient, sparse-by-dense products over all bins were slower than one dense matmul; the
block form per bin is cheaper than both. So the kernel skips empty blocks, not silent neurons,
and its cost does not depend on the firing rate.
"""

from __future__ import annotations

import torch

from model.surrogate import surrogate_derivative

# Measured on 2 cores (benchmarks/bench_train.py and a sweep of sizes and link densities): per
# multiply-add a block product costs about twice a dense one (small batched matmuls), and the
# block kernel's extra operations per bin cost about 2^22 multiply-adds of dense product.
BLOCK_COST, BLOCKS_MIN_SAVING = 2.0, 2 ** 22


def blocks_pay(n_neurons: int, batch: int, fill: float) -> bool:
    """Whether the block kernel should beat the dense fused one: N^2 B (1 - BLOCK_COST fill)
    >= BLOCKS_MIN_SAVING, with fill the blocks' share of the N x N matrix (C S K / N^2)."""
    return n_neurons ** 2 * batch * (1.0 - BLOCK_COST * fill) >= BLOCKS_MIN_SAVING


def block_sources(mask: torch.Tensor, neurons_per_tile: int) -> torch.Tensor:
    """int64 (C, S): per destination tile, the source neurons with an allowed weight into it.

    mask: bool or 0/1 float (N, N) allowed recurrent weights (row = source), N = C * K. Each
    neuron's own tile is always listed (the "original" reset puts -theta on the diagonal).
    Rows are ascending and padded with N to the longest row S.
    """
    n = mask.shape[0]
    tile = torch.arange(n, device=mask.device) // neurons_per_tile
    linked = mask.reshape(n, -1, neurons_per_tile).ne(0).any(dim=2)  # (N, C)
    linked[torch.arange(n, device=mask.device), tile] = True
    linked = linked.t()
    counts = linked.sum(dim=1)
    # a stable sort puts each tile's sources first, in ascending neuron order
    order = torch.sort(linked.to(torch.uint8), dim=1, descending=True, stable=True).indices
    width = int(counts.max())
    slots = torch.arange(width, device=mask.device)
    return torch.where(slots < counts[:, None], order[:, :width], n)


def pack_blocks(w_rec: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """float (C, S, K): packed[c, s] = w_rec[sources[c, s], cK:(c+1)K], zero where padded.

    w_rec: float (N, N), row = source. Differentiable: the gradient reaches the listed blocks.
    """
    n, tiles = w_rec.shape[0], sources.shape[0]
    real = sources < n
    tile = torch.arange(tiles, device=sources.device)[:, None]
    blocks = w_rec.reshape(n, tiles, n // tiles)[torch.where(real, sources, 0), tile]
    return blocks * real[:, :, None]  # padding slots hold zeros (and pass no gradient)


def _gather(z: torch.Tensor, index: torch.Tensor, tiles: int) -> torch.Tensor:
    """float (C, S, B): the rows `index` (flattened sources) of one bin's z float (N + 1, B)."""
    return z.index_select(0, index).view(tiles, -1, z.shape[1])


def _forward_weights(packed: torch.Tensor, sources: torch.Tensor, reset: float) -> torch.Tensor:
    """float (C, K, S): the blocks transposed for the forward product, with -reset added on the
    diagonal (each neuron's weight onto itself)."""
    tiles, _, k = packed.shape
    # a copy even where the transpose is contiguous already (K = 1): packed must stay as is
    weights_t = packed.transpose(1, 2).clone(memory_format=torch.contiguous_format)
    if reset:
        neuron = torch.arange(tiles * k, device=sources.device)
        tile = neuron // k
        slot = torch.searchsorted(sources[tile], neuron[:, None]).squeeze(1)  # rows ascend
        weights_t[tile, neuron % k, slot] -= reset
    return weights_t


def _forward_loop(currents: torch.Tensor, packed: torch.Tensor, sources: torch.Tensor,
                  decay: float, threshold: float, subtract: float,
                  keep_membranes: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(spikes float (T, N + 1, B) with row N zero, membranes u float (T, N, B) or None).

    currents: float (T, N, B); subtract: the detached reset (theta, or 0 when the reset
    lives on the diagonal of the blocks). With v_{t-1} = u_{t-1} - subtract * z_{t-1}, the
    bin is u_t = I_t + a u_{t-1} + z_{t-1} (W - a subtract I): the reset rides in the product
    (values only; the backward pass uses W, as the reset is detached)."""
    steps, n, batch = currents.shape
    tiles, _, k = packed.shape
    weights_t = _forward_weights(packed, sources, decay * subtract)
    index = sources.flatten()
    spikes = currents.new_empty(steps, n + 1, batch)
    spikes[:, n] = 0  # the padding source, silent
    membranes = currents.new_empty(steps, n, batch) if keep_membranes else None
    slabs = membranes if membranes is not None else currents.new_empty(2, n, batch)
    for t in range(steps):
        u = slabs[t % len(slabs)]  # without membranes: two slabs, this bin and the last
        if t == 0:  # v_{-1} = 0, z_{-1} = 0
            u.copy_(currents[0])
        else:
            torch.add(currents[t], slabs[(t - 1) % len(slabs)], alpha=decay, out=u)
            u.view(tiles, k, batch).baddbmm_(weights_t, _gather(spikes[t - 1], index, tiles))
        torch.gt(u, threshold, out=spikes[t, :n])
    return spikes, membranes


def _backward_loop(grad_spikes: torch.Tensor, membranes: torch.Tensor, spikes: torch.Tensor,
                   packed: torch.Tensor, sources: torch.Tensor, decay: float, threshold: float,
                   grad_packed: torch.Tensor | None) -> torch.Tensor:
    """float (T, N, B): g_u(t) = a g_u(t+1) + sigma'_t (g_z(t) + g_u(t+1) W^T), backwards.

    grad_spikes: float (T, N, B) g_z, any strides; membranes: float (T, N, B) u; spikes: float
    (T, N + 1, B), row N zero. grad_packed: float (C, S, K) zeros, or None; when given, it
    accumulates dL/dpacked[c] = sum_t z_{t-1}[sources[c]] g_u(t)[cK:(c+1)K]^T, bin by bin
    while g_u(t) is in cache."""
    steps, n, batch = membranes.shape
    tiles, _, k = packed.shape
    index = sources.flatten()
    grad_u = torch.empty_like(membranes)
    # row N takes the padding's terms (zero weights times g_u) and is never read
    total = membranes.new_zeros(n + 1, batch)
    g_next = None
    for t in range(steps - 1, -1, -1):
        total[:n].copy_(grad_spikes[t])
        if g_next is not None:  # g_u(T) = 0
            back = torch.bmm(packed, g_next.view(tiles, k, batch))  # (C, S, B)
            total.index_add_(0, index, back.view(-1, batch))
        # sigma'_t per bin, while the slab is in cache (not one pass over all T * N * B)
        g = torch.mul(total[:n], surrogate_derivative(membranes[t] - threshold),
                      out=grad_u[t])
        g_next = g if g_next is None else g.add_(g_next, alpha=decay)
        if grad_packed is not None and t > 0:  # z_{-1} = 0 adds nothing at t = 0
            grad_packed.baddbmm_(_gather(spikes[t - 1], index, tiles),
                                 g.view(tiles, k, batch).transpose(1, 2))
    return grad_u


class _BlockLIF(torch.autograd.Function):
    """Fused forward loop and hand-written BPTT on packed blocks (see the module docstring)."""

    @staticmethod
    def forward(ctx, currents: torch.Tensor, packed: torch.Tensor, sources: torch.Tensor,
                decay: float, threshold: float, subtract: float) -> torch.Tensor:
        """Spikes float (T, N, B); saves the membranes and spikes for the backward pass."""
        spikes, membranes = _forward_loop(currents, packed, sources, decay, threshold, subtract,
                                          keep_membranes=True)
        ctx.save_for_backward(membranes, spikes, packed, sources)
        ctx.decay, ctx.threshold = decay, threshold
        return spikes[:, :-1]  # a view without row N (the silent padding source)

    @staticmethod
    def backward(ctx, grad_spikes: torch.Tensor):
        """Gradients for (currents, packed); None for sources and the three constants."""
        membranes, spikes, packed, sources = ctx.saved_tensors
        grad_packed = torch.zeros_like(packed) if ctx.needs_input_grad[1] else None
        grad_u = _backward_loop(grad_spikes, membranes, spikes, packed, sources, ctx.decay,
                                ctx.threshold, grad_packed)
        return grad_u, grad_packed, None, None, None, None


def block_lif_recurrence(currents: torch.Tensor, packed: torch.Tensor, sources: torch.Tensor,
                         decay: float, threshold: float, subtract: float) -> torch.Tensor:
    """Spikes float (T, N, B) of the LIF recurrence on packed blocks, bin-major.

    currents: float (T, N, B) input current per bin; packed: float (C, S, K) from
    `pack_blocks`; sources: int64 (C, S) from `block_sources`; subtract: the detached reset
    theta, or 0 when the caller put the reset on the diagonal. Without gradients (evaluation)
    the forward loop runs alone and keeps no membranes.
    """
    currents = currents.contiguous()
    if torch.is_grad_enabled() and (currents.requires_grad or packed.requires_grad):
        return _BlockLIF.apply(currents, packed, sources, decay, threshold, subtract)
    spikes, _ = _forward_loop(currents, packed, sources, decay, threshold, subtract,
                              keep_membranes=False)
    return spikes[:, :-1]

"""Training throughput of the tiled LIF network: the project's kernels vs JAX, snntorch, a loop.

Forward + backward (samples/s) of one recurrent LIF layer of R x R tiles x 32 neurons, 100 bins,
128 binary inputs (20% active, value 3), batch 64, cross-entropy on the spike counts
of the last 20 neurons, routing-aware links (p1 = 0.8, p3 = 0.2). Cases: 5x5 and 8x8 tiles at
firing rates near 2% and 10% (the threshold is tuned per case by bisection; every
implementation prints the rate it measured). Same weights, masks and inputs everywhere,
measured in the same run: one warm-up step each, then rounds in which every implementation runs
one step (so machine noise hits all alike); the median per implementation. Implementations:
- project blocks: `model.network.TiledLIF` with kernel "blocks" (packed weight blocks,
  hand-written BPTT; what the default kernel "auto" runs at these sizes, as printed);
- project fused: kernel "fused" (dense products, hand-written BPTT; the previous default);
- jax: the original study's style, jax.vmap over a lax.scan of the LIF step, jit,
  value_and_grad, surrogate by custom_jvp, detached reset by stop_gradient;
- snntorch: `snntorch.Leaky` (subtract reset, fast-sigmoid surrogate of slope 10 = the same
  1 / (10|x| + 1)^2) driven per step; its reset is not decayed, so its rate differs slightly;
- per-step loop: plain PyTorch autograd, input matmul and masked weights recomputed every bin.
jax and snntorch are skipped with a note when not installed (`pip install mosaic-dse[bench]`).
Run: python benchmarks/bench_train.py [--quick] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from hardware.profile import sample_links
from model.network import TiledLIF, decay_factor, lif_step, readout_logits
from model.setup import torch_threads

K, BINS, INPUTS, BATCH, CLASSES = 32, 100, 128, 64, 20
CASES = ((5, 0.02), (5, 0.10), (8, 0.02), (8, 0.10))  # (tiles per side, target firing rate)


@dataclass(frozen=True)
class Step:
    """One training step's loss, firing rate (spikes per neuron per bin) and dL/dw_rec."""

    loss: float
    rate: float
    grad_w_rec: np.ndarray


def build_network(rows: int, device: torch.device) -> TiledLIF:
    """The project's network on rows x rows tiles, random weights and links (seeded)."""
    gen = torch.Generator().manual_seed(0)
    net = TiledLIF(INPUTS, rows * rows * K, K, decay_factor(1.4, BINS, 0.045), 1.0)
    net.set_links(sample_links(rows, rows, K, (0, 0.8, 0, 0.2), np.random.default_rng(0)))
    with torch.no_grad():
        net.w_in.copy_(torch.randn(net.w_in.shape, generator=gen) * 0.15)
        net.w_rec.copy_(torch.randn(net.w_rec.shape, generator=gen) * 0.1)
    return net.to(device)


@torch.no_grad()
def tune_threshold(net: TiledLIF, x: torch.Tensor, target: float) -> float:
    """Set net.threshold by bisection on its log so that the firing rate of inputs x float
    (B, T, INPUTS) is near `target`; returns that rate."""
    low, high = np.log(0.05), np.log(5.0)
    for _ in range(12):
        middle = (low + high) / 2
        net.threshold = float(np.exp(middle))
        if float(net(x).mean()) > target:
            low = middle  # too many spikes: raise the threshold
        else:
            high = middle
    net.threshold = float(np.exp((low + high) / 2))
    return float(net(x).mean())


def torch_step(forward: Callable[[TiledLIF, torch.Tensor], torch.Tensor], net: TiledLIF,
               x: torch.Tensor, y: torch.Tensor) -> Callable[[], Step]:
    """A training step through `forward` (spikes (B, T, N) of x) with cross-entropy on counts."""
    def step() -> Step:
        net.zero_grad(set_to_none=True)
        spikes = forward(net, x)
        loss = torch.nn.functional.cross_entropy(readout_logits(spikes, CLASSES), y)
        loss.backward()
        if x.is_cuda:
            torch.cuda.synchronize()
        return Step(float(loss.detach()), float(spikes.detach().mean()), net.w_rec.grad)

    return step


def kernel_forward(kernel: str) -> Callable[[TiledLIF, torch.Tensor], torch.Tensor]:
    """The module's forward with `kernel` ("blocks" or "fused")."""
    def forward(net: TiledLIF, x: torch.Tensor) -> torch.Tensor:
        net.kernel = kernel
        return net(x)

    return forward


def per_step_forward(net: TiledLIF, x: torch.Tensor) -> torch.Tensor:
    """Spikes (B, T, N) by a plain autograd loop: per-bin input matmul and masked weights."""
    v = x.new_zeros(x.shape[0], net.w_rec.shape[0])
    z = torch.zeros_like(v)
    spikes = []
    for t in range(x.shape[1]):
        current = x[:, t] @ (net.w_in * net.in_mask)
        v, z = lif_step(v, z, current, net.w_rec * net.rec_mask, net.decay, net.threshold)
        spikes.append(z)
    return torch.stack(spikes, dim=1)


def snntorch_forward(net: TiledLIF) -> Callable[[TiledLIF, torch.Tensor], torch.Tensor]:
    """A forward function through snntorch.Leaky with the same weights and masks."""
    import snntorch
    from snntorch import surrogate

    lif = snntorch.Leaky(beta=net.decay, threshold=net.threshold, reset_mechanism="subtract",
                         spike_grad=surrogate.fast_sigmoid(slope=10))

    def forward(net: TiledLIF, x: torch.Tensor) -> torch.Tensor:
        currents = x @ (net.w_in * net.in_mask)
        w_rec = net.w_rec * net.rec_mask
        mem = lif.reset_mem()
        spk = currents.new_zeros(currents.shape[0], currents.shape[2])
        spikes = []
        for t in range(currents.shape[1]):
            spk, mem = lif(currents[:, t] + spk @ w_rec, mem)
            spikes.append(spk)
        return torch.stack(spikes, dim=1)

    return forward


def jax_step(net: TiledLIF, x: torch.Tensor, y: torch.Tensor) -> Callable[[], Step]:
    """A training step in the original study's JAX style, on copies of net's arrays."""
    import jax
    import jax.numpy as jnp

    in_mask, rec_mask = (jnp.asarray(m.cpu().numpy()) for m in (net.in_mask, net.rec_mask))
    params = {"w_in": jnp.asarray(net.w_in.detach().cpu().numpy()),
              "w_rec": jnp.asarray(net.w_rec.detach().cpu().numpy())}
    xs, ys = jnp.asarray(x.cpu().numpy()), jnp.asarray(y.cpu().numpy())
    spikes_of = jax_lif(net.decay, net.threshold)

    def loss_fn(params: dict, xs: jax.Array, ys: jax.Array) -> tuple[jax.Array, jax.Array]:
        w_in, w_rec = params["w_in"] * in_mask, params["w_rec"] * rec_mask
        spikes = jax.vmap(spikes_of, in_axes=(None, None, 0))(w_in, w_rec, xs)  # (B, T, N)
        logits = spikes[:, :, -CLASSES:].sum(axis=1)
        loss = -jnp.take_along_axis(jax.nn.log_softmax(logits), ys[:, None], axis=1).mean()
        return loss, spikes.mean()

    train = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))

    def step() -> Step:
        (loss, rate), grads = train(params, xs, ys)
        jax.block_until_ready(grads)
        return Step(float(loss), float(rate), np.asarray(grads["w_rec"]))

    return step


def jax_lif(decay: float, threshold: float) -> Callable:
    """spikes (T, N) of one sample x (T, n_inputs): a lax.scan of the LIF step (jax)."""
    import jax
    import jax.numpy as jnp

    @jax.custom_jvp
    def spike(x: jax.Array) -> jax.Array:
        return (x > 0).astype(x.dtype)

    @spike.defjvp
    def spike_jvp(primals: tuple, tangents: tuple) -> tuple:
        # the surrogate of model.surrogate.surrogate_derivative, 1 / (10|x| + 1)^2
        (x,), (dx,) = primals, tangents
        return spike(x), dx / (10.0 * jnp.abs(x) + 1.0) ** 2

    def spikes_of(w_in: jax.Array, w_rec: jax.Array, x: jax.Array) -> jax.Array:
        def lif(state: tuple, x_t: jax.Array) -> tuple:
            v, z = state
            u = decay * v + x_t @ w_in + z @ w_rec
            z = spike(u - threshold)
            return (u - threshold * jax.lax.stop_gradient(z), z), z

        zeros = jnp.zeros(w_rec.shape[0], dtype=w_rec.dtype)
        return jax.lax.scan(lif, (zeros, zeros), x)[1]

    return spikes_of


def implementations(net: TiledLIF, x: torch.Tensor,
                    y: torch.Tensor) -> tuple[dict[str, Callable[[], Step]], list[str]]:
    """(name -> training step, notes on skipped implementations)."""
    steps = {"project blocks": torch_step(kernel_forward("blocks"), net, x, y),
             "project fused": torch_step(kernel_forward("fused"), net, x, y)}
    notes = []
    try:
        steps["jax"] = jax_step(net, x, y)
    except ImportError:
        notes.append("jax: skipped (not installed; pip install mosaic-dse[bench])")
    try:
        steps["snntorch"] = torch_step(snntorch_forward(net), net, x, y)
    except ImportError:
        notes.append("snntorch: skipped (not installed; pip install mosaic-dse[bench])")
    steps["per-step loop"] = torch_step(per_step_forward, net, x, y)
    return steps, notes


def measure(steps: dict[str, Callable[[], Step]],
            rounds: int) -> tuple[dict[str, float], dict[str, Step]]:
    """(name -> median seconds per step, name -> the warm-up step), in interleaved rounds."""
    first = {name: step() for name, step in steps.items()}  # warm-up (and jax's compile)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}, first


def relative_difference(grad: np.ndarray, reference: np.ndarray) -> float:
    """max |grad - reference| / max |reference|."""
    return float(np.abs(grad - reference).max() / max(np.abs(reference).max(), 1e-30))


def report(rows: int, net: TiledLIF, seconds: dict[str, float], first: dict[str, Step],
           auto: str) -> None:
    """Print one case: samples/s, rate, loss and gradient check per implementation, ratios."""
    ours = BATCH / seconds["project blocks"]
    reference = np.asarray(first["project fused"].grad_w_rec)
    print(f"{rows}x{rows} tiles x {K} (N = {rows * rows * K}), threshold {net.threshold:.3g}, "
          f"kernel 'auto' runs {auto!r} here")
    for name, sec in seconds.items():
        result = first[name]
        diff = relative_difference(np.asarray(result.grad_w_rec), reference)
        ratio = "" if name == "project blocks" else f"   blocks / this = {ours * sec / BATCH:5.2f}x"
        print(f"  {name:15s} {BATCH / sec:8.1f} samples/s   rate {result.rate:.4f}   loss "
              f"{result.loss:.5f}   dW vs fused {diff:.1e}{ratio}")


def busy_processes(n: int) -> list[subprocess.Popen]:
    """n background Python processes that spin forever (a machine busy with other work)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def throughput_by_threads(step: Callable[[], Step], thread_counts: tuple[int, ...],
                          rounds: int) -> dict[int, float]:
    """threads -> median samples/s of `step`, the thread counts interleaved in every round."""
    times: dict[int, list[float]] = {n: [] for n in thread_counts}
    for n in thread_counts:  # warm-up per thread count
        torch.set_num_threads(n)
        step()
    for _ in range(rounds):
        for n in thread_counts:
            torch.set_num_threads(n)
            start = time.perf_counter()
            step()
            times[n].append(time.perf_counter() - start)
    return {n: BATCH / float(np.median(t)) for n, t in times.items()}


def load_comparison(load: int, rounds: int, device: torch.device) -> None:
    """Print quiet vs loaded samples/s of the 5x5, 2% training step for 1 and 2 threads."""
    net = build_network(5, device)
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(BATCH, BINS, INPUTS, generator=gen) < 0.2).float().to(device) * 3.0
    y = torch.randint(0, CLASSES, (BATCH,), generator=gen).to(device)
    tune_threshold(net, x, 0.02)
    kernel = net.kernel_for(BATCH)[0]
    step = torch_step(kernel_forward(kernel), net, x, y)
    counts = (1, 2)
    before = os.getloadavg()[0]  # other work already on the machine makes "quiet" less so
    quiet = throughput_by_threads(step, counts, rounds)
    spinners = busy_processes(load)
    try:
        time.sleep(1.0)  # let them start spinning
        loaded = throughput_by_threads(step, counts, rounds)
        during = os.getloadavg()[0]
    finally:
        for process in spinners:
            process.kill()
            process.wait()
    cores = os.cpu_count() or 1
    print(f"5x5 tiles x {K}, rate 0.02, kernel {kernel!r}; {load} busy processes on {cores} "
          f"cores; median of {rounds} interleaved rounds; 1-min load average {before:.1f} "
          f"before, {during:.1f} under load")
    for n in counts:
        share = min(1.0, cores / (load + n) * n / min(n, cores))
        print(f"  {n} thread{'s' if n > 1 else ' '}  quiet {quiet[n]:7.1f} samples/s   under "
              f"load {loaded[n]:7.1f}   loaded / quiet {loaded[n] / quiet[n]:.2f}x   "
              f"(fair share of the cores: {share:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5x5 only, fewer rounds")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", default="auto", help='torch threads: "auto" (1) or N')
    parser.add_argument("--load", type=int, default=None, metavar="N",
                        help="compare 1 and 2 threads quiet vs under N busy processes")
    args = parser.parse_args()
    device = torch.device(args.device)
    threads = args.threads if args.threads == "auto" else int(args.threads)
    torch.set_num_threads(torch_threads(threads))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    if args.load is not None:
        load_comparison(args.load, 3 if args.quick else 7, device)
        return
    print(f"batch {BATCH}, {BINS} bins, {INPUTS} inputs; forward + backward; median of "
          f"interleaved rounds after one warm-up step each")
    for rows, target in CASES:
        if args.quick and rows > 5:
            continue
        net = build_network(rows, device)
        gen = torch.Generator().manual_seed(1)
        x = (torch.rand(BATCH, BINS, INPUTS, generator=gen) < 0.2).float().to(device) * 3.0
        y = torch.randint(0, CLASSES, (BATCH,), generator=gen).to(device)
        tune_threshold(net, x, target)
        auto = net.kernel_for(BATCH)[0]
        steps, notes = implementations(net, x, y)
        rounds = 2 if args.quick else (7 if rows <= 5 else 4)
        seconds, first = measure(steps, rounds)
        report(rows, net, seconds, first, auto)
        for note in notes:
            print("  " + note)


if __name__ == "__main__":
    main()

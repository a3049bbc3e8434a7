"""Training throughput of the tiled LIF network: fused recurrence vs snntorch vs a per-step loop.

Forward + backward (samples/s) of one recurrent LIF layer on 5x5 tiles x 32 neurons (N = 800),
100 bins, 128 inputs, batch 64, routing-aware links (p1 = 0.8, p3 = 0.2), same weights, masks
and inputs for every implementation, measured in the same run (median of repeats after a
warm-up). Implementations:
- project: `model.network.TiledLIF` (input currents in one matmul, masked weight once, fused
  loop with hand-written BPTT);
- snntorch: `snntorch.Leaky` (subtract reset, fast-sigmoid surrogate of slope 10 = the same
  1 / (10|x| + 1)^2) driven per step, masked weight once per forward (skipped if snntorch is not
  installed: `pip install mosaic-dse[bench]`);
- per-step loop: plain PyTorch autograd, input matmul and masked weights recomputed every bin.
Run: python benchmarks/bench_train.py [--quick] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np
import torch

from hardware.profile import sample_links
from model.network import TiledLIF, decay_factor, lif_step, readout_logits

ROWS, COLS, K, BINS, INPUTS, BATCH, CLASSES = 5, 5, 32, 100, 128, 64, 20


def build_network(device: torch.device) -> TiledLIF:
    """The project's network with random weights and routing-aware links (seeded)."""
    gen = torch.Generator().manual_seed(0)
    net = TiledLIF(INPUTS, ROWS * COLS * K, K, decay_factor(1.4, BINS, 0.045), 1.0)
    links = sample_links(ROWS, COLS, K, (0, 0.8, 0, 0.2), np.random.default_rng(0))
    net.set_links(links)
    with torch.no_grad():
        net.w_in.copy_(torch.randn(net.w_in.shape, generator=gen) * 0.15)
        net.w_rec.copy_(torch.randn(net.w_rec.shape, generator=gen) * 0.1)
    return net.to(device)


def project_forward(net: TiledLIF, x: torch.Tensor) -> torch.Tensor:
    """Spikes (B, T, N) by the project's module."""
    return net(x)


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


def snntorch_forward_fn(net: TiledLIF) -> Callable[[TiledLIF, torch.Tensor], torch.Tensor]:
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


def samples_per_second(forward: Callable, net: TiledLIF, x: torch.Tensor, y: torch.Tensor,
                       repeats: int) -> tuple[float, float]:
    """(median samples/s of forward + backward, mean firing rate) after one warm-up."""
    def step() -> float:
        net.zero_grad(set_to_none=True)
        spikes = forward(net, x)
        loss = torch.nn.functional.cross_entropy(readout_logits(spikes, CLASSES), y)
        loss.backward()
        if x.is_cuda:
            torch.cuda.synchronize()
        return float(spikes.detach().mean())

    rate = step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return x.shape[0] / float(np.median(times)), rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    repeats = 3 if args.quick else 7
    net = build_network(device)
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(BATCH, BINS, INPUTS, generator=gen) < 0.2).float().to(device) * 3.0
    y = torch.randint(0, CLASSES, (BATCH,), generator=gen).to(device)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    print(f"network: {ROWS}x{COLS} tiles x {K} neurons (N = {ROWS * COLS * K}), {BINS} bins, "
          f"{INPUTS} inputs, batch {BATCH}; forward + backward, median of {repeats}")
    ours, rate = samples_per_second(project_forward, net, x, y, repeats)
    print(f"project (fused BPTT):  {ours:8.1f} samples/s   (firing rate {rate:.3f} per bin)")
    try:
        snn_forward = snntorch_forward_fn(net)
    except ImportError:
        print("snntorch:             skipped (not installed; pip install mosaic-dse[bench])")
    else:
        snn, _ = samples_per_second(snn_forward, net, x, y, repeats)
        print(f"snntorch.Leaky:       {snn:8.1f} samples/s   project / snntorch = "
              f"{ours / snn:.2f}x")
    plain, _ = samples_per_second(per_step_forward, net, x, y, repeats)
    print(f"per-step loop:        {plain:8.1f} samples/s   project / per-step = "
          f"{ours / plain:.2f}x")


if __name__ == "__main__":
    main()

"""How far the data lets a network go on an unseen speaker: the `speech` SNN beside non-spiking
reference classifiers trained on the same split, so a gap to a goal can be assigned to the
spiking network or to the data and front end.

Rows (test accuracy on the held-out speakers of ROOT, mean +- sd over seeds):
- snn: `mosaic-dse train --config speech` (routing-aware, 3x3x16 chip), as the README.
- gru/spikes: a 128-unit GRU (about 8x the SNN's 7.5k weights, no chip) on the same binned spike
  counts (log1p), with the speech config's augmentation (time shift and stretch).
- gru/mfcc: the same GRU on 13 MFCCs with per-utterance mean and variance normalisation, computed
  from the audio (--audio): a standard speech-recognition front end instead of the cochlea.
- gru/mfcc-fixed: the same, each utterance trimmed to its voiced part and resampled to 50 frames
  (speaking rate removed; needs the whole utterance, so no streaming chip could do it).
Run: python benchmarks/bench_speech_ceiling.py ROOT [--audio DIR] [--seeds 3] [--epochs 40]
(ROOT: `mosaic-dse make-spike-dataset DIR ROOT --test-speakers nicolas`; DIR: the recordings).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.fft
import scipy.signal
import soundfile
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_methods, also when imported
from bench_methods import train_row  # noqa: E402

from model.augment import Augmentation, augment  # noqa: E402
from model.data import load_dataset  # noqa: E402
from search.config.files import build_trial, load_config, resolve_defaults  # noqa: E402

HIDDEN = 128
MFCC = 13
MEL_BANDS = 40
FIXED_FRAMES = 50


class GRUClassifier(torch.nn.Module):
    """GRU over time, class scores averaged over time steps (as the SNN's readout)."""

    def __init__(self, n_inputs: int, n_classes: int) -> None:
        super().__init__()
        self.gru = torch.nn.GRU(n_inputs, HIDDEN, batch_first=True)
        self.out = torch.nn.Linear(HIDDEN, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x float (B, T, C) -> scores (B, n_classes)."""
        h, _ = self.gru(x)
        return self.out(h).mean(1)


def fit_gru(train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
            aug: Augmentation, epochs: int, seed: int) -> float:
    """Train a GRUClassifier (Adam 3e-3, batch 32) and return its test accuracy."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x, y = train
    net = GRUClassifier(x.shape[2], int(max(y.max(), test[1].max())) + 1)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(32):
            loss = torch.nn.functional.cross_entropy(net(augment(x[idx], aug, gen)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return float((net(test[0]).argmax(1) == test[1]).float().mean())


def mel_filterbank(n_fft: int, rate: int, bands: int) -> np.ndarray:
    """Triangular mel filters float64 (bands, n_fft // 2 + 1) from 50 Hz to Nyquist."""
    mel = np.linspace(*(2595 * np.log10(1 + f / 700) for f in (50.0, rate / 2)), bands + 2)
    edges = 700 * (10 ** (mel / 2595) - 1)
    freqs = np.fft.rfftfreq(n_fft, 1 / rate)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)


def mfcc(path: Path, frames: int, fixed: bool) -> np.ndarray:
    """MFCCs float32 (frames, 13) of one recording: 25 ms windows every 10 ms, per-utterance
    mean and variance normalised; zero-padded or cut to `frames`, or with `fixed` trimmed to
    the frames within 26 dB of the loudest (before normalising) and resampled to `frames`."""
    audio, rate = soundfile.read(path, dtype="float64", always_2d=True)
    hop, win = rate // 100, rate // 40
    _, _, spec = scipy.signal.stft(audio.mean(1), rate, nperseg=win, noverlap=win - hop)
    power = mel_filterbank(win, rate, MEL_BANDS) @ np.abs(spec) ** 2
    coeffs = scipy.fft.dct(np.log(power + 1e-10), norm="ortho", axis=0)[:MFCC].T
    if fixed:
        energy = np.log(power.sum(0) + 1e-10)
        voiced = np.flatnonzero(energy > energy.max() - 6)
        coeffs = coeffs[voiced[0]: voiced[-1] + 1]
    coeffs = (coeffs - coeffs.mean(0)) / (coeffs.std(0) + 1e-5)
    if fixed:
        src = np.linspace(0, len(coeffs) - 1, frames)
        lo = np.floor(src).astype(int)
        w = (src - lo)[:, None]
        return (coeffs[lo] * (1 - w) + coeffs[np.minimum(lo + 1, len(coeffs) - 1)] * w
                ).astype(np.float32)
    out = np.zeros((frames, MFCC), np.float32)
    out[: min(frames, len(coeffs))] = coeffs[:frames]
    return out


def mfcc_split(root: Path, audio: Path, duration: float,
               fixed: bool) -> tuple[tuple, tuple]:
    """((x, y) train, (x, y) test) MFCC tensors of the files ROOT's conversion.json lists:
    `duration` seconds of 10 ms frames, or FIXED_FRAMES length-normalised ones."""
    manifest = json.loads((root / "SHD" / "conversion.json").read_text())
    classes = {name: i for i, name in enumerate(manifest["classes"])}
    frames = FIXED_FRAMES if fixed else round(duration * 100)

    def split(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        rows = manifest[name]
        x = np.stack([mfcc(audio / r["path"], frames, fixed) for r in rows])
        return torch.tensor(x), torch.tensor([classes[r["label"]] for r in rows])
    return split("train"), split("test")


def report(name: str, accs: list[float], seconds: float) -> None:
    """One table row."""
    sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
    print(f"{name:<16} {statistics.mean(accs):>6.3f} +- {sd:.3f}  "
          f"[{', '.join(f'{a:.3f}' for a in accs)}]  {seconds:.0f} s", flush=True)


def main() -> int:
    """Train every row for each seed and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--audio", type=Path, help="the recordings ROOT was converted from")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40, help="GRU epochs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_config("speech", [f"data.root={str(args.root)!r}"])
    _, training = build_trial(cfg, resolve_defaults(cfg))
    aug = Augmentation(training.time_shift, training.channel_jitter, training.time_stretch)
    data = load_dataset(cfg.data)
    seeds = range(args.seeds)
    print(f"held-out speakers of {args.root}; test accuracy over seeds {list(seeds)} "
          f"(chance 1/{data.n_classes})")
    start = time.perf_counter()
    snn = [train_row(str(args.root), training.method, s, training.epochs) for s in seeds]
    report("snn (speech)", [float(r["accuracy"]) for r in snn], time.perf_counter() - start)
    spikes = tuple((torch.log1p(torch.tensor(np.asarray(x), dtype=torch.float32)),
                    torch.tensor(np.asarray(y))) for x, y in
                   (data.first_copy("train"), data.first_copy("test")))
    start = time.perf_counter()
    report("gru/spikes", [fit_gru(*spikes, aug, args.epochs, s) for s in seeds],
           time.perf_counter() - start)
    if args.audio is None:
        print("(MFCC rows need --audio DIR, the recordings ROOT was converted from)")
        return 0
    for fixed in (False, True):
        start = time.perf_counter()
        train, test = mfcc_split(args.root, args.audio, cfg.data.duration, fixed)
        accs = [fit_gru(train, test, Augmentation(), args.epochs, s) for s in seeds]
        report("gru/mfcc-fixed" if fixed else "gru/mfcc", accs, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())

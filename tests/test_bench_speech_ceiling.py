"""The speech ceiling benchmark's reference pieces: MFCC features and the GRU classifier."""

from __future__ import annotations

import numpy as np
import soundfile
import torch

from model.augment import Augmentation
from tests.conftest import loaded_benchmark


def _chirp(path, seconds: float, rate: int = 8000, lead: float = 0.0) -> None:
    """A 300 Hz to 2 kHz chirp after `lead` seconds of silence, written as a WAV file."""
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * (300 * t + 1700 / (2 * seconds) * t * t))
    soundfile.write(path, np.concatenate([np.zeros(int(lead * rate)), x]), rate)


def test_mfcc_shapes_normalisation_and_length(tmp_path) -> None:
    with loaded_benchmark("bench_speech_ceiling") as bench:
        _chirp(tmp_path / "a.wav", 0.5)
        _chirp(tmp_path / "b.wav", 0.5, lead=0.3)
        padded = bench.mfcc(tmp_path / "a.wav", 140, fixed=False)
        fixed = bench.mfcc(tmp_path / "a.wav", 50, fixed=True)
        late = bench.mfcc(tmp_path / "b.wav", 50, fixed=True)
    assert padded.shape == (140, bench.MFCC) and fixed.shape == (50, bench.MFCC)
    voiced = padded[: 50]  # 0.5 s = 51 frames at 10 ms, then zero padding
    assert np.all(np.isfinite(padded)) and not padded[60:].any()
    assert abs(float(voiced[:, 1].mean())) < 0.2  # per-utterance mean removed
    # trimming removes the leading silence: the same chirp later gives the same fixed frames
    np.testing.assert_allclose(late[5:45], fixed[5:45], atol=0.3)


def test_gru_learns_a_separable_task_and_not_noise() -> None:
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 4
    x = torch.zeros(64, 10, 8)
    x[torch.arange(64), :, y * 2] = 1.0  # class c lights input 2c
    with loaded_benchmark("bench_speech_ceiling") as bench:
        learned = bench.fit_gru((x, y), (x, y), Augmentation(), epochs=15, seed=0)
        shuffled = bench.fit_gru((x, y[torch.randperm(64, generator=gen)]), (x, y),
                                 Augmentation(), epochs=15, seed=0)
    assert learned > 0.95
    assert shuffled < 0.6

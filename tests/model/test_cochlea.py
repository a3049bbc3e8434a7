"""Cochlea model on sounds made here: tones, silence, levels, a chirp; fast paths vs references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hardware.errors import ConfigError
from model.cochlea import Cochlea, CochleaParams, erb_hz, erb_space

RATE = 8000


def _tone(freq: float, seconds: float = 0.3, db: float = -20.0, rate: int = RATE) -> np.ndarray:
    """A sine of amplitude 10^(db/20) (dB re full scale)."""
    t = np.arange(round(seconds * rate)) / rate
    return 10.0 ** (db / 20.0) * np.sin(2 * np.pi * freq * t)


def _erb_number(f: np.ndarray | float) -> np.ndarray:
    """ERB-number (Cams) of frequency f Hz: 21.4 log10(1 + 0.00437 f)."""
    return 21.4 * np.log10(1 + 0.00437 * np.asarray(f))


def _cochlea(n_channels: int = 64, **kw: float) -> Cochlea:
    return Cochlea(CochleaParams(n_channels=n_channels, sample_rate=RATE, **kw))


def test_erb_formulas_by_hand():
    # ERB(1000) = 24.7 * (4.37 * 1 + 1) = 132.639 Hz (Glasberg & Moore 1990)
    assert erb_hz(np.array(1000.0)) == pytest.approx(132.639)
    centres = erb_space(80.0, 3900.0, 5)
    assert centres[0] == pytest.approx(80.0) and centres[-1] == pytest.approx(3900.0)
    numbers = 21.4 * np.log10(1 + 0.00437 * centres)
    np.testing.assert_allclose(np.diff(numbers), np.diff(numbers)[0])  # uniform in ERB number


def test_default_channels_span_80_hz_to_just_under_nyquist():
    cochlea = Cochlea(CochleaParams(sample_rate=8000))
    assert len(cochlea.centres) == 700
    assert cochlea.centres[0] == pytest.approx(80.0)
    assert cochlea.centres[-1] == pytest.approx(3900.0)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 2500.0])
def test_pure_tone_excites_the_channels_around_its_frequency(freq):
    cochlea = _cochlea()
    _, channels = cochlea.spikes(_tone(freq), RATE)
    counts = np.bincount(channels, minlength=64)
    nearest = int(np.argmin(np.abs(cochlea.centres - freq)))
    assert abs(int(np.argmax(counts)) - nearest) <= 2
    near = np.abs(_erb_number(cochlea.centres) - _erb_number(freq)) <= 3.0  # auditory filters
    assert counts[near].sum() >= 0.85 * counts.sum() > 0


def test_silence_gives_no_spikes_and_a_faint_hiss_almost_none():
    cochlea = _cochlea()
    assert len(cochlea.spikes(np.zeros(2400), RATE)[0]) == 0
    hiss = 10 ** (-90 / 20) * np.random.default_rng(0).standard_normal(2400)
    speech_level = len(cochlea.spikes(_tone(1000.0), RATE)[0])
    assert len(cochlea.spikes(hiss, RATE)[0]) <= 0.01 * speech_level


def test_louder_gives_more_spikes():
    cochlea = _cochlea()
    counts = [len(cochlea.spikes(_tone(800.0, db=db), RATE)[0]) for db in (-45, -30, -15, 0)]
    assert counts[0] > 0 and all(a < b for a, b in zip(counts, counts[1:], strict=False))


def test_level_db_gives_every_loudness_the_same_spikes_and_keeps_silence_silent():
    cochlea = _cochlea(level_db=-25.0)
    quiet, loud = (cochlea.spikes(_tone(800.0, db=db), RATE) for db in (-45, -10))
    np.testing.assert_allclose(quiet[0], loud[0], atol=1e-9)
    np.testing.assert_array_equal(quiet[1], loud[1])
    assert len(quiet[0]) > 0 and len(cochlea.spikes(np.zeros(2400), RATE)[0]) == 0
    as_recorded = _cochlea().spikes(_tone(800.0, db=-45), RATE)
    assert len(as_recorded[0]) < len(quiet[0])  # -45 dB raised to -25 dB RMS: more spikes


def test_a_rising_chirps_spikes_move_up_the_channels_in_time():
    seconds = 0.6
    t = np.arange(round(seconds * RATE)) / RATE
    f0, f1 = 200.0, 3000.0  # exponential sweep: phase = 2 pi f0 L (exp(t/L) - 1)
    sweep = seconds / math.log(f1 / f0)
    chirp = 0.1 * np.sin(2 * np.pi * f0 * sweep * (np.exp(t / sweep) - 1.0))
    times, channels = _cochlea().spikes(chirp, RATE)
    quarters = np.minimum((times / seconds * 4).astype(int), 3)
    means = [channels[quarters == q].mean() for q in range(4)]
    assert all(a + 5 < b for a, b in zip(means, means[1:], strict=False))


def test_spikes_are_sorted_by_time_then_channel_and_in_range():
    cochlea = _cochlea()
    times, channels = cochlea.spikes(_tone(500.0) + _tone(2000.0), RATE)
    assert len(times) > 0 and times.min() >= 0
    assert times.max() < cochlea.fft_size(2400) / RATE
    assert np.all(np.lexsort((channels, times)) == np.arange(len(times)))
    assert channels.min() >= 0 and channels.max() < 64


def test_other_sample_rates_are_resampled_to_the_model_rate():
    cochlea = _cochlea()
    _, at_8k = cochlea.spikes(_tone(1000.0), RATE)
    _, at_22k = cochlea.spikes(_tone(1000.0, rate=22050), 22050)
    peak = np.argmax(np.bincount(at_8k, minlength=64))
    assert abs(int(np.argmax(np.bincount(at_22k, minlength=64))) - peak) <= 1
    assert len(at_22k) == pytest.approx(len(at_8k), rel=0.05)


def _gammatone_reference(signal: np.ndarray, fc: float, cochlea: Cochlea) -> np.ndarray:
    """Time-domain reference: convolve with the sampled impulse response
    t^3 exp(-2 pi b t) cos(2 pi fc t), scaled to gain 1 at fc, rectify, block means."""
    p = cochlea.params
    b = p.bandwidth_factor * float(erb_hz(np.array(fc)))
    t = np.arange(round(0.2 * RATE)) / RATE
    g = t ** (p.filter_order - 1) * np.exp(-2 * np.pi * b * t) * np.cos(2 * np.pi * fc * t)
    g /= abs(np.sum(g * np.exp(-2j * np.pi * fc * t)))
    n = cochlea.fft_size(len(signal))
    out = np.maximum(np.convolve(np.pad(signal, (0, n - len(signal))), g)[:n], 0.0)
    return out.reshape(-1, p.decimation).mean(axis=1)


def test_fft_filterbank_matches_time_domain_gammatone_convolution():
    cochlea = _cochlea(n_channels=16)
    rng = np.random.default_rng(1)
    signal = 0.1 * rng.standard_normal(2000) * np.hanning(2000)  # ends quiet: no wrap-around
    envelope = cochlea.rectified_envelope(signal)
    # the sampled impulse response aliases what lies above Nyquist (the FFT path cuts it off):
    # compare the channels whose response is negligible there (fc + 4 bandwidths < fs / 2)
    below = cochlea.centres + 4 * 1.019 * erb_hz(cochlea.centres) < RATE / 2
    assert below.sum() >= 12
    for channel in np.flatnonzero(below):
        reference = _gammatone_reference(signal, cochlea.centres[channel], cochlea)
        error = np.abs(envelope[channel] - reference).max()
        assert error <= 3e-3 * reference.max(), channel


def _encode_reference(drive: np.ndarray, rate_per_step: float) -> list[tuple[int, int]]:
    """Integrate-and-fire one step at a time: (step, channel) of every spike."""
    spikes = []
    for channel, row in enumerate(drive.astype(np.float64)):
        v = 0.0
        for k, x in enumerate(row):
            v += x * rate_per_step
            while v >= 1.0:
                spikes.append((k, channel))
                v -= 1.0
    return spikes


def test_vectorised_integrate_and_fire_matches_the_step_by_step_neuron():
    cochlea = _cochlea(n_channels=5, spike_rate_hz=700.0)
    drive = np.random.default_rng(2).gamma(0.5, 2.0, (5, 300)).astype(np.float32)
    times, channels = cochlea.encode(drive)
    steps = np.floor(times * cochlea.envelope_rate + 1e-9).astype(int)
    fast = sorted(zip(steps.tolist(), channels.tolist(), strict=True))
    reference = sorted(_encode_reference(drive, 700.0 / cochlea.envelope_rate))
    assert len(reference) > 300
    mismatched = sum(a != b for a, b in zip(fast, reference, strict=False))
    assert len(fast) == len(reference) and mismatched <= 0.01 * len(reference)


def _onset_to_steady(cochlea: Cochlea) -> float:
    """Spikes in a tone's first 50 ms over spikes in 50 ms of its steady part."""
    times, _ = cochlea.spikes(_tone(1000.0, seconds=0.5), RATE)
    return np.sum(times < 0.05) / np.sum((times >= 0.3) & (times < 0.35))


def test_adaptation_turns_a_steady_tone_down_after_its_onset():
    adapted = _onset_to_steady(_cochlea())
    flat = _onset_to_steady(_cochlea(adaptation_strength=0.0))
    assert flat == pytest.approx(1.0, abs=0.15)
    assert adapted > 1.5 * flat


@pytest.mark.parametrize("field, value", [("n_channels", 0), ("compression", 0.0),
                                          ("f_max_fraction", 1.0), ("sample_rate", 10),
                                          ("level_db", 3.0)])
def test_bad_parameters_name_the_field(field, value):
    with pytest.raises(ConfigError, match=f"cochlea {field} is out of range"):
        CochleaParams(**{field: value})

"""Cochlea model: audio (float, any rate) to spike trains on ERB-spaced channels, numpy/scipy only.

Stages, each from published equations:
1. Basilar membrane: 4th-order gammatone filters (Patterson et al. 1992) with centre frequencies
   uniform on the ERB-number scale and bandwidths 1.019 ERB (Glasberg & Moore 1990:
   ERB(f) = 24.7 (4.37 f / 1000 + 1) Hz, ERB-number(f) = 21.4 log10(1 + 0.00437 f)). Filtering is
   one product in the FFT domain with the filter's exact transfer function,
   H(f) = (G(f - fc) + G(f + fc)) / 2, G(d) = (n-1)! / (2 pi (b + i d))^n, scaled to unit gain
   at fc; the signal is zero-padded by `tail_s` so the impulse responses ring out.
2. Inner hair cell: half-wave rectification, then the membrane low-pass, here a mean over blocks
   of `decimation` samples that also brings the rate down to about `envelope_rate_hz`; power-law
   compression above a threshold, c = max(0, (e / e_thr)^compression - 1) with
   e_thr = 10^(threshold_db / 20) / pi (the rectified mean of a sine at threshold_db re full
   scale); adaptation by subtraction of the recent level, a = max(0, c - adaptation_strength *
   lowpass_tau(c)) (first-order low-pass, tau = adaptation_tau_s): onsets pass whole, a steady
   sound settles at (1 - adaptation_strength) c, which keeps the spectral contrast.
3. Spike encoder: one non-leaky integrate-and-fire neuron per channel with drive
   spike_rate_hz * a (spikes per second), threshold 1 and reset by subtraction. Spike k fires
   where the integral of the drive crosses k, so spikes come from one cumulative sum (times
   interpolated linearly within an envelope sample).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import scipy.fft
import scipy.signal

from hardware.errors import ConfigError

CHANNEL_CHUNK = 50  # channels filtered per step: keeps a (chunk, n) block in cache


@dataclass(frozen=True)
class CochleaParams:
    """Settings of the cochlea model (frequencies in Hz, times in seconds, levels in dB re full
    scale). Channels span f_min_hz to f_max_fraction * sample_rate / 2. level_db: each
    recording scaled to this RMS level before the filterbank (speaker and microphone loudness
    removed); None keeps the level as recorded."""

    n_channels: int = 700
    sample_rate: int = 16000
    f_min_hz: float = 80.0
    f_max_fraction: float = 0.975
    filter_order: int = 4
    bandwidth_factor: float = 1.019
    envelope_rate_hz: float = 1000.0
    tail_s: float = 0.08
    threshold_db: float = -60.0
    compression: float = 0.3
    adaptation_tau_s: float = 0.03
    adaptation_strength: float = 0.6
    spike_rate_hz: float = 100.0
    level_db: float | None = None

    def __post_init__(self) -> None:
        rules = {
            "n_channels": self.n_channels >= 1,
            "sample_rate": self.sample_rate >= 1000,
            "f_min_hz": 0 < self.f_min_hz < self.f_max_fraction * self.sample_rate / 2,
            "f_max_fraction": 0 < self.f_max_fraction < 1,
            "filter_order": 1 <= self.filter_order <= 8,
            "bandwidth_factor": self.bandwidth_factor > 0,
            "envelope_rate_hz": 0 < self.envelope_rate_hz <= self.sample_rate,
            "tail_s": self.tail_s >= 0,
            "compression": 0 < self.compression <= 1,
            "adaptation_tau_s": self.adaptation_tau_s > 0,
            "adaptation_strength": 0 <= self.adaptation_strength < 1,
            "spike_rate_hz": self.spike_rate_hz > 0,
            "level_db": self.level_db is None or -120 < self.level_db <= 0,
        }
        for f in fields(self):
            if not rules.get(f.name, True):
                raise ConfigError(f"cochlea {f.name} is out of range, got "
                                  f"{getattr(self, f.name)!r} (see model.cochlea.CochleaParams)")

    @property
    def decimation(self) -> int:
        """Samples per envelope sample: round(sample_rate / envelope_rate_hz), at least 1."""
        return max(1, round(self.sample_rate / self.envelope_rate_hz))

    @property
    def f_max_hz(self) -> float:
        """Centre frequency of the highest channel (Hz), just under Nyquist."""
        return self.f_max_fraction * self.sample_rate / 2


def erb_hz(f: np.ndarray) -> np.ndarray:
    """Equivalent rectangular bandwidth (Hz) at frequency f (Hz), Glasberg & Moore 1990."""
    return 24.7 * (4.37 * np.asarray(f, dtype=np.float64) / 1000.0 + 1.0)


def erb_space(f_min: float, f_max: float, n: int) -> np.ndarray:
    """n centre frequencies (Hz, float64, ascending) uniform on the ERB-number scale."""
    lo, hi = (21.4 * np.log10(1.0 + 0.00437 * f) for f in (f_min, f_max))
    numbers = np.linspace(lo, hi, n) if n > 1 else np.array([lo])
    return (10.0 ** (numbers / 21.4) - 1.0) / 0.00437


def gammatone_transfer(freqs: np.ndarray, centres: np.ndarray, order: int,
                       bandwidth_factor: float) -> np.ndarray:
    """Transfer function complex64 (channels, len(freqs)) of real gammatone filters at `freqs`
    (Hz), each scaled to gain 1 at its centre frequency."""
    fc = centres[:, None]
    b = bandwidth_factor * erb_hz(fc)

    def g(d: np.ndarray) -> np.ndarray:
        """G(d) * (2 pi)^n / (n-1)!, a common factor that the peak scaling removes."""
        base = (b + 1j * d).astype(np.complex64)
        power = base
        for _ in range(order - 1):  # integer power by products: 5x faster than ** on complex
            power = power * base
        return 1.0 / power

    h = g(freqs[None, :] - fc) + g(freqs[None, :] + fc)
    peak = np.abs(g(np.zeros_like(fc)) + g(2 * fc))
    return (h / peak.astype(np.float32)).astype(np.complex64)


class Cochlea:
    """The model for one `CochleaParams`; keeps the transfer functions of recent FFT sizes."""

    CACHED_SIZES = 4

    def __init__(self, params: CochleaParams) -> None:
        self.params = params
        self.centres = erb_space(params.f_min_hz, params.f_max_hz, params.n_channels)
        self._transfers: dict[int, np.ndarray] = {}

    @property
    def envelope_rate(self) -> float:
        """Rate (Hz) of the hair-cell output and of the spike encoder's steps."""
        return self.params.sample_rate / self.params.decimation

    def fft_size(self, n_samples: int) -> int:
        """FFT length for a signal: samples plus tail, rounded up to 128 envelope samples (few
        distinct sizes, so few transfer functions to compute)."""
        step = 128 * self.params.decimation
        padded = n_samples + round(self.params.tail_s * self.params.sample_rate)
        return max(step, -(-padded // step) * step)

    def transfer(self, n_fft: int) -> np.ndarray:
        """Gammatone transfer functions complex64 (channels, n_fft // 2 + 1) at the rfft bins."""
        if n_fft not in self._transfers:
            if len(self._transfers) >= self.CACHED_SIZES:
                self._transfers.pop(next(iter(self._transfers)))
            freqs = scipy.fft.rfftfreq(n_fft, 1.0 / self.params.sample_rate)
            self._transfers[n_fft] = gammatone_transfer(
                freqs, self.centres, self.params.filter_order, self.params.bandwidth_factor)
        return self._transfers[n_fft]

    def rectified_envelope(self, signal: np.ndarray) -> np.ndarray:
        """Basilar-membrane output, half-wave rectified and averaged over blocks of `decimation`
        samples: float32 (channels, n_fft // decimation) at `envelope_rate`."""
        n_fft = self.fft_size(len(signal))
        spectrum = scipy.fft.rfft(signal, n_fft).astype(np.complex64)
        h, d = self.transfer(n_fft), self.params.decimation
        block_mean = np.full(d, 1.0 / d, dtype=np.float32)
        out = np.empty((len(h), n_fft // d), dtype=np.float32)
        for start in range(0, len(h), CHANNEL_CHUNK):  # chunks of channels, not channels
            bm = scipy.fft.irfft(h[start:start + CHANNEL_CHUNK] * spectrum, n_fft, axis=1)
            np.maximum(bm, 0.0, out=bm)
            # block means as one matrix-vector product: 3x faster than a reduction over axis 2
            out[start:start + CHANNEL_CHUNK] = (bm.reshape(-1, d) @ block_mean).reshape(
                len(bm), -1)
        return out

    def hair_cell(self, envelope: np.ndarray) -> np.ndarray:
        """Compressed, adapted hair-cell output float32 (channels, steps), >= 0, from the
        rectified envelope."""
        p = self.params
        e_thr = np.float32(10.0 ** (p.threshold_db / 20.0) / np.pi)
        # (max(e, e_thr) / e_thr)^compression - 1 as exp(compression * log(.)) - 1: numpy's
        # float32 log and exp are vectorised, its power is not (7x faster)
        compressed = np.maximum(envelope, e_thr) / e_thr
        np.log(compressed, out=compressed)
        compressed *= np.float32(p.compression)
        np.exp(compressed, out=compressed)
        compressed -= 1.0
        if p.adaptation_strength == 0:
            return compressed
        decay = math.exp(-1.0 / (p.adaptation_tau_s * self.envelope_rate))
        level = scipy.signal.lfilter([1.0 - decay], [1.0, -decay], compressed, axis=1)
        adapted = compressed - np.float32(p.adaptation_strength) * level.astype(np.float32)
        return np.maximum(adapted, 0.0, out=adapted)

    def encode(self, drive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Integrate-and-fire spikes of a drive (channels, steps): (times s float64, channels
        int64), sorted by time then channel."""
        step = drive.astype(np.float64) * (self.params.spike_rate_hz / self.envelope_rate)
        total = np.cumsum(step, axis=1)
        crossed = np.floor(total)
        count = np.empty_like(crossed)  # thresholds crossed in each step
        count[:, 0] = crossed[:, 0]
        np.subtract(crossed[:, 1:], crossed[:, :-1], out=count[:, 1:])
        flat = np.flatnonzero(count)  # 1-D: faster than a 2-D nonzero
        channel, k = np.divmod(flat, count.shape[1])
        n = count.ravel()[flat].astype(np.int64)
        first = crossed[channel, k] - n + 1.0  # first threshold crossed in step k
        j = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)  # index within the step
        channel, k = np.repeat(channel, n), np.repeat(k, n)
        level = np.repeat(first, n) + j
        before = total[channel, k] - step[channel, k]
        fraction = (level - before) / step[channel, k]
        times = (k + fraction) / self.envelope_rate
        order = np.lexsort((channel, times))
        return times[order], channel[order]

    def spikes(self, signal: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
        """Spikes of a mono signal (float, full scale 1) recorded at `sample_rate` Hz:
        (times s float64, channels int64), sorted by time then channel."""
        signal = resample(np.asarray(signal, dtype=np.float64), sample_rate,
                          self.params.sample_rate)
        if self.params.level_db is not None:
            signal = normalise_level(signal, self.params.level_db)
        return self.encode(self.hair_cell(self.rectified_envelope(signal)))


def normalise_level(signal: np.ndarray, level_db: float) -> np.ndarray:
    """`signal` scaled to an RMS of level_db dB re full scale (silence stays silent)."""
    rms = float(np.sqrt(np.mean(np.square(signal)))) if len(signal) else 0.0
    if rms <= 0.0:
        return signal
    return signal * (10.0 ** (level_db / 20.0) / rms)


def resample(signal: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """`signal` resampled from rate_in to rate_out Hz by polyphase filtering (unchanged if
    equal)."""
    if rate_in == rate_out:
        return signal
    g = math.gcd(int(rate_in), int(rate_out))
    return scipy.signal.resample_poly(signal, rate_out // g, rate_in // g)

"""ToneImitator: a synthetic subject of a transmission chain, as a moalab device.

In a dry run it stands in for an animal (or a person) that hears a tone and sings
one back: :meth:`ToneImitator.hear` reads the tone played to it (a WAV file, its
parent's output) and :meth:`ToneImitator.produce` writes its own, at the frequency
heard with log-normal noise. Chained, the frequency drifts as a random walk in
log-frequency, which is what a transmission chain's analysis looks for.

:func:`write_tone` also makes the chain's source stimulus
(``CachedFunctionAsset(write_tone, extension=".wav", freq=440.0)``).
"""

import math
import os
import wave
from typing import Any

import numpy as np

from ..core.errors import InvalidArgument
from ..core.events import NumericProperty
from ..core.realtime import run_in_thread
from ..device.device import Device

__all__ = ("ToneImitator", "tone_frequency", "write_tone")

RATE = 16_000
"""Samples per second of the tones written (a 16-bit mono WAV)."""


def _check_positive(owner: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 < value < math.inf):
        raise InvalidArgument(f"{owner}: {name}={value!r} is not accepted; give a number "
                              "above 0")
    return float(value)


def write_tone(path: str | os.PathLike, freq: float = 440.0, duration: float = 0.5) -> None:
    """Write a pure tone of ``freq`` Hz lasting ``duration`` seconds at ``path`` (a 16-bit
    mono WAV at :data:`RATE`). Raises :class:`InvalidArgument` for a frequency not
    below the Nyquist limit (``RATE / 2``) or a duration that is not positive."""
    freq = _check_positive("write_tone", "freq", freq)
    duration = _check_positive("write_tone", "duration", duration)
    if freq >= RATE / 2:
        raise InvalidArgument(f"write_tone: freq={freq!r} is not accepted; give a frequency "
                              f"below {RATE // 2} Hz (half the sampling rate, {RATE} Hz)")
    t = np.arange(round(duration * RATE)) / RATE
    samples = (0.8 * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2")
    with wave.open(os.fspath(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())


def tone_frequency(path: str | os.PathLike) -> float:
    """The frequency (Hz) of the loudest tone in the WAV file at ``path``: the peak of its
    spectrum, refined between bins (to well under 1 Hz for a pure tone of 0.5 s).
    Raises :class:`InvalidArgument` for a file that is not a 16-bit mono WAV or holds
    no sound."""
    try:
        with wave.open(os.fspath(path), "rb") as source:
            if source.getnchannels() != 1 or source.getsampwidth() != 2:
                raise InvalidArgument(f"tone_frequency: {os.fspath(path)!r} is not accepted; "
                                      "give a 16-bit mono WAV file (as write_tone writes)")
            rate = source.getframerate()
            samples = np.frombuffer(source.readframes(source.getnframes()), "<i2")
    except (wave.Error, EOFError) as exc:
        raise InvalidArgument(f"tone_frequency: {os.fspath(path)!r} is not a WAV file "
                              f"({exc or type(exc).__name__}); give a 16-bit mono WAV file") from None
    if len(samples) < 4 or not samples.any():
        raise InvalidArgument(f"tone_frequency: {os.fspath(path)!r} holds no sound; give a "
                              "WAV file with a tone in it")
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    peak = int(np.argmax(spectrum[1:-1])) + 1
    # a parabola through the log magnitudes of the peak and its neighbours
    left, centre, right = np.log(spectrum[peak - 1:peak + 2] + 1e-12)
    offset = 0.5 * (left - right) / (left - 2 * centre + right)
    return float((peak + offset) * rate / len(samples))


class ToneImitator(Device):
    """A synthetic subject that sings back the tone it heard, off by some noise.

    ``noise``: the standard deviation of the produced frequency's ratio to the heard
    one, in octaves (0 imitates exactly). ``seed`` (an int, a
    :class:`numpy.random.SeedSequence`, or None for a fresh one) seeds its generator:
    one normal draw per tone produced. :attr:`heard` and :attr:`produced` (Hz, None
    until then) are its state, logged by the run it is a device of. Its methods run
    in the run's trio thread; the file work goes to a worker thread (a dry run's
    virtual clock waits for it).
    """

    _logged_names_ = ("timestamp", "heard", "produced")

    heard: float | None = NumericProperty(None, allownone=True)
    """The frequency (Hz) of the last tone heard."""
    produced: float | None = NumericProperty(None, allownone=True)
    """The frequency (Hz) of the last tone produced."""

    def __init__(self, noise: float = 0.1, *, seed: Any = None, duration: float = 0.5,
                 **kwargs: Any) -> None:
        if isinstance(noise, bool) or not isinstance(noise, int | float) or not (
                0 <= noise < math.inf):
            raise InvalidArgument(f"ToneImitator: noise={noise!r} is not accepted; give "
                                  "octaves >= 0 (0 imitates exactly)")
        self.duration = _check_positive("ToneImitator", "duration", duration)
        super().__init__(**kwargs)
        self.noise = float(noise)
        self.rng = np.random.default_rng(seed)

    async def hear(self, path: str | os.PathLike) -> float:
        """Listen to the WAV file at ``path``; return (and set :attr:`heard` to) its
        frequency. Raises :class:`InvalidArgument` as :func:`tone_frequency`."""
        freq = await run_in_thread(tone_frequency, path)
        self.update(heard=freq)
        return freq

    async def produce(self, path: str | os.PathLike) -> float:
        """Sing back the tone last heard, off by the noise: write it at ``path`` (a WAV
        of :attr:`duration` seconds) and return (and set :attr:`produced` to) its
        frequency. Raises :class:`InvalidArgument` before anything was heard."""
        if self.heard is None:
            raise InvalidArgument(f"{type(self).__name__} {self.name!r} has heard nothing "
                                  "yet: call hear(path) before produce(path)")
        # kept below the Nyquist limit, so a long noisy chain never writes an alias
        freq = min(self.heard * 2.0 ** (self.noise * self.rng.standard_normal()), RATE * 0.45)
        await run_in_thread(write_tone, path, freq, self.duration)
        self.update(produced=freq)
        return freq

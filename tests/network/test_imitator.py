"""ToneImitator hears a WAV tone's frequency and sings one back with log-normal noise;
write_tone and tone_frequency agree; bad input is refused by name."""

import math

import numpy as np
import pytest

from moalab import MoaError
from moalab.network.imitator import RATE, ToneImitator, tone_frequency, write_tone


@pytest.mark.parametrize("freq", [110.0, 440.0, 1234.5, 5000.0])
def test_tone_frequency_reads_back_the_tone_written(tmp_path, freq):
    write_tone(tmp_path / "tone.wav", freq, duration=0.3)
    assert tone_frequency(tmp_path / "tone.wav") == pytest.approx(freq, abs=0.5)


async def test_imitator_hears_its_parent_and_produces_a_noisy_copy(tmp_path):
    write_tone(tmp_path / "parent.wav", 440.0)
    imitator = ToneImitator(noise=0.1, seed=3, name="subject")
    assert await imitator.hear(tmp_path / "parent.wav") == pytest.approx(440.0, abs=0.5)
    produced = await imitator.produce(tmp_path / "own.wav")
    assert imitator.heard == pytest.approx(440.0, abs=0.5) and imitator.produced == produced
    assert produced != pytest.approx(440.0, abs=0.5)  # the noise moved it
    assert tone_frequency(tmp_path / "own.wav") == pytest.approx(produced, abs=0.5)


async def test_imitator_noise_is_seeded_and_its_size_in_octaves(tmp_path):
    write_tone(tmp_path / "parent.wav", 440.0)

    async def octaves(seed, noise, n):
        imitator = ToneImitator(noise=noise, seed=seed, duration=0.1)
        await imitator.hear(tmp_path / "parent.wav")
        return [math.log2(await imitator.produce(tmp_path / "own.wav") / imitator.heard)
                for _ in range(n)]

    assert await octaves(7, 0.2, 3) == await octaves(7, 0.2, 3)
    spread = np.std(await octaves(1, 0.2, 200))
    assert 0.16 < spread < 0.24
    assert await octaves(1, 0.0, 2) == [0.0, 0.0]


async def test_imitator_refuses_bad_input_by_name(tmp_path):
    with pytest.raises(MoaError, match="noise=-1 .*octaves >= 0"):
        ToneImitator(noise=-1)
    with pytest.raises(MoaError, match="has heard nothing yet: call hear"):
        await ToneImitator(name="rat-1").produce(tmp_path / "own.wav")
    (tmp_path / "text.wav").write_text("not a sound")
    with pytest.raises(MoaError, match="is not a WAV file"):
        tone_frequency(tmp_path / "text.wav")
    with pytest.raises(MoaError, match=f"below {RATE // 2} Hz"):
        write_tone(tmp_path / "high.wav", RATE)

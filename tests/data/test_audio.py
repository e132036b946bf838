"""Audio data: mu-law codes, the audio data sets (tones, FSDD when present, a WAV folder) and WAV rendering."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import genlab
from genlab.data.modalities import get_modality, mu_law_decode, mu_law_encode
from genlab.errors import DataError

sf = pytest.importorskip("soundfile")


def test_mu_law_round_trip_of_every_code():
    codes = torch.arange(256)
    assert torch.equal(mu_law_encode(mu_law_decode(codes)).long(), codes)
    assert mu_law_encode(torch.tensor(0.0)) == 128
    assert mu_law_encode(torch.tensor([-1.0, 1.0])).tolist() == [0, 255]
    assert mu_law_encode(torch.tensor([0.0])).dtype == torch.uint8


def test_mu_law_decode_of_encode_is_close():
    x = torch.linspace(-1, 1, 10001)
    err = (mu_law_decode(mu_law_encode(x)) - x).abs()
    # at most half a bin (1/255) of the companded value, times the slope dx/dF = ln(256)/255 (1 + 255|x|)
    slope = torch.log1p(torch.tensor(255.0)) / 255 * (1 + 255 * (x.abs() + err))
    assert bool((err <= slope / 255 + 1e-6).all())
    assert float(err.max()) < 0.025
    assert float(err[x.abs() < 0.01].max()) < 5e-4  # fine steps near silence (1/40 of the largest)


def test_tones_data_set():
    data = genlab.load_dataset("synthetic-tones", num=50, length=128)
    assert data.info.kind == "audio" and data.info.shape == (128,) and data.info.levels == 256
    assert data.info.rate == 8000 and data.info.num_classes == 10
    assert (len(data.train), len(data.val), len(data.test)) == (40, 5, 5)
    batch = data.train.get(torch.arange(4))
    assert batch["x"].dtype == torch.uint8 and batch["x"].shape == (4, 128)
    assert batch["y"].tolist() == [0, 1, 2, 3]
    assert data.info.to_dict()["rate"] == 8000
    assert "rate" not in genlab.load_dataset("digits").info.to_dict()  # other data's config.json is unchanged
    again = genlab.load_dataset("synthetic-tones", num=50, length=128)
    assert torch.equal(again.train.codes, data.train.codes)


def write_wav(path, wave, rate=8000, channels=1):
    data = np.stack([wave] * channels, 1) if channels > 1 else wave
    sf.write(str(path), data, rate, subtype="PCM_16")


def tone(n, rate=8000, freq=440.0):
    return 0.5 * np.sin(2 * math.pi * freq * np.arange(n) / rate)


def test_audio_folder_resamples_crops_pads_and_labels(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            write_wav(tmp_path / c / f"{i}.wav", tone(1600 if i else 400, rate=16000), rate=16000)
    data = genlab.load_dataset(f"audio:{tmp_path}", length=500, rate=8000)
    assert data.info.shape == (500,) and data.info.num_classes == 2 and data.info.rate == 8000
    codes = torch.cat([data.train.codes, data.val.codes, data.test.codes])
    assert codes.shape == (6, 500)
    padded = (codes[:, 200:] == 128).all(1)  # the 400-sample files at 16 kHz are 200 samples at 8 kHz
    assert int(padded.sum()) == 2
    # a 440 Hz tone survives the resampling: its spectrum peaks at 440 Hz
    wave = mu_law_decode(codes[~padded][0]).numpy()
    assert abs(np.argmax(np.abs(np.fft.rfft(wave))) * 8000 / 500 - 440) <= 16


@pytest.mark.parametrize("case, needle", [("stereo", "mix=true"), ("empty", "no audio samples"),
                                          ("short", "too short"), ("garbage", "not a readable audio file"),
                                          ("nan", "NaN or infinite")])
def test_audio_folder_refuses_bad_files_in_one_line(tmp_path, case, needle):
    for i in range(3):
        write_wav(tmp_path / f"{i}.wav", tone(800))
    bad = tmp_path / "bad.wav"
    if case == "stereo":
        write_wav(bad, tone(800), channels=2)
    elif case == "empty":
        write_wav(bad, np.zeros(0))
    elif case == "short":
        write_wav(bad, tone(10))
    elif case == "nan":
        wave = tone(800)
        wave[100], wave[200] = np.nan, np.inf
        sf.write(str(bad), wave, 8000, subtype="FLOAT")  # a float WAV keeps them
    else:
        bad.write_bytes(b"not a wav file at all")
    with pytest.raises(DataError, match=needle) as e:
        genlab.load_dataset(f"audio:{tmp_path}")
    assert "\n" not in str(e.value)
    if case == "stereo":
        assert genlab.load_dataset(f"audio:{tmp_path}", mix=True).info.shape == (8192,)


def test_audio_folder_needs_files(tmp_path):
    with pytest.raises(DataError, match="at least 3"):
        genlab.load_dataset(f"audio:{tmp_path}")
    with pytest.raises(DataError, match="length"):
        genlab.load_dataset("synthetic-tones", length=1)


def test_render_writes_wavs_and_spectrograms(tmp_path):
    from PIL import Image

    data = genlab.load_dataset("synthetic-tones")
    modality = get_modality("audio")
    samples = data.test.codes[:3].long()
    out = modality.render(data.info, samples, tmp_path / "samples")
    assert sorted(p.name for p in out.iterdir()) == ["sample-000.wav", "sample-001.wav", "sample-002.wav",
                                                    "spectrograms.png"]
    wave, rate = sf.read(str(out / "sample-001.wav"), dtype="float64")
    info = sf.info(str(out / "sample-001.wav"))
    assert rate == 8000 and info.subtype == "PCM_16" and info.channels == 1 and len(wave) == 64
    assert np.abs(wave - mu_law_decode(samples[1]).numpy()).max() < 1e-4
    with Image.open(out / "spectrograms.png") as im:
        assert im.size[1] > 3 * 64
    with pytest.raises(DataError, match="folder"):
        modality.render(data.info, samples, tmp_path / "x.wav")


def test_likelihood_report_is_per_audio_sample():
    info = genlab.load_dataset("synthetic-tones").info
    report = get_modality("audio").likelihood_report(info, total_nats=64 * 10 * math.log(2), num_examples=10,
                                                     split=None)
    assert report["bits_per_sample"] == pytest.approx(1.0)
    assert report["unit"] == "nats per audio sample"


@pytest.fixture(scope="module")
def fsdd_root(data_root):
    folder = data_root / "fsdd" / "recordings"
    if not folder.is_dir() or len(list(folder.glob("*.wav"))) < 3000:
        pytest.skip(f"FSDD recordings not under {folder} (set GENLAB_DATA)")
    return data_root


def test_fsdd_uses_its_own_split(fsdd_root):
    data = genlab.load_dataset("fsdd", root=fsdd_root, length=4000)
    assert (len(data.train), len(data.val), len(data.test)) == (2400, 300, 300)
    assert data.info.shape == (4000,) and data.info.num_classes == 10 and data.info.rate == 8000
    batch = data.test.get(torch.arange(len(data.test)))
    assert sorted(set(batch["y"].tolist())) == list(range(10))
    assert sorted(set(batch["speaker"].tolist())) == list(range(6))
    all_train = genlab.load_dataset("fsdd", root=fsdd_root, length=64, val_takes=0)
    assert all_train.val is None and len(all_train.train) == 2700


def test_missing_soundfile_names_the_extra(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "soundfile", None)  # import soundfile now raises ImportError
    with pytest.raises(genlab.errors.ConfigError, match=r"pip install genlab\[audio\]") as e:
        get_modality("audio").render(genlab.load_dataset("synthetic-tones").info, torch.zeros(1, 8), tmp_path / "s")
    assert "\n" not in str(e.value)


def test_crops_cover_the_audible_part_and_no_more():
    """windows(L): every crop of L samples that starts at most L/2 before the trailing silence; each
    crop is the clip's samples there, with its clip's label."""
    from genlab.data.modalities.audio import SILENCE, AudioSplit

    codes = torch.full((2, 20), SILENCE, dtype=torch.uint8)
    codes[0, :12] = torch.arange(1, 13, dtype=torch.uint8)  # audible for 12 samples, then padding
    codes[1, :3] = 7  # audible for 3 samples
    split = AudioSplit(codes, torch.tensor([4, 9])).windows(8)
    # clip 0: starts 0 .. 12 - 4 = 8; clip 1: 3 - 4 < 0, so start 0 only
    assert len(split) == 9 + 1
    batch = split.get(torch.arange(len(split)))
    assert torch.equal(batch["x"][3], codes[0, 3:11])
    assert torch.equal(batch["x"][8], codes[0, 8:16])
    assert torch.equal(batch["x"][9], codes[1, :8])
    assert batch["y"].tolist() == [4] * 9 + [9]
    assert torch.equal(split.get(split.eval_indices())["x"], codes)
    assert len(AudioSplit(codes).windows(20)) == 2  # a window as long as the clips: whole clips


def test_the_spectrogram_picture_is_readable():
    """Each clip's panel at least 384 px wide and 128 high, with a frequency and a time axis."""
    from genlab.data.modalities.audio import spectrogram_picture

    t = torch.arange(4096) / 8000
    waves = torch.stack([torch.sin(2 * torch.pi * f * t) * 0.5 for f in (500, 2000)])
    picture = spectrogram_picture(waves, 8000)
    assert picture.shape[0] == 2 * 130 + 2 + 18 and picture.shape[1] >= 384 + 46
    assert (picture[:, :40] < 128).any() and (picture[-16:, :] < 128).any()  # the axis labels are drawn


def test_spectrogram_grid_in_columns():
    """Panels fill the columns row by row, each its own 96-pixel-high spectrogram, the pad grey."""
    from genlab.data.modalities.audio import spectrogram_grid

    t = torch.arange(512) / 8000
    waves = torch.stack([torch.sin(2 * torch.pi * f * t) * 0.5 for f in (200, 400, 800, 1600, 3200)])
    one = spectrogram_grid(waves)
    grid = spectrogram_grid(waves, columns=3)
    width = (one.shape[1] - 4)  # a single column: pad + panel + pad
    assert one.shape == (5 * 98 + 2, width + 4)
    assert grid.shape == (2 * 98 + 2, 3 * (width + 2) + 2)
    assert (grid[2:98, 2:2 + width] == one[2:98, 2:2 + width]).all()  # the first panel is the same either way
    assert (grid[100:196, 2 + width + 2:2 + 2 * width + 2] == one[4 * 98 + 2:5 * 98, 2:2 + width]).all()  # the 5th
    assert (grid[100:196, -width - 2:-2] == 128).all()  # the sixth place is empty

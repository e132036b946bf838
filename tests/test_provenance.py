"""genlab.provenance: the record stamped into generated files (PNG, WAV, MIDI, GIF) and beside them, read
back, and the data loaders' refusal of synthetic files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageSequence

from genlab import provenance
from genlab.data import load_dataset
from genlab.errors import ConfigError, DataError

REC = provenance.record(model="vae", weights_sha256="ab" * 32, run="/runs/vae", weights="/runs/vae/best", step=30,
                        seed=7, sampling={"temperature": 0.5, "num": 4}, command="sample", kind="image")


def embedded_only(path):
    """The record read from inside the file (its sidecar removed)."""
    provenance.sidecar(path).unlink()
    return provenance.read(path)


def test_the_record_says_synthetic_and_what_made_it():
    assert REC["synthetic"] is True and REC["seed"] == 7 and REC["sampling"] == {"temperature": 0.5, "num": 4}
    assert REC["generator"]["model"] == "vae" and REC["generator"]["weights_sha256"] == "ab" * 32
    assert REC["created"].endswith("+00:00")  # ISO-8601 in UTC
    assert provenance.record(model="m", weights_sha256=None, sampling={"x": object})["sampling"]["x"].startswith("<")


def test_png_round_trip_keeps_the_pixels(tmp_path):
    path = tmp_path / "x.png"
    pixels = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    assert provenance.read(path) is None
    assert provenance.embed(path, REC) == "png"
    assert provenance.embed(path, REC) == "png"  # stamped again: replaced, not added
    assert json.loads(provenance.sidecar(path).read_text()) == REC
    assert provenance.read(path) == (REC, "sidecar")
    with Image.open(path) as im:
        assert np.array_equal(np.asarray(im), pixels)
        assert json.loads(im.info[provenance.KEY]) == REC and len(im.info) == 1
    assert embedded_only(path) == (REC, "png")
    assert provenance.is_synthetic(path)


def test_wav_round_trip_reads_the_same_samples(tmp_path):
    sf = pytest.importorskip("soundfile")
    path = tmp_path / "x.wav"
    sf.write(path, np.random.default_rng(0).uniform(-1, 1, 1001), 8000, subtype="PCM_16")
    before, rate = sf.read(path)
    assert provenance.embed(path, REC) == "wav" and provenance.embed(path, REC) == "wav"
    after, rate_after = sf.read(path)
    assert rate_after == rate and np.array_equal(after, before)
    data = path.read_bytes()
    assert int.from_bytes(data[4:8], "little") == len(data) - 8  # the RIFF size counts the INFO chunk
    assert data.count(b"ICMT") == 1 and data.count(b"ISFT") == 1 and b"LIST" in data
    assert embedded_only(path) == (REC, "wav")


def test_midi_round_trip_keeps_the_notes(tmp_path):
    mido = pytest.importorskip("mido")
    path = tmp_path / "x.mid"
    mid = mido.MidiFile()
    track = mido.MidiTrack([mido.Message("note_on", note=60, velocity=80, time=10),
                            mido.Message("note_off", note=60, velocity=0, time=20)])
    mid.tracks.append(track)
    mid.save(path)
    notes = [m for m in mido.MidiFile(path).tracks[0] if not m.is_meta]
    assert provenance.embed(path, REC) == "midi" and provenance.embed(path, REC) == "midi"
    stamped = mido.MidiFile(path).tracks[0]
    assert [m for m in stamped if not m.is_meta] == notes
    assert sum(m.type == "text" for m in stamped) == 1 and stamped[0].time == 0
    assert embedded_only(path) == (REC, "midi")


def test_gif_round_trip_keeps_the_frames(tmp_path):
    path = tmp_path / "x.gif"
    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)) for _ in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)

    def shown(p):
        with Image.open(p) as im:
            return [np.asarray(f.convert("L")).copy() for f in ImageSequence.Iterator(im)]

    before = shown(path)
    assert provenance.embed(path, REC) == "gif" and provenance.embed(path, REC) == "gif"
    after = shown(path)
    assert len(after) == 3 and all(np.array_equal(a, b) for a, b in zip(before, after))
    with Image.open(path) as im:
        assert json.loads(im.info["comment"]) == REC
    assert embedded_only(path) == (REC, "gif")


def test_text_has_the_sidecar_only(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("hello\n")
    assert provenance.embed(path, REC) is None
    assert path.read_text() == "hello\n" and provenance.read(path) == (REC, "sidecar")
    assert embedded_only(path) is None
    with pytest.raises(DataError, match="does not exist"):
        provenance.read(tmp_path / "nope.png")


# ---- the loaders -----------------------------------------------------------------------------------
def picture_folder(root, n=4, stamped=()):
    root.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(root / f"{i}.png")
    for i in stamped:
        provenance.embed(root / f"{i}.png", REC)
    return root


def test_an_image_folder_with_generated_pictures_is_refused_unless_allowed(tmp_path):
    folder = picture_folder(tmp_path / "pics", stamped=(1, 3))
    with pytest.raises(DataError) as e:
        load_dataset(f"images:{folder}", size=8)
    message = str(e.value)
    assert "\n" not in message and "2 images in" in message and "(e.g. 1.png)" in message
    assert "--allow-synthetic" in message
    provenance.sidecar(folder / "1.png").unlink()  # the PNG's own chunk is enough
    with pytest.raises(DataError, match="2 images"):
        load_dataset(f"images:{folder}", size=8)
    data = load_dataset(f"images:{folder}", size=8, allow_synthetic="true")
    assert data.synthetic_examples == 2
    assert load_dataset(f"images:{picture_folder(tmp_path / 'real')}", size=8).synthetic_examples == 0


def test_audio_midi_and_pair_folders_check_too(tmp_path):
    sf = pytest.importorskip("soundfile")
    audio = tmp_path / "audio"
    audio.mkdir()
    for i in range(3):
        sf.write(audio / f"{i}.wav", np.zeros(100), 8000, subtype="PCM_16")
    provenance.embed(audio / "2.wav", REC)
    provenance.sidecar(audio / "2.wav").unlink()
    with pytest.raises(DataError, match="1 of the audio files .* is marked synthetic .*2.wav"):
        load_dataset(f"audio:{audio}", length=64)
    assert load_dataset(f"audio:{audio}", length=64, allow_synthetic=True).synthetic_examples == 1

    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for side in ("A", "B"):
        picture_folder(pairs / side, n=3)
    provenance.embed(pairs / "B" / "0.png", REC)
    with pytest.raises(DataError, match="1 of the pairs"):
        load_dataset(f"pairs:{pairs}", size=8)
    assert load_dataset(f"pairs:{pairs}", size=8, allow_synthetic=True).synthetic_examples == 1

    with pytest.raises(ConfigError, match="allow_synthetic"):
        load_dataset("digits", allow_synthetic=True)


def test_every_file_a_render_writes_is_stamped_and_nothing_else(tmp_path):
    import torch

    from genlab.data import DataInfo

    pytest.importorskip("soundfile")
    video = DataInfo(name="v", kind="video", shape=(4, 1, 8, 8), levels=256, context_frames=2)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "clips.txt").write_text("mine too")
    out = tmp_path / "clips.gif"
    path, stamped = provenance.render_stamped(video, torch.randint(0, 256, (2, 4, 1, 8, 8)), out, REC)
    assert path == out and stamped == [tmp_path / "clips.gif", tmp_path / "clips.png"]  # the animation and its filmstrip
    files_now = {p for p in tmp_path.iterdir() if not provenance.is_sidecar(p)}
    assert files_now - {tmp_path / "notes.txt", tmp_path / "clips.txt"} == set(stamped)  # the list is what it wrote
    assert provenance.read(tmp_path / "clips.png").record == REC and provenance.read(tmp_path / "notes.txt") is None
    assert embedded_only(tmp_path / "clips.gif").source == "gif"

    audio = DataInfo(name="a", kind="audio", shape=(64,), levels=256, rate=8000)
    folder = tmp_path / "wavs"
    folder.mkdir()
    (folder / "old.wav").write_bytes(b"not ours")
    _, stamped = provenance.render_stamped(audio, torch.randint(0, 256, (3, 64)), folder, REC)
    names = [p.name for p in stamped]
    assert names == ["sample-000.wav", "sample-001.wav", "sample-002.wav", "spectrograms.png"]
    assert embedded_only(folder / "sample-001.wav").source == "wav"
    assert provenance.read(folder / "old.wav") is None

"""Piano rolls: the JSB Chorales JSON, rolls:PATH, MIDI round trips and midi:DIR, the split's windows
and padding, the NLL per time step, rendering and the missing-extra error."""

from __future__ import annotations

import json
import sys

import pytest
import torch

import genlab
from genlab.data.modalities.pianoroll import PAD, RollSplit, pitches_to_roll, read_midi, write_midi
from genlab.errors import ConfigError, DataError

JSB = "jsb-chorales/jsb-chorales-quarter.json"


def random_roll(t: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    roll = (torch.rand(t, 88, generator=g) < 0.05).to(torch.uint8)
    roll[-2:] = 0  # trailing silence must survive a round trip too
    return roll


def test_jsb_chorales_quarter_grid(data_root):
    if not (data_root / JSB).is_file():
        pytest.skip(f"{JSB} not under data root {data_root} (set GENLAB_DATA)")
    data = genlab.load_dataset("jsb-chorales", root=data_root)
    assert data.info.kind == "pianoroll" and data.info.steps_per_quarter == 1
    assert (len(data.train), len(data.val), len(data.test)) == (229, 76, 77)
    raw = json.loads((data_root / JSB).read_text())
    first = data.train.rolls[0]
    assert first.shape == (len(raw["train"][0]), 88) and first.dtype == torch.uint8
    assert first[0].nonzero().flatten().tolist() == [p - 21 for p in sorted(raw["train"][0][0])]
    assert sum(len(r) for r in data.test.rolls) == sum(len(c) for c in raw["test"])
    with pytest.raises(ConfigError, match="quarter, 8th, 16th"):
        genlab.load_dataset("jsb-chorales", root=data_root, grid="32nd")


def test_pitches_off_the_piano_are_refused():
    assert pitches_to_roll([[21, 108], []]).sum() == 2
    with pytest.raises(DataError, match="off the 88-key piano"):
        pitches_to_roll([[20]])


def test_rolls_json_file(tmp_path):
    path = tmp_path / "set.json"
    path.write_text(json.dumps({"train": [[[60, 64], [62]]], "valid": [[[60]]], "test": []}))
    data = genlab.load_dataset(f"rolls:{path}", steps_per_quarter=2)
    assert data.info.steps_per_quarter == 2 and data.test is None
    assert data.train.rolls[0][:, 39].tolist() == [1, 0]
    path.write_text("[1, 2]")
    with pytest.raises(DataError, match="keys train"):
        genlab.load_dataset(f"rolls:{path}")


def test_windows_eval_items_and_padding():
    rolls = [random_roll(5, 0), random_roll(9, 1)]
    split = RollSplit(rolls).windows(6)
    # training items: the 5-step piece whole, the 9-step piece's 4 windows of 6; evaluation: both whole
    assert len(split) == 5
    assert split.get(torch.tensor([0]))["x"].shape == (1, 5, 88)
    assert torch.equal(split.get(torch.tensor([2]))["x"][0], rolls[1][1:7])
    whole = split.get(split.eval_indices())["x"]
    assert whole.shape == (2, 9, 88)
    assert torch.equal(whole[0, :5], rolls[0]) and (whole[0, 5:] == PAD).all()
    assert torch.equal(whole[1], rolls[1])
    assert split.num_steps(split.eval_indices()) == 14
    with pytest.raises(DataError, match="sequence model"):
        RollSplit(rolls).windows(None)


def test_nll_is_per_time_step_over_whole_pieces(tiny_pianoroll):
    model = genlab.create_model("lstm-roll", data=tiny_pianoroll, hidden_size=8, seq_len=4).eval()
    result = genlab.evaluate(model, tiny_pianoroll, "test")
    rolls = tiny_pianoroll.test.rolls
    total = sum(-float(model.log_prob(r[None])) for r in rolls)  # each piece alone, from its first step
    steps = sum(len(r) for r in rolls)
    assert result["unit"] == "nats per time step" and result["num_steps"] == steps
    assert result["nll_nats"] == pytest.approx(total / steps, rel=1e-5)
    assert any("nats per time step" in line for line in tiny_pianoroll.info.modality.describe_likelihood(result))


@pytest.mark.parametrize("steps_per_quarter", [1, 4])
def test_midi_round_trip(tmp_path, steps_per_quarter):
    pytest.importorskip("mido")
    roll = random_roll(40, steps_per_quarter)
    path = write_midi(roll, tmp_path / "a.mid", steps_per_quarter)
    assert torch.equal(read_midi(path, steps_per_quarter), roll)
    # padding ends the piece
    padded = torch.cat([roll, torch.full((3, 88), PAD, dtype=torch.uint8)])
    assert torch.equal(read_midi(write_midi(padded, tmp_path / "b.mid", steps_per_quarter), steps_per_quarter), roll)


def test_midi_folder_data_set(tmp_path):
    pytest.importorskip("mido")
    for i in range(4):
        write_midi(random_roll(16 + i, i), tmp_path / "songs" / f"{i}.mid", 4)
    data = genlab.load_dataset(f"midi:{tmp_path / 'songs'}", grid="16th", val_fraction=0.25)
    assert (len(data.train), len(data.val), data.test) == (3, 1, None)
    assert torch.equal(data.val.rolls[0], random_roll(19, 3))
    coarse = genlab.load_dataset(f"midi:{tmp_path / 'songs'}", grid="quarter", val_fraction=0)
    assert len(coarse.train.rolls[0]) == 4 and coarse.info.steps_per_quarter == 1
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .mid"):
        genlab.load_dataset(f"midi:{tmp_path / 'empty'}")


def test_missing_mido_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mido", None)  # import mido now fails
    with pytest.raises(ConfigError, match=r"pip install genlab\[music\]") as e:
        write_midi(random_roll(4, 0), tmp_path / "a.mid")
    assert "\n" not in str(e.value)


def test_render_folder_png_and_one_midi(tmp_path, tiny_pianoroll):
    pytest.importorskip("mido")
    modality, info = tiny_pianoroll.info.modality, tiny_pianoroll.info
    samples = torch.stack([random_roll(12, 0), random_roll(12, 1)])
    out = modality.render(info, samples, tmp_path / "chorales")
    assert sorted(p.name for p in out.iterdir()) == ["pianoroll.png", "sample-0.mid", "sample-1.mid"]
    assert torch.equal(read_midi(out / "sample-1.mid", 1), samples[1])
    assert modality.render(info, samples, tmp_path / "roll.png").is_file()
    assert modality.render(info, samples[:1], tmp_path / "one.mid").is_file()
    with pytest.raises(ConfigError, match="folder"):
        modality.render(info, samples, tmp_path / "two.mid")
    prompt = modality.parse(info, str(out / "sample-0.mid"))
    assert torch.equal(prompt, samples[0])

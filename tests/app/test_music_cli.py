"""Piano rolls from the command line: train on rolls:PATH, sample .mid files and a picture into a
folder, continue a MIDI prompt, evaluate in nats per time step."""

from __future__ import annotations

import pytest

from cli_helpers import run_cli
from genlab import provenance
from genlab.data.modalities.pianoroll import read_midi


@pytest.fixture(scope="module")
def roll_run(tmp_path_factory, tiny_pianoroll):
    run = tmp_path_factory.mktemp("music") / "nade-run"
    code, out, err = run_cli("train", "rnn-nade", "--data", tiny_pianoroll.info.name, "--steps", "3", "--out", run,
                             "--set", "hidden_size=8", "--set", "nade_hidden=4", "--set", "seq_len=8",
                             "--batch-size", "4", "--set", "progress=false")
    assert code == 0, err
    return run


def test_sample_writes_midi_files_and_a_picture_into_a_folder(roll_run, tmp_path):
    pytest.importorskip("mido")
    out = tmp_path / "chorales"
    code, stdout, err = run_cli("sample", roll_run, "--num", "3", "--out", out, "--sample-arg", "num_steps=6")
    assert code == 0, err
    names = ["pianoroll.png", "sample-0.mid", "sample-1.mid", "sample-2.mid"]  # each with its provenance sidecar
    assert sorted(p.name for p in out.iterdir()) == sorted(names + [n + ".provenance.json" for n in names])
    assert read_midi(out / "sample-0.mid", 1).shape[1] == 88
    # a folder that exists already is fine too; a MIDI file is a prompt the model continues
    code, _, err = run_cli("sample", roll_run, "--num", "2", "--out", out, "--prompt", out / "sample-0.mid",
                           "--sample-arg", "num_steps=4", "--seed", "1")
    assert code == 0, err
    first = read_midi(out / "sample-0.mid", 1)
    assert len(first) <= 10


def test_evaluate_reports_nats_per_time_step(roll_run):
    code, out, err = run_cli("eval", roll_run, "--split", "test")
    assert code == 0, err
    assert "nats per time step" in out


def test_sample_without_out_writes_midi_files_and_the_picture(roll_run):
    """As --help says: the default output of a piano-roll model is the folder RUN/samples with .mid files
    and pianoroll.png (beside the trainer's step-N.png previews), not only a picture."""
    previews = {p.name for p in (roll_run / "samples").iterdir()}
    code, stdout, err = run_cli("sample", roll_run, "--num", "2", "--sample-arg", "num_steps=5")
    assert code == 0, err
    new = {p.name for p in (roll_run / "samples").iterdir()} - previews
    assert {n for n in new if not n.endswith(".provenance.json")} == {"sample-0.mid", "sample-1.mid",
                                                                       "pianoroll.png"}, new
    assert all(provenance.read(roll_run / "samples" / n).record["command"] == "sample" for n in new
               if not n.endswith(".provenance.json"))
    assert all(provenance.read(roll_run / "samples" / n).record["command"] == "train preview" for n in previews
               if not n.endswith(".provenance.json"))

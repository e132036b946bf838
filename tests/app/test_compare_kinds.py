"""`genlab compare` beyond images: audio runs judged by the spoken-digit classifier, piano-roll runs
by their statistics against the test pieces; each with its own NLL unit, floor row and files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import genlab
from genlab import provenance
from cli_helpers import assert_one_line_error, run_cli
from genlab.evaluation.audio_quality import classify
from genlab.evaluation.features import save_feature_network, train_feature_network
from genlab.evaluation.music_quality import roll_statistics, total_variation

TONES = ["--data", "synthetic-tones", "--data-arg", "num=60", "--data-arg", "length=256"]
TINY_WAVENET = ["--set", "channels=8", "--set", "gate_channels=8", "--set", "skip_channels=8",
                "--set", "layers_per_stack=3", "--set", "stacks=1"]


def test_compare_audio_runs(tmp_path):
    for name, extra in (("wavenet", TINY_WAVENET), ("wavegan", ["--set", "latent_dim=8", "--set", "model_size=4"])):
        code, _, err = run_cli("train", name, *TONES, "--steps", "3", "--batch-size", "8", "--set", "conditional=true",
                               *extra, "--out", tmp_path / name, "--progress", "false")
        assert code == 0, err
    data = genlab.load_dataset("synthetic-tones", num=60, length=256)
    net = train_feature_network(data, steps=5, batch_size=16, seed=0, progress=False, channels=[8, 16], feature_dim=32)
    save_feature_network(net, tmp_path / "features")
    code, out, err = run_cli("compare", tmp_path / "wavenet", tmp_path / "wavegan", "--out", tmp_path / "report",
                             "--features", tmp_path / "features", "--num-samples", "12")
    assert code == 0, err
    report = json.loads((tmp_path / "report" / "results.json").read_text())
    assert report["kind"] == "audio" and report["features"] == net.content_hash
    wavenet, wavegan = report["runs"]
    assert wavenet["likelihood"] == "exact" and wavenet["nll"] > 0  # bits per audio sample
    assert wavegan["likelihood"] == "none" and "nll" not in wavegan
    for row in (wavenet, wavegan):
        assert row["num_samples"] == 12 and 0 <= row["accuracy"] <= 1 and row["fd"] >= 0
        assert (tmp_path / "report" / row["grid"]).is_file()  # the spectrograms
        assert len(list((tmp_path / "report" / row["listen"]).glob("*.wav"))) == 10
        for path in [tmp_path / "report" / row["grid"], *(tmp_path / "report" / row["listen"]).glob("*.wav")]:
            rec = provenance.read(path).record  # every generated file of the report is stamped
            assert rec["command"] == "compare" and rec["generator"]["run"] == str((tmp_path / row["model"]).resolve())
    floor_files = [p for p in (tmp_path / "report" / "samples-0-data").rglob("*") if p.is_file()]
    assert floor_files and all(provenance.read(p) is None for p in floor_files)  # real recordings: no stamp
    # the floor: 12 training clips (seeded pick) with their own labels as the asked classes
    floor = report["reference"]
    pick = torch.randperm(len(data.train.codes), generator=torch.Generator().manual_seed(0))[:12]
    _, probs = classify(net, data.train.codes[pick])
    expected = float((probs.argmax(1) == data.train.labels[pick]).double().mean())
    assert floor["run"] == "training recordings" and floor["accuracy"] == pytest.approx(expected)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "test NLL (bits/sample)" in md and "asked class heard" in md and "| training recordings | data |" in md
    assert "(exact)" in md and "| none |" in md  # WaveNet's likelihood, WaveGAN's lack of one
    # a clip length the classifier cannot judge is refused before any sampling, with nothing written
    assert_one_line_error(*run_cli("compare", tmp_path / "wavenet", tmp_path / "wavegan", "--out", tmp_path / "r2",
                                   "--features", tmp_path / "features", "--sample-arg", "length=2048"),
                          "length=2048", "256 samples")
    assert not (tmp_path / "r2").exists()


def test_roll_statistics_by_hand():
    """Two pieces: polyphony, empty steps, note lengths and histograms counted directly."""
    a = np.zeros((4, 88), dtype=np.uint8)
    a[0:2, 39] = 1  # middle C (MIDI 60 = key 39) for 2 steps: one note
    a[1, 43] = 1  # E4 for one step
    # step 3 and 4: silence
    b = np.zeros((3, 88), dtype=np.uint8)
    b[:, 39 + 12] = 1  # C5 for 3 steps
    b = np.concatenate([b, np.full((2, 88), 2, dtype=np.uint8)])  # two padded steps are not music
    stats = roll_statistics([torch.from_numpy(a), torch.from_numpy(b)])
    # sounding steps: a0 (1 key), a1 (2 keys), b0-b2 (1 key each) -> 6 keys over 5 sounding steps
    assert stats["polyphony"] == pytest.approx(6 / 5)
    assert stats["empty_steps"] == pytest.approx(2 / 7)
    assert stats["note_length"] == pytest.approx(6 / 3)  # notes: C4 (2), E4 (1), C5 (3)
    pc = stats["pitch_class_histogram"].numpy()
    assert pc[0] == pytest.approx(5 / 6) and pc[4] == pytest.approx(1 / 6) and pc.sum() == pytest.approx(1)
    assert total_variation(stats["pitch_class_histogram"], stats["pitch_class_histogram"]) == 0
    uniform = torch.full((12,), 1 / 12, dtype=torch.float64)
    assert total_variation(stats["pitch_class_histogram"], uniform) == pytest.approx(
        0.5 * np.abs(pc - 1 / 12).sum())


def test_compare_piano_roll_runs(tiny_pianoroll, tmp_path):
    spec = ["--data", f"rolls:{tiny_pianoroll.info.name.split(':', 1)[1]}"]
    for name in ("lstm-roll", "rnn-nade"):
        code, _, err = run_cli("train", name, *spec, "--steps", "3", "--batch-size", "4", "--set", "hidden_size=8",
                               "--set", "seq_len=8", "--out", tmp_path / name, "--progress", "false")
        assert code == 0, err
    code, out, err = run_cli("compare", tmp_path / "lstm-roll", tmp_path / "rnn-nade", "--out", tmp_path / "report",
                             "--num-samples", "4")
    assert code == 0, err
    report = json.loads((tmp_path / "report" / "results.json").read_text())
    assert report["kind"] == "pianoroll" and report["features"] is None
    test = roll_statistics(tiny_pianoroll.test.rolls)
    for row in report["runs"]:
        assert row["nll"] == pytest.approx(row["nll_nats"]) and row["nll"] > 0  # nats per time step
        assert 0 <= row["pitch_class_tv"] <= 1 and 0 <= row["empty_steps"] <= 1
        assert row["test_polyphony"] == pytest.approx(test["polyphony"])
        assert len(list((tmp_path / "report" / row["listen"]).glob("*.mid"))) == 4
    md = (tmp_path / "report" / "report.md").read_text()
    assert "test NLL (nats/step)" in md and "pitch-class TV" in md and "| training pieces | data |" in md
    code, out, err = run_cli("compare", tmp_path / "lstm-roll", "--out", tmp_path / "r2", "--features", tmp_path)
    assert_one_line_error(code, out, err, "without a feature network")


def test_eval_metrics_of_a_music_model(tiny_pianoroll, tmp_path):
    """`genlab eval --metrics all` of a piano-roll model: its statistics, no feature network needed."""
    spec = ["--data", f"rolls:{tiny_pianoroll.info.name.split(':', 1)[1]}"]
    code, _, err = run_cli("train", "lstm-roll", *spec, "--steps", "2", "--batch-size", "4", "--set", "hidden_size=8",
                           "--out", tmp_path / "run", "--progress", "false")
    assert code == 0, err
    code, out, err = run_cli("eval", tmp_path / "run", "--metrics", "all", "--num-samples", "3")
    assert code == 0, err
    assert "polyphony" in out and "pitch-class TV" in out and "nats per time step" in out


def test_compare_unconditional_video_runs(digits, tmp_path):
    """Video generation runs: the frame Fréchet distance with an image feature network (here the digits
    network judging 16x16 moving-digits frames), the frame change, a GIF and filmstrip per run."""
    from genlab.evaluation.video_quality import frame_change, frame_fid

    tiny = ["--set", "content_dim=6", "--set", "motion_dim=4", "--set", "generator_channels=[8,4]",
            "--set", "discriminator_channels=[4,8]", "--set", "frame_discriminator_channels=[4,8]"]
    for name in ("a", "b"):
        code, _, err = run_cli("train", "video-gan", "--data", "moving-digits", "--data-arg", "num_train=64",
                               "--data-arg", "num_test=40", "--steps", "2", "--batch-size", "4", *tiny,
                               "--seed", "1" if name == "a" else "2", "--out", tmp_path / name, "--progress", "false")
        assert code == 0, err
    net = train_feature_network(digits, steps=20, batch_size=32, seed=0, progress=False)
    save_feature_network(net, tmp_path / "features")
    code, out, err = run_cli("compare", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "report",
                             "--features", tmp_path / "features", "--num-samples", "6")
    assert code == 0, err
    report = json.loads((tmp_path / "report" / "results.json").read_text())
    assert report["kind"] == "video" and report["features"] == net.content_hash
    data = genlab.load_dataset("moving-digits", num_train=64, num_test=40)
    test = data.test.get(torch.arange(40))["x"]
    pick = torch.randperm(64, generator=torch.Generator().manual_seed(0))[:6]
    train = data.train.get(pick)["x"]
    floor = report["reference"]
    assert floor["run"] == "training clips" and floor["num_test"] == 40
    assert floor["frame_fid"] == pytest.approx(frame_fid(train, test, net), rel=1e-6)
    assert floor["frame_change"] == pytest.approx(frame_change(train)) and floor["test_frame_change"] > 0
    for row in report["runs"]:
        assert row["num_samples"] == 6 and row["frame_fid"] >= 0
        assert (tmp_path / "report" / row["grid"]).is_file() and (tmp_path / "report" / row["animation"]).is_file()
    assert "frame Fréchet distance" in (tmp_path / "report" / "report.md").read_text()
    code, out, err = run_cli("compare", tmp_path / "a", "--out", tmp_path / "r2")  # no features/moving-digits here
    assert_one_line_error(code, out, err, "--features")
    # the Python entry point takes the same feature folder (checked by the video scorer, as the CLI does)
    again = genlab.compare([tmp_path / "a", tmp_path / "b"], tmp_path / "r3", tmp_path / "features", num_samples=6,
                           progress=False)
    assert again["reference"]["frame_fid"] == pytest.approx(floor["frame_fid"], rel=1e-6)


def test_compare_super_resolution_runs_against_the_truth(tmp_path):
    """Models of an input image are scored against the truth (PSNR / SSIM on Y, L1), with no floor row
    and no feature network; mixing them with sample-judged runs is refused."""
    for name, width in (("a", 8), ("b", 4)):
        code, _, err = run_cli("train", "sr-cnn", "--data", "digits-sr", "--steps", "2", "--batch-size", "8",
                               "--set", f"width={width}", "--set", "blocks=1", "--out", tmp_path / name,
                               "--progress", "false")
        assert code == 0, err
    code, out, err = run_cli("compare", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "report",
                             "--num-samples", "10")
    assert code == 0, err
    report = json.loads((tmp_path / "report" / "results.json").read_text())
    assert report["scorer"] == "restoration" and report["reference"] is None and report["features"] is None
    for row in report["runs"]:
        assert row["num_examples"] == 10 and row["psnr"] > 0 and 0 <= row["l1"] <= 1
    md = (tmp_path / "report" / "report.md").read_text()
    assert "PSNR (dB)" in md and "Scored against the truth" in md
    code, out, err = run_cli("compare", tmp_path / "a", "--out", tmp_path / "r2", "--features", tmp_path)
    assert_one_line_error(code, out, err, "scored against the truth")
    again = genlab.compare([tmp_path / "a", tmp_path / "b"], tmp_path / "r3", None, num_samples=10, progress=False)
    assert again["scorer"] == "restoration"  # the Python entry point picks the truth scorer as the CLI does
    assert [r["psnr"] for r in again["runs"]] == pytest.approx([r["psnr"] for r in report["runs"]])


def test_compare_text_runs_by_their_likelihood(session_text_file, tmp_path):
    """Text runs are compared by their exact NLL per character on the validation split (text has no test
    split), each equal to genlab.evaluate's; the sample columns are empty and the notes say why."""
    for name in ("gpt", "lstm"):
        code, _, err = run_cli("train", name, "--data", f"text:{session_text_file}", "--steps", "2", "--set",
                               "block_size=8", "--batch-size", "4", "--out", tmp_path / name, "--progress", "false",
                               *(("--set", "n_layer=1", "--set", "n_embd=16", "--set", "n_head=2") if name == "gpt"
                                 else ("--set", "hidden_size=16", "--set", "embedding_dim=8")))
        assert code == 0, err
    code, out, err = run_cli("compare", tmp_path / "gpt", tmp_path / "lstm", "--out", tmp_path / "report",
                             "--sample-arg", "max_new_tokens=12")
    assert code == 0, err
    report = json.loads((tmp_path / "report" / "results.json").read_text())
    assert report["kind"] == "text" and report["columns"] == [] and report["reference"] is None
    for row, name in zip(report["runs"], ("gpt", "lstm")):
        model = genlab.load(tmp_path / name / "best")
        data = genlab.load_dataset(f"text:{session_text_file}")
        expected = genlab.evaluate(model, data, "val")["nll_nats"]
        assert row["nll"] == pytest.approx(expected, rel=1e-9) and row["likelihood"] == "exact"
        texts = (tmp_path / "report" / row["text"]).read_text()
        assert texts.strip()
    md = (tmp_path / "report" / "report.md").read_text()
    assert "held-out NLL (nats/char)" in md and "no sample-quality metrics for text" in md
    code, out, err = run_cli("compare", tmp_path / "gpt", tmp_path / "lstm", "--out", tmp_path / "again",
                             "--skip-likelihood", "--sample-arg", "max_new_tokens=12")
    assert code == 0, err

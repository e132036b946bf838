"""ConvLSTM: the cell, causality of the unroll, prediction from context frames, and the CLI route
(genlab eval's prediction metrics, genlab sample's context from test clips or a GIF)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genlab
from cli_helpers import assert_one_line_error, last_json, run_cli
from conftest import fast_train_config, tiny_overrides
from genlab.nn import ConvLSTMCell, ConvLSTMStack


def test_cell_and_stack_shapes():
    cell = ConvLSTMCell(3, 8, kernel=5)
    x = torch.randn(2, 3, 6, 7)
    h, c = cell(x)
    assert h.shape == c.shape == (2, 8, 6, 7)
    h2, c2 = cell(x, (h, c))
    assert h2.shape == (2, 8, 6, 7) and not torch.equal(h2, h)
    assert float(h2.detach().abs().max()) <= 1  # h = o * tanh(c)
    stack = ConvLSTMStack(3, [8, 4], kernel=3)
    out, states = stack.step(x)
    assert out.shape == (2, 12, 6, 7) and [s[0].shape[1] for s in states] == [8, 4]
    with pytest.raises(ValueError, match="odd"):
        ConvLSTMCell(3, 8, kernel=4)


def tiny(moving_digits, **overrides):
    torch.manual_seed(0)
    return genlab.create_model("convlstm", data=moving_digits, **{**tiny_overrides("convlstm"), **overrides})


def test_a_prediction_depends_on_no_later_frame(moving_digits):
    """The prediction of frame t + 1 has zero gradient with respect to frames t + 1, t + 2, ... and a
    non-zero one with respect to frame t (while frames are read from the input)."""
    model = tiny(moving_digits, hidden=[6, 6])
    frames = (moving_digits.test.get(torch.arange(2))["x"].float() / 255).requires_grad_(True)
    context = 5
    preds = model.unroll(frames, context, 10)
    assert preds.shape == (2, 9, 1, 16, 16)
    for k in range(9):
        (grad,) = torch.autograd.grad(preds[:, k].sum(), frames, retain_graph=True)
        per_frame = grad.abs().flatten(2).sum(2).sum(0)
        assert (per_frame[k + 1:] == 0).all(), (k, per_frame)
        assert per_frame[min(k, context - 1)] > 0, (k, per_frame)


def test_sample_keeps_the_context_and_is_deterministic(moving_digits):
    model = tiny(moving_digits).eval()
    clips = moving_digits.test.get(torch.arange(3))["x"]
    out = model.sample(3, condition=clips[:, :5], generator=torch.Generator().manual_seed(1))
    assert out.shape == (3, 10, 1, 16, 16) and out.dtype == torch.long
    assert torch.equal(out[:, :5], clips[:, :5].long())
    assert int(out.min()) >= 0 and int(out.max()) <= 255
    assert torch.equal(out, model.sample(3, condition=clips[:, :5], generator=torch.Generator().manual_seed(2)))
    shorter = model.sample(3, condition=clips[:, :2])  # another context length: still a whole clip
    assert shorter.shape == (3, 10, 1, 16, 16) and torch.equal(shorter[:, :2], clips[:, :2].long())
    one = model.sample(2, condition=clips[0, :5])  # one clip for every sample
    assert torch.equal(one[0], one[1])


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_training_lowers_the_prediction_error(moving_digits, loss):
    model = tiny(moving_digits, hidden=[16], loss=loss)
    batch = moving_digits.train.get(torch.arange(16))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    first = float(model.training_step(batch, 0).loss.detach())
    for step in range(25):
        out = model.training_step(batch, step)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert float(model.training_step(batch, 0).loss.detach()) < 0.7 * first
    assert "mse_per_frame" in out.metrics
    clips = model.eval().sample(2, condition=batch["x"][:2, :5])
    assert int(clips.min()) >= 0 and int(clips.max()) <= 255
    with pytest.raises(genlab.ConfigError, match="loss must be"):
        tiny(moving_digits, loss="l1")


@pytest.fixture
def video_run(tmp_path, moving_digits):
    model = tiny(moving_digits)
    trainer = genlab.Trainer(model, moving_digits, fast_train_config(steps=2, num_samples=4), out_dir=tmp_path / "run")
    trainer.fit()
    preview = trainer.write_samples()  # a filmstrip continuing the first validation clips
    assert preview.suffix == ".png" and preview.is_file()
    return tmp_path / "run"


def test_eval_reports_prediction_metrics(video_run):
    code, out, err = run_cli("eval", video_run, "--max-examples", 12, "--json")
    assert code == 0, err
    result = last_json(out)
    assert result["scorer"] == "prediction" and result["num_examples"] == 12 and result["split"] == "test"
    assert result["mse_per_frame"] > 0 and 0 < result["ssim"] <= 1 and result["predicted_frames"] == 5
    assert set(result["copy_last"]) == {"mse_per_frame", "mae_per_frame", "ssim"}
    code, out, err = run_cli("eval", video_run, "--max-examples", 4)
    assert code == 0, err
    assert "MSE per frame" in out and "copy last frame" in out
    assert_one_line_error(*run_cli("eval", video_run, "--metrics", "fid"), "drop --metrics")


def test_sample_continues_test_clips_or_a_gif(video_run, tmp_path):
    from PIL import Image

    code, out, err = run_cli("sample", video_run, "--num", 3, "--out", tmp_path / "clips.gif")
    assert code == 0, err
    assert (tmp_path / "clips.gif").is_file() and (tmp_path / "clips.png").is_file()
    frames = np.zeros((7, 16, 16), dtype=np.uint8)
    for t in range(7):
        frames[t, 4:8, 1 + t:5 + t] = 255  # a square moving right (equal frames would be merged in the GIF)
    pics = [Image.fromarray(f) for f in frames]
    pics[0].save(tmp_path / "mine.gif", save_all=True, append_images=pics[1:], duration=100)
    code, out, err = run_cli("sample", video_run, "--context", tmp_path / "mine.gif", "--out", tmp_path / "mine.png")
    assert code == 0, err
    assert "wrote 1 samples" in out
    context = genlab.load(video_run / "best").condition_spec.context
    if context < 7:  # a longer clip than the model continues: said, not cut silently
        assert f"using the first {context} of the 7 frames of 'mine.gif'" in err
    assert_one_line_error(*run_cli("sample", video_run, "--context", tmp_path / "none.gif"), "does not exist")
    code, out, err = run_cli("sample", video_run, "--num", 10, "--out", tmp_path / "ten.png")
    assert code == 0 and "wrote 10 samples" in out, err
    assert_one_line_error(*run_cli("sample", video_run / "best"), "--context CLIP")


def test_compare_scores_video_runs_with_the_prediction_metrics(video_run, tmp_path, moving_digits):
    other = tiny(moving_digits, hidden=[4, 4])
    genlab.Trainer(other, moving_digits, fast_train_config(steps=1), out_dir=tmp_path / "run2").fit()
    code, out, err = run_cli("compare", video_run, tmp_path / "run2", "--out", tmp_path / "report", "--num-samples", 8)
    assert code == 0, err
    report = (tmp_path / "report" / "report.md").read_text()
    assert "MSE per frame" in report and "copy the last context frame" in report and report.count("convlstm") >= 2
    results = last_json((tmp_path / "report" / "results.json").read_text().replace("\n", " "))
    assert [r["num_examples"] for r in results["runs"]] == [8, 8] and results["scorer"] == "prediction"
    assert (tmp_path / "report" / results["runs"][0]["grid"]).is_file()

"""Super-resolution as a task: whole or tiled enlargement, scoring test pairs, `genlab superres`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import genlab
from cli_helpers import assert_one_line_error, run_cli
from conftest import fast_train_config
from genlab.data.superres import SRPair
from genlab.evaluation.restoration import psnr, ssim
from genlab.tasks.superres import evaluate_pairs, receptive_radius, upscale


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory):
    """A small RGB x2 sr-cnn trained a few steps on patches of random pictures (its weights are not zero)."""
    folder = tmp_path_factory.mktemp("pics")
    rng = np.random.default_rng(0)
    for n in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / f"{n}.png")
    data = genlab.load_dataset(f"sr-patches:{folder}", scale=2, patch_size=16, patches_per_image=8)
    torch.manual_seed(0)
    model = genlab.create_model("sr-cnn", data=data, width=8, blocks=2)
    genlab.Trainer(model, data, fast_train_config(steps=5, lr=1e-2)).fit()
    return model.eval()


def picture(h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (3, h, w), dtype=np.uint8))


def test_tiles_with_enough_context_equal_the_whole_image(rgb_model):
    image = picture(37, 29)
    whole = upscale(rgb_model, image)
    assert whole.shape == (3, 74, 58)
    radius = receptive_radius(rgb_model)
    tiled = upscale(rgb_model, image, tile=8, overlap=radius)
    # the same convolutions over the same pixels: equal up to float rounding at a level boundary
    assert (tiled - whole).abs().max() <= 1 and (tiled == whole).float().mean() > 0.999
    blind = upscale(rgb_model, image, tile=8, overlap=0)  # no context: the tile borders show
    assert (blind != whole).float().mean() > 0.01


def test_a_too_large_image_is_refused_with_how_to_tile(rgb_model):
    with pytest.raises(genlab.ConfigError, match="enlarge it in tiles"):
        upscale(rgb_model, picture(30, 40), max_output_pixels=1000)
    assert upscale(rgb_model, picture(30, 40), tile=16, max_output_pixels=1000).shape == (3, 60, 80)
    with pytest.raises(genlab.DataError, match="1 channel"):
        upscale(rgb_model, picture(8, 8)[:1])


def test_evaluate_pairs_scores_the_enlargements(rgb_model):
    hr = picture(24, 20, seed=1)
    lr = picture(12, 10, seed=2)
    pair = SRPair("x", 2, lr, hr)
    result = evaluate_pairs(rgb_model, [pair, pair])
    out = upscale(rgb_model, lr).to(torch.uint8)
    assert result["psnr"] == pytest.approx(psnr(out, hr, 2))
    assert result["ssim"] == pytest.approx(ssim(out, hr, 2))
    assert len(result["images"]) == 2 and result["ms_per_megapixel"] > 0
    with pytest.raises(genlab.DataError, match="x3 pair"):
        evaluate_pairs(rgb_model, [SRPair("y", 3, lr, picture(36, 30))])


def test_the_task_refuses_a_model_that_does_not_enlarge(digits):
    vae = genlab.create_model("vae", data=digits, hidden=[8], latent_dim=2)
    with pytest.raises(genlab.ConfigError, match="not a super-resolution model"):
        upscale(vae, picture(4, 4)[:1])


# ---- genlab superres ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def files(rgb_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("superres")
    rgb_model.save_pretrained(root / "model")
    Image.fromarray(picture(21, 33).permute(1, 2, 0).numpy()).save(root / "photo.png")
    Image.fromarray(picture(10, 12).permute(1, 2, 0).numpy()).save(root / "small.jpg", quality=95)
    Image.fromarray(picture(10, 10)[0].numpy()).save(root / "grey.png")
    (root / "notes.png").write_text("not a picture")
    return root


def test_cli_enlarges_pictures_of_any_size(files, tmp_path):
    out = tmp_path / "big"
    code, stdout, err = run_cli("superres", files / "model", files / "photo.png", files / "small.jpg", "--out", out)
    assert code == 0, err
    with Image.open(out / "photo_x2.png") as im:
        assert im.size == (66, 42) and im.mode == "RGB"
    with Image.open(out / "small_x2.png") as im:
        assert im.size == (24, 20)
    # the file holds what the Python function gives
    with Image.open(files / "photo.png") as im:
        x = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)
    expected = upscale(genlab.load(files / "model"), x).to(torch.uint8).permute(1, 2, 0).numpy()
    with Image.open(out / "photo_x2.png") as im:
        assert np.array_equal(np.asarray(im), expected)
    code, stdout, err = run_cli("superres", files / "model", files / "photo.png", "--out", out, "--tile", "8")
    assert_one_line_error(code, stdout, err, "already exists")
    Image.fromarray(picture(1, 1).permute(1, 2, 0).numpy()).save(tmp_path / "dot.png")
    code, stdout, err = run_cli("superres", files / "model", tmp_path / "dot.png", "--out", out)
    assert code == 0 and "only 1x1 pixels" in err and "not detail recovered" in err, err


@pytest.mark.parametrize("args, needle", [
    (["grey.png"], "grey picture"),
    (["notes.png"], "notes.png"),
    (["missing.png"], "does not exist"),
    (["photo.png", "--tile", "0"], "--tile must be >= 1"),
    (["photo.png", "--sample-arg", "steps=5"], "does not take the sample argument"),
])
def test_cli_bad_input_is_one_line_and_writes_nothing(files, tmp_path, args, needle):
    out = tmp_path / "out"
    argv = [files / args[0] if not args[0].startswith("-") else args[0], *args[1:]]
    code, stdout, err = run_cli("superres", files / "model", *argv, "--out", out)
    assert_one_line_error(code, stdout, err, needle)
    assert not out.exists()


def test_cli_refuses_a_model_that_does_not_enlarge(files, digits, tmp_path):
    genlab.create_model("vae", data=digits, hidden=[8], latent_dim=2).save_pretrained(tmp_path / "vae")
    code, out, err = run_cli("superres", tmp_path / "vae", files / "photo.png", "--out", tmp_path / "o")
    assert_one_line_error(code, out, err, "not a super-resolution model")


# ---- genlab eval and genlab sample of a super-resolution run ---------------------------------------

@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("srrun") / "run"
    code, out, err = run_cli("train", "sr-cnn", "--data", "digits-sr", "--steps", "30", "--set", "width=8",
                             "--set", "blocks=1", "--batch-size", "32", "--out", run, "--progress", "false")
    assert code == 0, err
    return run


def test_eval_scores_a_run_against_the_truth(digits_run):
    import json

    code, out, err = run_cli("eval", digits_run, "--json")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    model = genlab.load(digits_run)
    test = genlab.load_dataset("digits-sr").test
    batch = test.get(torch.arange(len(test)))
    to255 = lambda t: ((t.long() * 255 + 8) // 16).to(torch.uint8)  # noqa: E731
    out_levels = model.sample(len(test), condition=batch["lowres"])
    expected = sum(psnr(to255(o), to255(t), 2) for o, t in zip(out_levels, batch["x"])) / len(test)
    assert result["psnr"] == pytest.approx(expected) and result["num_examples"] == 447 and result["border"] == 2
    assert result["ssim"] is None  # 8x8 digits are smaller than SSIM's window
    assert result["l1"] == pytest.approx(float((out_levels.float() - batch["x"].float()).abs().mean()) / 16)


def test_eval_and_sample_of_a_run_say_what_to_do(digits_run):
    code, out, err = run_cli("eval", digits_run, "--data", "digits-sr", "--data-arg", "scale=4")
    assert_one_line_error(code, out, err, "scale 2 vs 4", "--data-arg scale=2")
    code, out, err = run_cli("eval", digits_run, "--metrics", "fid")
    assert_one_line_error(code, out, err, "PSNR, SSIM")
    code, out, err = run_cli("sample", digits_run)
    assert_one_line_error(code, out, err, "genlab superres RUN IMAGE")

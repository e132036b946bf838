"""Translation with a trained pix2pix (genlab.tasks.translate) and `genlab translate-image`: a round trip on
a tiny trained run, and one-line errors that leave every file as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import genlab
from genlab.data.modalities.image import levels_to_uint8
from genlab.errors import ConfigError, DataError
from genlab.tasks.translate import translate_images, translation_models

from cli_helpers import assert_one_line_error, run_cli

TINY = ("--set", "width=8", "--set", "disc_width=8", "--set", "disc_layers=1", "--progress", "false",
        "--batch-size", "16", "--set", "num_samples=4")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A pix2pix run on digits-edges, an RGB pix2pix run on a tiny pairs:DIR and a VAE run, trained briefly."""
    root = tmp_path_factory.mktemp("translate")
    pairs = root / "pairs"
    for sub in ("A", "B"):
        (pairs / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(6):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(pairs / "A" / f"{k}.png")
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(pairs / "B" / f"{k}.png")
    out = {}
    for name, argv in {"edges": ("pix2pix", "--data", "digits-edges", *TINY),
                       "rgb": ("pix2pix", "--data", f"pairs:{pairs}", "--data-arg", "size=8", *TINY),
                       "vae": ("vae", "--data", "digits", "--set", "hidden=[16]", "--set", "latent_dim=2",
                               "--progress", "false", "--set", "num_samples=4", "--batch-size", "16")}.items():
        code, _, err = run_cli("train", *argv, "--steps", "3", "--out", root / name)
        assert code == 0, err
        out[name] = root / name
    return out


def save_grey(path, levels_image: torch.Tensor, levels: int, scale: int = 1):
    arr = (levels_image[0].numpy().astype(np.int64) * 255 // (levels - 1)).astype(np.uint8)
    Image.fromarray(np.kron(arr, np.ones((scale, scale), np.uint8))).save(path)
    return path


def test_translation_models_are_those_of_image_pairs():
    assert translation_models() == ["pix2pix"]


def test_translate_images_keeps_the_size_and_is_seeded(runs, digits_edges):
    model = genlab.load(runs["edges"] / "checkpoint").eval()
    sources = digits_edges.test.get(torch.arange(5))["source"]
    a = translate_images(model, sources, generator=torch.Generator().manual_seed(0))
    assert a.shape == (5, 1, 8, 8) and a.dtype == torch.long and int(a.max()) < 17
    assert torch.equal(a, translate_images(model, sources.long(), generator=torch.Generator().manual_seed(0)))
    assert translate_images(model, torch.zeros(1, 12, 20, dtype=torch.long)).shape == (1, 1, 12, 20)
    with pytest.raises(DataError, match="3 channel"):
        translate_images(model, torch.zeros(1, 3, 8, 8, dtype=torch.long))
    with pytest.raises(DataError, match="levels 0 .. 16"):
        translate_images(model, torch.full((1, 8, 8), 17))
    vae = genlab.load(runs["vae"] / "checkpoint")
    with pytest.raises(ConfigError, match="does not translate images; the models that do are: pix2pix"):
        translate_images(vae, sources)


def test_cli_round_trip_writes_pngs_of_the_right_size(runs, digits_edges, tmp_path):
    model = genlab.load(runs["edges"] / "checkpoint").eval()
    sources = digits_edges.test.get(torch.arange(2))["source"]
    small = save_grey(tmp_path / "edge0.png", sources[0], 17)
    big = save_grey(tmp_path / "edge1.png", sources[1], 17, scale=5)  # 40x40: resized to 8x8 by default
    colour = tmp_path / "colour.jpg"
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(colour)  # RGB for a grey model: converted
    code, out, err = run_cli("translate-image", runs["edges"], small, big, colour, "--out", tmp_path / "out")
    assert code == 0, err
    assert "translated 3 picture(s)" in out
    for name in ("edge0", "edge1", "colour"):
        with Image.open(tmp_path / "out" / f"{name}.png") as im:
            assert (im.size, im.mode) == ((8, 8), "L")
    # the file holds what translate_images gives for the same source and seed
    want = translate_images(model, sources[0], generator=torch.Generator().manual_seed(0))[0, 0]
    got = np.asarray(Image.open(tmp_path / "out" / "edge0.png")).astype(np.int64)
    assert np.array_equal(got, levels_to_uint8(want, 17).numpy())  # 17 levels to the nearest grey value
    code, _, err = run_cli("translate-image", runs["edges"], big, "--out", tmp_path / "kept", "--keep-size")
    assert code == 0, err
    assert Image.open(tmp_path / "kept" / "edge1.png").size == (40, 40)


def test_a_grey_picture_for_an_rgb_model_is_converted(runs, tmp_path):
    grey = tmp_path / "g.png"
    Image.fromarray(np.full((16, 16), 200, np.uint8)).save(grey)
    code, _, err = run_cli("translate-image", runs["rgb"], grey, "--out", tmp_path / "out")
    assert code == 0, err
    with Image.open(tmp_path / "out" / "g.png") as im:
        assert (im.size, im.mode) == ((8, 8), "RGB")


def test_existing_outputs_are_kept_unless_overwrite(runs, digits_edges, tmp_path):
    src = save_grey(tmp_path / "e.png", digits_edges.test.get(torch.arange(1))["source"][0], 17)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "e.png").write_bytes(b"mine")
    code, out, err = run_cli("translate-image", runs["edges"], src, "--out", tmp_path / "out")
    assert_one_line_error(code, out, err, "already exists", "--overwrite")
    assert (tmp_path / "out" / "e.png").read_bytes() == b"mine"
    code, _, err = run_cli("translate-image", runs["edges"], src, "--out", tmp_path / "out", "--overwrite")
    assert code == 0, err
    assert Image.open(tmp_path / "out" / "e.png").size == (8, 8)


def test_bad_input_is_one_line_and_changes_nothing(runs, tmp_path):
    ok = tmp_path / "ok.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(ok)
    (tmp_path / "notes.png").write_text("not a picture")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ok.png").write_bytes(ok.read_bytes())
    (tmp_path / "afile").write_text("x")
    cases = [
        ((runs["edges"], tmp_path / "notes.png", "--out", tmp_path / "o1"), ["not a readable image"]),
        ((runs["edges"], tmp_path / "missing.png", "--out", tmp_path / "o2"), ["does not exist"]),
        ((runs["vae"], ok, "--out", tmp_path / "o3"), ["model 'vae'", "does not translate images", "pix2pix"]),
        ((runs["edges"], ok, tmp_path / "sub" / "ok.png", "--out", tmp_path / "o4"), ["would both be written"]),
        ((runs["edges"], ok, "--out", tmp_path, "--overwrite"), ["is one of the input pictures"]),
        ((runs["edges"], ok, "--out", tmp_path / "afile"), ["is a file"]),
        ((tmp_path / "norun", ok, "--out", tmp_path / "o5"), []),
        ((runs["edges"], "--out", tmp_path / "o6"), []),  # no picture: argparse
    ]
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for argv, needles in cases:
        code, out, err = run_cli("translate-image", *argv)
        assert_one_line_error(code, out, err, *needles)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 7))

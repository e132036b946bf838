"""Inpainting with trained models (genlab.tasks): masks, the three methods, the known pixels kept exactly,
and `genlab inpaint`'s one-line errors."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch
from PIL import Image

import genlab
from genlab.app.cli import main
from genlab.errors import ConfigError, DataError
from genlab.models.diffusion import DDPM
from genlab.tasks import masks
from genlab.tasks.inpaint import inpaint, inpainting_models

from cli_helpers import assert_one_line_error, run_cli
from conftest import fast_train_config, tiny_overrides

INPAINTING = ("ddpm", "pixelcnn", "vae")
FAST = {"vae": {"steps": 20, "restarts": 2}}  # a few Adam steps are enough for the tests


@pytest.fixture(scope="module")
def trained(digits):
    """Tiny models of each inpainting family, trained for a few steps on digits."""
    models = {}
    for name in INPAINTING:
        torch.manual_seed(0)
        model = genlab.create_model(name, data=digits, **tiny_overrides(name))
        genlab.Trainer(model, digits, fast_train_config(steps=3)).fit()
        models[name] = model.eval()
    return models


def kinds_of_masks():
    return {"bottom": masks.bottom_half(8, 8), "right": masks.right_half(8, 8), "box": masks.box(8, 8, 2, 1, 3, 5),
            "strokes": masks.strokes(8, 8, seed=3)}


# ---- masks ----------------------------------------------------------------------------------------
def test_masks_mark_what_they_say():
    assert masks.bottom_half(8, 6)[4:].all() and not masks.bottom_half(8, 6)[:4].any()
    assert masks.right_half(6, 8)[:, 4:].all() and not masks.right_half(6, 8)[:, :4].any()
    b = masks.box(8, 8, x=1, y=2, w=3, h=4)
    assert b.sum() == 12 and b[2:6, 1:4].all()
    assert masks.center_box(8, 8).sum() == 16
    s = masks.strokes(16, 16, seed=1)
    assert s.dtype == torch.bool and 0 < s.sum() < 256
    assert torch.equal(s, masks.strokes(16, 16, seed=1)) and not torch.equal(s, masks.strokes(16, 16, seed=2))


def test_a_mask_picture_is_white_to_fill(tmp_path):
    pixels = np.zeros((16, 16), np.uint8)
    pixels[:, 8:] = 255  # the right half white
    Image.fromarray(pixels).save(tmp_path / "m.png")
    m = masks.read_mask(tmp_path / "m.png", 8, 8, size=(16, 16))
    assert torch.equal(m, masks.right_half(8, 8))
    with pytest.raises(DataError, match="image is 8x8"):
        masks.read_mask(tmp_path / "m.png", 8, 8, size=(8, 8))


# ---- every method keeps the known pixels exactly ----------------------------------------------------
@pytest.mark.parametrize("name", INPAINTING)
def test_known_pixels_never_change(trained, digits, name):
    model = trained[name]
    x = digits.test.images[:3].long()
    for kind, mask in kinds_of_masks().items():
        batch_mask = mask[None, None].expand(3, 1, 8, 8)
        gen = torch.Generator().manual_seed(0)
        direct = model.inpaint(x, batch_mask, generator=gen, **FAST.get(name, {}))  # the family's own method
        assert direct.shape == x.shape and direct.dtype == torch.long
        assert torch.equal(direct[:, :, ~mask], x[:, :, ~mask]), (name, kind)
        assert int(direct.min()) >= 0 and int(direct.max()) < digits.info.levels
        out = inpaint(model, x, mask, generator=torch.Generator().manual_seed(0), **FAST.get(name, {}))
        assert torch.equal(out, direct), (name, kind)  # the task adds nothing but checks
    per_image = torch.stack([m[None] for m in kinds_of_masks().values()][:3])  # [3, 1, 8, 8], one mask each
    out = model.inpaint(x, per_image, generator=torch.Generator().manual_seed(0), **FAST.get(name, {}))
    assert torch.equal(out[~per_image.expand_as(x)], x[~per_image.expand_as(x)]), name


def test_ddpm_with_resampling_keeps_known_pixels_and_its_schedule(trained, digits):
    assert DDPM.repaint_schedule(4) == [4, 3, 2, 1, 0]
    states = DDPM.repaint_schedule(10, resample=3, jump=2)
    assert states[0] == 10 and states[-1] == 0
    assert all(abs(a - b) == 1 for a, b in zip(states, states[1:]))
    downs = sum(b < a for a, b in zip(states, states[1:]))
    assert downs == 10 + 2 * 2 * 4  # each of the jump points 2, 4, 6, 8 goes back 2 steps twice
    x = digits.test.images[:2].long()
    mask = masks.strokes(8, 8, seed=0)
    out = inpaint(trained["ddpm"], x, mask, generator=torch.Generator().manual_seed(1), resample=2, jump=3)
    assert torch.equal(out[:, :, ~mask], x[:, :, ~mask])


def test_pixelcnn_ignores_known_pixels_after_the_last_unknown_one(trained, digits):
    """Raster order: the fill can only see known pixels before it (as its docstring says)."""
    x = digits.test.images[:2].long()
    mask = masks.box(8, 8, 2, 1, 3, 3)  # rows 1..3
    later = x.clone()
    later[:, :, 5:] = 16 - later[:, :, 5:]  # other known pixels below the box
    a = inpaint(trained["pixelcnn"], x, mask, generator=torch.Generator().manual_seed(0))
    b = inpaint(trained["pixelcnn"], later, mask, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a[:, :, mask], b[:, :, mask])
    earlier = x.clone()
    earlier[:, :, 0] = 16 - earlier[:, :, 0]  # the known row above it conditions the fill
    fills = [inpaint(trained["pixelcnn"], earlier, mask, temperature=0.0)[:, :, mask] for _ in range(2)]
    assert torch.equal(fills[0], fills[1])  # greedy is deterministic


def test_vae_fits_the_latent_without_touching_the_weights(trained, digits):
    model = trained["vae"]
    model.zero_grad(set_to_none=True)  # what training left
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = digits.test.images[:4].long()
    mask = masks.bottom_half(8, 8)
    out = inpaint(model, x, mask, generator=torch.Generator().manual_seed(0), steps=30, restarts=3, mode="sample")
    assert torch.equal(out[:, :, ~mask], x[:, :, ~mask])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert inpainting_models() == sorted(INPAINTING)


# ---- bad input --------------------------------------------------------------------------------------
def test_families_that_do_not_inpaint_say_which_do(digits, text_data):
    gpt = genlab.create_model("gpt", data=text_data, **tiny_overrides("gpt"))
    with pytest.raises(ConfigError, match="cannot inpaint; the models that inpaint are: ddpm, pixelcnn, vae"):
        inpaint(gpt, digits.test.images[:1], masks.bottom_half(8, 8))


def test_bad_masks_and_images_are_refused(trained, digits):
    model = trained["pixelcnn"]
    x = digits.test.images[:2]
    with pytest.raises(DataError, match="mask is 4x4 but the images are 8x8"):
        inpaint(model, x, torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ConfigError, match="the mask is empty"):
        inpaint(model, x, torch.zeros(8, 8, dtype=torch.bool))
    with pytest.raises(ConfigError, match="covers the whole image"):
        inpaint(model, x, torch.ones(8, 8, dtype=torch.bool))
    with pytest.raises(ConfigError, match="does not take the inpainting setting"):
        inpaint(model, x, masks.bottom_half(8, 8), steps=3)
    rgb = genlab.create_model("pixelcnn", image_shape=[3, 8, 8], channels=8, layers=1)
    with pytest.raises(DataError, match=r"1 channel\(s\) \(grey\) but the model takes 3 \(RGB\)"):
        inpaint(rgb, x, masks.bottom_half(8, 8))


# ---- the command ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(trained, digits, tmp_path_factory):
    root = tmp_path_factory.mktemp("inpaint")
    trained["pixelcnn"].save_pretrained(root / "pixelcnn")
    genlab.create_model("pixelcnn", image_shape=[3, 8, 8], channels=8, layers=1).save_pretrained(root / "rgb")
    grey = (digits.test.images[0, 0].numpy().astype(np.int64) * 255 // 16).astype(np.uint8)
    Image.fromarray(grey).resize((32, 32), Image.Resampling.NEAREST).save(root / "digit.png")
    mask = np.zeros((32, 32), np.uint8)
    mask[16:] = 255
    Image.fromarray(mask).save(root / "mask.png")
    Image.fromarray(mask[:8]).save(root / "short_mask.png")
    (root / "notes.png").write_text("not a picture")
    return root


def test_cli_writes_the_masked_input_mask_and_completions(files):
    out = files / "out"
    code, stdout, err = run_cli("inpaint", files / "pixelcnn", files / "digit.png", "--mask", files / "mask.png",
                                "--out", out, "--num", "3", "--inpaint-arg", "temperature=0.5")
    assert code == 0, err
    assert "inpainted 32 of 64 pixels" in stdout
    names = ["inpainted.png", "mask.png", "masked.png"]  # each with its provenance sidecar
    assert sorted(p.name for p in out.iterdir()) == sorted(names + [n + ".provenance.json" for n in names])
    shown = np.asarray(Image.open(out / "mask.png"))
    assert shown.max() == 255 and shown.min() == 0
    before = (out / "inpainted.png").read_bytes()
    assert_one_line_error(*run_cli("inpaint", files / "pixelcnn", files / "digit.png", "--mask-kind", "bottom",
                                   "--out", out), "already exists")
    assert (out / "inpainted.png").read_bytes() == before  # nothing overwritten
    code, _, err = run_cli("inpaint", files / "pixelcnn", files / "digit.png", "--box", "1,1,3,3",
                           "--out", files / "box")
    assert code == 0, err


@pytest.mark.parametrize("argv, needle", [
    (("pixelcnn", "digit.png", "--mask", "short_mask.png"), "is 32x8 but the image is 32x32"),
    (("pixelcnn", "notes.png", "--mask-kind", "bottom"), "is not a readable image"),
    (("pixelcnn", "digit.png", "--mask", "notes.png"), "is not a readable mask"),
    (("rgb", "digit.png", "--mask-kind", "right"), "grey picture but model 'pixelcnn' takes RGB"),
    (("pixelcnn", "digit.png", "--box", "0,0,8,8"), "covers the whole image"),
    (("pixelcnn", "digit.png", "--box", "6,0,4,4"), "does not fit"),
    (("pixelcnn", "digit.png", "--box", "1,2"), "x,y,w,h"),
    (("pixelcnn", "digit.png", "--mask-kind", "strokes", "--inpaint-arg", "resample=2"), "it takes: temperature"),
])
def test_cli_bad_input_is_one_line(files, argv, needle):
    run, image, *rest = argv
    rest = [str(files / r) if r.endswith(".png") else r for r in rest]
    out = files / f"bad-{abs(hash(argv))}"
    assert_one_line_error(*run_cli("inpaint", files / run, files / image, *rest, "--out", out), needle)
    assert not out.exists() or not any(out.iterdir())


def test_cli_needs_one_mask(files):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_info:
        main(["inpaint", str(files / "pixelcnn"), str(files / "digit.png"), "--out", str(files / "none")])
    assert exit_info.value.code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "one of the arguments --mask --box --mask-kind is required" in lines[0]

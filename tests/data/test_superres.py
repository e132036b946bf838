"""Super-resolution data: Set5/Set14/BSD100 test pairs (per image) and random training patches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import genlab
from genlab.data.superres import PairSplit, SRPair, bicubic_resize
from genlab.errors import DataError
from tests.cli_helpers import assert_one_line_error, run_cli


def _write_pairs(root, folder, scale, sizes, seed=0):
    """Fake SelfExSR files under root/sr/FOLDER/xSCALE: random HR images and their bicubic LR."""
    rng = np.random.default_rng(seed)
    path = root / "sr" / folder / f"x{scale}"
    path.mkdir(parents=True)
    for n, (h, w) in enumerate(sizes, 1):
        hr = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        hr.save(path / f"img_{n:03d}_SRF_{scale}_HR.png")
        hr.resize((w // scale, h // scale), Image.Resampling.BICUBIC).save(path / f"img_{n:03d}_SRF_{scale}_LR.png")
    return path


def test_test_pairs_are_per_image_and_keep_the_files(tmp_path):
    _write_pairs(tmp_path, "Set5", 3, [(30, 24), (18, 36)])
    data = genlab.load_dataset("set5", root=tmp_path, scale=3)
    split = data.test
    assert isinstance(split, PairSplit) and len(split) == 2 and data.train is None
    pairs = list(split)
    assert all(isinstance(p, SRPair) and p.scale == 3 for p in pairs)
    assert [p.name for p in pairs] == ["img_001_SRF_3", "img_002_SRF_3"]
    assert pairs[0].highres.shape == (3, 30, 24) and pairs[0].lowres.shape == (3, 10, 8)
    assert pairs[1].highres.shape == (3, 18, 36) and pairs[1].lowres.shape == (3, 6, 12)
    on_disk = np.array(Image.open(tmp_path / "sr/Set5/x3/img_002_SRF_3_LR.png"))
    assert torch.equal(split[1].lowres, torch.from_numpy(on_disk).permute(2, 0, 1))
    assert split[0].highres.dtype == torch.uint8
    with pytest.raises(DataError, match="differ in size.*one at a time"):
        split.get(torch.tensor([0, 1]))
    assert split.get(torch.tensor([1]))["lowres"].shape == (1, 3, 6, 12)
    with pytest.raises(DataError, match="no train split"):
        data.split("train")


def test_missing_folder_names_where_it_was_expected(tmp_path, no_data_env):
    with pytest.raises(DataError, match=r"expected .*sr/Set14/x2 .*--data-root or \$GENLAB_DATA"):
        genlab.load_dataset("set14", root=tmp_path, scale=2)
    with pytest.raises(DataError, match="bsd100 is distributed at scale 4, not 2"):
        genlab.load_dataset("bsd100", root=tmp_path, scale=2)
    code, out, err = run_cli("train", "vae", "--data", "set5", "--data-root", tmp_path, "--steps", "1",
                             "--out", tmp_path / "run")
    assert_one_line_error(code, out, err, "sr/Set5/x4")
    assert not (tmp_path / "run").exists()


def test_bicubic_resize_matches_pil_a_half_not_torch():
    img = torch.randint(0, 256, (3, 24, 20), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    small = bicubic_resize(img, (6, 5))
    pil = Image.fromarray(img.permute(1, 2, 0).numpy()).resize((5, 6), Image.Resampling.BICUBIC)
    assert torch.equal(small, torch.from_numpy(np.array(pil)).permute(2, 0, 1))
    up = bicubic_resize(small, (24, 20)).float()
    torch_up = torch.nn.functional.interpolate(small[None].float(), size=(24, 20), mode="bicubic",
                                               align_corners=False)[0].round().clamp(0, 255)
    assert not torch.equal(up, torch_up)  # a = -0.5 (MATLAB, PIL), not torch's a = -0.75


def test_patches_are_random_fixed_and_degraded(tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for n in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(folder / f"{n}.png")
    data = genlab.load_dataset(f"sr-patches:{folder}", scale=2, patch_size=16, patches_per_image=4, val_images=1,
                               augment=False)
    assert len(data.train) == 8 and len(data.val) == 4 and data.info.shape == (3, 16, 16)
    batch = data.train.get(torch.arange(8))
    assert batch["x"].shape == (8, 3, 16, 16) and batch["lowres"].shape == (8, 3, 8, 8)
    assert torch.equal(batch["x"], data.train.get(torch.arange(8))["x"])  # the same item, the same patch
    assert len({bytes(p.numpy()) for p in batch["x"][:4]}) > 1  # different places in one image
    image = data.train.images[0]
    for hr, lr in zip(batch["x"][:4], batch["lowres"][:4]):
        found = [(t, left) for t in range(40 - 15) for left in range(50 - 15)
                 if torch.equal(image[:, t:t + 16, left:left + 16], hr)]
        assert found, "a patch is a crop of its image"
        assert torch.equal(lr, bicubic_resize(hr, (8, 8)))
    # augmented: each patch is one of the 8 symmetries of a crop, its low-res version made after the turn
    turned = genlab.load_dataset(f"sr-patches:{folder}", scale=2, patch_size=16, patches_per_image=4, val_images=1)
    tb = turned.train.get(torch.arange(8))
    assert not torch.equal(tb["x"], batch["x"])
    for hr, lr in zip(tb["x"][:4], tb["lowres"][:4]):
        variants = [v for k in range(4) for v in (torch.rot90(hr, -k, dims=(1, 2)), torch.rot90(hr.flip(2), -k, dims=(1, 2)))]
        assert any(torch.equal(image[:, t:t + 16, x:x + 16], v) for v in variants
                   for t in range(40 - 15) for x in range(50 - 15)), "an augmented patch is a turned crop"
        assert torch.equal(lr, bicubic_resize(hr, (8, 8)))
    assert torch.equal(turned.val.get(torch.arange(4))["x"], data.val.get(torch.arange(4))["x"])  # val not turned
    with pytest.raises(DataError, match="multiple of scale 3"):
        genlab.load_dataset(f"sr-patches:{folder}", scale=3, patch_size=16)
    with pytest.raises(DataError, match="smaller than patch_size 48"):
        genlab.load_dataset(f"sr-patches:{folder}", scale=4, patch_size=48)


# ---- the real files (skipped without them; CI has them through GENLAB_DATA) -----------------------


@pytest.fixture(scope="module")
def sr_root(data_root):
    if not (data_root / "sr" / "Set5" / "x2").is_dir():
        pytest.skip(f"super-resolution data not under data root {data_root} (set GENLAB_DATA)")
    return data_root


@pytest.mark.parametrize("name,scale,count", [("set5", 2, 5), ("set14", 3, 14), ("bsd100", 4, 100)])
def test_real_test_sets(sr_root, name, scale, count):
    split = genlab.load_dataset(name, root=sr_root, scale=scale).test
    assert len(split) == count
    for pair in split:
        assert pair.highres.shape[0] == pair.lowres.shape[0] == 3
        assert pair.highres.shape[1:] == (pair.lowres.shape[1] * scale, pair.lowres.shape[2] * scale)


def test_bicubic_degradation_reproduces_the_distributed_lr_files(sr_root):
    for pair in genlab.load_dataset("set5", root=sr_root, scale=4).test:
        ours = bicubic_resize(pair.highres, tuple(pair.lowres.shape[1:]))
        diff = (ours.float() - pair.lowres.float()).abs()
        assert diff.mean() < 0.5 and diff[:, 4:-4, 4:-4].max() <= 2, pair.name


# ---- paired data sets and the superres modality ---------------------------------------------------

def test_digits_sr_pairs_each_image_with_its_bicubic_downscale():
    data = genlab.load_dataset("digits-sr", scale=2)
    assert data.info.kind == "superres" and data.info.scale == 2 and data.info.shape == (1, 8, 8)
    batch = data.train.get(torch.arange(5))
    assert batch["x"].shape == (5, 1, 8, 8) and batch["lowres"].shape == (5, 1, 4, 4) and batch["y"].shape == (5,)
    plain = genlab.load_dataset("digits")
    assert torch.equal(batch["x"], plain.train.images[:5])
    for hr, lr in zip(batch["x"], batch["lowres"]):
        grey = ((hr.long() * 255 + 8) // 16).to(torch.uint8)  # 17 levels -> 0..255, rounded
        small = bicubic_resize(grey, (4, 4)).long()
        assert torch.equal(lr.long(), (small * 16 + 127) // 255)  # back to 17 levels
    with pytest.raises(DataError, match="cannot be shrunk exactly by 3"):
        genlab.load_dataset("digits-sr", scale=3)


def test_the_superres_modality_previews_from_the_data_and_records_the_scale():
    data = genlab.load_dataset("digits-sr", scale=2)
    modality = data.info.modality
    n, kwargs = modality.preview(64, split=data.val)
    assert n == 16 and torch.equal(kwargs["condition"], data.val.get(torch.arange(16))["lowres"])
    assert modality.model_fields(data.info)["scale"] == 2
    saved = data.info.to_dict()
    assert saved["scale"] == 2 and genlab.data.DataInfo.from_dict(saved) == data.info
    assert "scale" not in genlab.load_dataset("digits").info.to_dict()  # other data's config.json is unchanged
    with pytest.raises(DataError, match="needs a scale"):
        modality.check_info(genlab.data.DataInfo("x", "superres", (1, 8, 8), 17))


def test_a_super_resolution_run_writes_previews_from_validation_inputs(tmp_path):
    data = genlab.load_dataset("digits-sr", scale=2)
    model = genlab.create_model("sr-cnn", data=data, width=8, blocks=1)
    config = genlab.TrainConfig(steps=2, batch_size=8, progress=False, eval_every=0, checkpoint_every=0,
                                num_samples=4, device="cpu")
    genlab.Trainer(model, data, config, out_dir=tmp_path / "run").fit()
    with Image.open(tmp_path / "run" / "samples" / "step-000002.png") as im:
        assert im.size[0] > 8

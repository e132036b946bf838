"""The low-resolution image condition (super-resolution): reading, checking, no default."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genlab
from genlab.data.conditions import LowResImage
from genlab.errors import ConfigError

CPU = torch.device("cpu")


def test_reads_the_lowres_field_of_super_resolution_batches(tmp_path):
    from PIL import Image

    folder = tmp_path / "pics"
    folder.mkdir()
    for n in range(2):
        Image.fromarray(np.full((20, 20, 3), 40 * n, dtype=np.uint8)).save(folder / f"{n}.png")
    data = genlab.load_dataset(f"sr-patches:{folder}", scale=2, patch_size=8, patches_per_image=2)
    spec = LowResImage(3, size=(4, 4))
    batch = data.train.get(torch.arange(2))
    assert torch.equal(spec.from_batch(batch), batch["lowres"])
    assert torch.equal(spec.validate(batch["lowres"], 2, CPU), batch["lowres"])
    with pytest.raises(ConfigError, match="no 'lowres' field"):
        spec.from_batch({"x": batch["x"]})


def test_validate_shapes_dtypes_and_one_image_for_all():
    spec = LowResImage(3)
    one = torch.rand(3, 5, 7)
    out = spec.validate(one, 4, CPU)
    assert out.shape == (4, 3, 5, 7) and torch.equal(out[3], one) and out.dtype == torch.float32
    u8 = np.zeros((2, 3, 6, 6), dtype=np.uint8)
    assert spec.validate(u8, 2, CPU).dtype == torch.uint8


@pytest.mark.parametrize("condition,needle", [
    (torch.rand(2, 1, 4, 4), r"1 channel\(s\) but the model takes 3"),
    (torch.rand(2, 3, 5, 4), "5x4 .* the model takes 4x4"),
    (torch.rand(3, 3, 4, 4), "3 images for 2 samples"),
    (torch.rand(4, 4), r"shape \[4, 4\]"),
    (torch.ones(2, 3, 4, 4, dtype=torch.long), "uint8 .* or floating point"),
    (torch.full((2, 3, 4, 4), float("nan")), "NaN"),
    ("picture.png", "as a tensor"),
])
def test_bad_conditions_are_one_line_errors(condition, needle):
    with pytest.raises(ConfigError, match=needle) as e:
        LowResImage(3, size=(4, 4)).validate(condition, 2, CPU)
    assert "\n" not in str(e.value)


def test_no_default_and_bad_specs():
    with pytest.raises(ConfigError, match="sampling needs one"):
        LowResImage(3).default(4, CPU)
    with pytest.raises(ConfigError, match="pass one"):
        LowResImage(1).validate(None, 4, CPU)
    with pytest.raises(ConfigError, match="1 \\(grey\\) or 3"):
        LowResImage(2)
    assert LowResImage(3, (8, 8)).kind == "image" and "8x8" in LowResImage(3, (8, 8)).describe()

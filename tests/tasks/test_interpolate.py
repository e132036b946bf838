"""Latent interpolation between two pictures: the library, the command and the server."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import genlab
from cli_helpers import assert_one_line_error, run_cli
from genlab import provenance
from genlab.tasks.interpolate import interpolate


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("interp") / "vae"
    code, _, err = run_cli("train", "vae", "--steps", "3", "--set", "hidden=[16]", "--set", "latent_dim=3",
                           "--out", run, "--progress", "false")
    assert code == 0, err
    return run


def test_the_ends_are_the_reconstructions_and_the_middle_decodes_the_midpoint(vae_run, digits):
    model = genlab.load(vae_run / "best")
    a, b = digits.test.images[0], digits.test.images[1]
    frames = interpolate(model, a, b, steps=5)
    assert frames.shape == (5, *a.shape)
    torch.testing.assert_close(frames[0], model.reconstruct(a[None])[0].long(), rtol=0, atol=0)
    torch.testing.assert_close(frames[-1], model.reconstruct(b[None])[0].long(), rtol=0, atol=0)
    with torch.no_grad():  # the middle of five: the decoder's mean at the midpoint of the posterior means
        (ma, _), (mb, _) = model.encode(a[None]), model.encode(b[None])
        middle = model.decode((ma + mb) / 2, mode="mean")[0]
    torch.testing.assert_close(frames[2], middle.long(), rtol=0, atol=0)
    with pytest.raises(genlab.ConfigError, match="steps must be"):
        interpolate(model, a, b, steps=1)


def write_digit(path, image):
    Image.fromarray(np.round(image[0].numpy() * 255 / 16).astype(np.uint8)).save(path)
    return path


def test_cli_writes_the_row_and_refuses_what_it_cannot_do(vae_run, digits, tmp_path):
    a = write_digit(tmp_path / "a.png", digits.test.images[0])
    b = write_digit(tmp_path / "b.png", digits.test.images[1])
    code, out, err = run_cli("interpolate", vae_run, a, b, "--steps", "6", "--out", tmp_path / "walk")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "walk").iterdir() if not p.name.endswith(".provenance.json"))
    assert names == ["grid.png"] + [f"step-{i:02d}.png" for i in range(6)]
    with Image.open(tmp_path / "walk" / "step-00.png") as im:
        assert im.size == (8, 8)
    with Image.open(tmp_path / "walk" / "grid.png") as im:
        assert im.size == (6 * 65 + 1, 65 + 1)  # one row from a to b
    assert provenance.read(tmp_path / "walk" / "grid.png").record["sampling"]["steps"] == 6
    assert_one_line_error(*run_cli("interpolate", vae_run, a, b, "--out", tmp_path / "walk"), "already exists")
    gpt = tmp_path / "gpt"
    text = tmp_path / "t.txt"
    text.write_text("abcabc " * 80)
    code, _, err = run_cli("train", "gpt", "--data", f"text:{text}", "--steps", "1", "--set", "n_layer=1",
                           "--set", "n_embd=8", "--set", "n_head=1", "--set", "block_size=8", "--out", gpt,
                           "--progress", "false")
    assert code == 0, err
    assert_one_line_error(*run_cli("interpolate", gpt, a, b, "--out", tmp_path / "w2"), "no encoder", "vae")
    assert not (tmp_path / "w2").exists()


def test_the_server_interpolates_two_uploads(vae_run, digits):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from genlab.app.server import create_app

    client = TestClient(create_app([vae_run]), base_url="http://localhost")
    pictures = []
    for i in (0, 1):
        buffer = io.BytesIO()
        Image.fromarray(np.round(digits.test.images[i][0].numpy() * 255 / 16).astype(np.uint8)).save(buffer, "PNG")
        pictures.append(buffer.getvalue())
    r = client.post("/api/models/vae/interpolate", files={"a": ("a.png", pictures[0], "image/png"),
                                                          "b": ("b.png", pictures[1], "image/png")}, data={"steps": "4"})
    assert r.status_code == 200, r.text
    names = sorted(f["name"] for f in r.json()["files"])
    assert names == ["interpolation/grid.png"] + [f"interpolation/step-{i:02d}.png" for i in range(4)]
    assert r.json()["provenance"]["source"] == "a.png -> b.png"
    assert "interpolate" in client.get("/api/models/vae").json()["tasks"]

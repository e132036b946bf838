"""Shared fixtures: tiny models, the built-in digits, a small text file and the real data root."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

import genlab
from genlab.data.download import REMOTE

# The models here are tiny: one thread is as fast as two, and it keeps the suite fast when other
# processes share the CPU (two spinning OpenMP threads on a busy 2-core machine run ~100x slower).
torch.set_num_threads(1)

# Tiny config overrides per registered model, so every contract test runs in well under a second.
# A model registered later without an entry here is still tested, with its default config.
TINY_OVERRIDES: dict[str, dict] = {
    "vae": dict(hidden=[32], latent_dim=4, iw_samples=5),
    "gpt": dict(n_layer=1, n_head=2, n_embd=32, block_size=16),
}
# Each further model may add tests/fixtures/tiny/<name>.json with its tiny config for the contract tests.
for _path in sorted((Path(__file__).parent / "fixtures" / "tiny").glob("*.json")):
    TINY_OVERRIDES[_path.stem] = json.loads(_path.read_text())

# Enough characters for a 90/10 split whose validation part still holds a few 17-token windows.
TEXT = (
    "the quick brown fox jumps over the lazy dog.\n"
    "a bad cab faced a dead bee; abcabc abba baba.\n"
    "pack my box with five dozen liquor jugs!\n"
) * 12


def tiny_overrides(name: str) -> dict:
    return dict(TINY_OVERRIDES.get(name, {}))


def fast_train_config(**overrides) -> genlab.TrainConfig:
    """A TrainConfig for in-process tests: no progress bar, no periodic work unless asked."""
    base = dict(steps=2, batch_size=16, progress=False, eval_every=0, checkpoint_every=0, log_every=1,
                num_samples=4, device="cpu")
    base.update(overrides)
    return genlab.TrainConfig().replace(**base)


@pytest.fixture(scope="session", autouse=True)
def _registry_in_tmp(tmp_path_factory):
    """Commands that record samples write the registry under the tests' temporary folder, never ./runs."""
    old = os.environ.get("GENLAB_REGISTRY")
    os.environ["GENLAB_REGISTRY"] = str(tmp_path_factory.mktemp("registry") / "registry.sqlite3")
    yield
    if old is None:
        os.environ.pop("GENLAB_REGISTRY", None)
    else:
        os.environ["GENLAB_REGISTRY"] = old


@pytest.fixture(autouse=True)
def _deterministic_torch():
    """Each test starts from the same global RNG state, whatever ran before it."""
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def digits() -> genlab.DataSet:
    return genlab.load_dataset("digits")


@pytest.fixture
def text_file(tmp_path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def session_text_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "tiny.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def text_data(session_text_file) -> genlab.DataSet:
    return genlab.load_dataset(f"text:{session_text_file}")


@pytest.fixture(scope="session")
def digits_sr() -> genlab.DataSet:
    return genlab.load_dataset("digits-sr", scale=2)


@pytest.fixture(scope="session")
def digits_edges() -> genlab.DataSet:
    return genlab.load_dataset("digits-edges")


@pytest.fixture(scope="session")
def tones() -> genlab.DataSet:
    """200 seeded sine tones of 64 samples in 10 classes (audio; no files needed)."""
    return genlab.load_dataset("synthetic-tones")  # the defaults: a resume reloads the data by name


def tiny_rolls(n: int, seed: int) -> list[torch.Tensor]:
    """``n`` small random piano rolls ``[T, 88]`` (6..20 steps of 3-4 note chords around middle C)."""
    g = torch.Generator().manual_seed(seed)
    rolls = []
    for _ in range(n):
        t = int(torch.randint(6, 21, (1,), generator=g))
        roll = torch.zeros(t, 88, dtype=torch.uint8)
        for step in range(t):
            roll[step, 30 + torch.randperm(24, generator=g)[: 3 + step % 2]] = 1
        rolls.append(roll)
    return rolls


@pytest.fixture(scope="session")
def tiny_pianoroll(tmp_path_factory) -> genlab.DataSet:
    """A JSON file of random piano rolls in the JSB Chorales format, read as ``rolls:PATH``."""
    def pitches(rolls):
        return [[[21 + int(k) for k in step.nonzero()] for step in roll] for roll in rolls]

    path = tmp_path_factory.mktemp("rolls") / "tiny-rolls.json"
    path.write_text(json.dumps({"train": pitches(tiny_rolls(12, 0)), "valid": pitches(tiny_rolls(4, 1)),
                                "test": pitches(tiny_rolls(8, 2))}), encoding="utf-8")
    return genlab.load_dataset(f"rolls:{path}")


@pytest.fixture(scope="session")
def moving_digits() -> genlab.DataSet:
    """Two 8x8 digits bouncing in 16x16 frames, 10 frames (5 context); built in, generated per clip."""
    return genlab.load_dataset("moving-digits")  # the defaults: a resume reloads the data by name


@pytest.fixture
def data_for_kind(digits, text_data, digits_sr, digits_edges, tones, tiny_pianoroll, moving_digits):
    """The small data set used for a data kind: digits for images, the tiny text for text, digits
    paired with their 4x4 downscales for super-resolution, digits paired with their edge maps for
    image-to-image translation, sine tones for audio, a few random piano rolls for piano rolls,
    moving digits for video."""
    return {"image": digits, "text": text_data, "superres": digits_sr, "image-pair": digits_edges,
            "audio": tones, "pianoroll": tiny_pianoroll, "video": moving_digits}.__getitem__


def model_condition(model, data, n: int):
    """What a model needs to sample ``n`` examples: None, or its input images (super-resolution,
    translation) or context frames (video prediction) from the data's held-out split."""
    spec = model.condition_spec
    if spec is None or spec.kind not in ("image", "frames"):
        return None
    split = data.test if data.test is not None else data.val
    return spec.from_batch(split.get(torch.arange(n)))


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real data root: $GENLAB_DATA (CI sets it), else ./data, as genlab itself resolves it."""
    return genlab.data.default_data_root()


def _require(root: Path, name: str) -> Path:
    remote = REMOTE[name]
    missing = [f.name for f in remote.files if not (root / remote.folder / f.name).is_file()]
    if missing:
        pytest.skip(f"{name} files {missing} not under data root {root} (set GENLAB_DATA)")
    return root


@pytest.fixture(scope="session")
def mnist_root(data_root) -> Path:
    return _require(data_root, "mnist")


@pytest.fixture(scope="session")
def shakespeare_root(data_root) -> Path:
    return _require(data_root, "tinyshakespeare")


@pytest.fixture
def no_data_env(monkeypatch):
    """Tests that build their own data roots must not see $GENLAB_DATA or $GENLAB_MIRROR."""
    monkeypatch.delenv("GENLAB_DATA", raising=False)
    monkeypatch.delenv("GENLAB_MIRROR", raising=False)


def state_dicts_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> list[str]:
    """Names of tensors that differ (bitwise) between two state dicts; [] when identical."""
    assert set(a) == set(b), f"different keys: {set(a) ^ set(b)}"
    return [k for k in a if not (a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and torch.equal(a[k], b[k]))]


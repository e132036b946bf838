"""``genlab demo`` and ``genlab bench``, shortened: they run end to end and leave usable runs."""

from __future__ import annotations

import genlab
from genlab.app.cli import main


def test_demo_writes_its_pictures_and_a_loadable_model(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--steps", "4"]) == 0
    printed = capsys.readouterr().out
    assert "test NLL:" in printed and "nats per image" in printed
    for name in ("samples.png", "reconstructions.png", "training_curve.png", "metrics.jsonl", "run.json"):
        assert (out / name).is_file(), name
    assert genlab.io.read_config(out / "checkpoint")["step"] == 4
    assert genlab.load(out / "best").name == "vae"

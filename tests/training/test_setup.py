"""Run set-up as library functions (what `genlab train` calls): a new run, a resume, a fine-tune."""

from __future__ import annotations

import json

import pytest

import genlab
from genlab.errors import ConfigError
from genlab.training.setup import finetune_run, new_run, resume_run


def test_new_resume_and_finetune_from_python(tmp_path):
    trainer, line = new_run("vae", {"hidden": [8], "progress": False, "checkpoint_every": 2}, steps=2,
                            out=tmp_path / "run", default_precision="fp32")
    assert line.startswith("training vae (") and line.endswith(f"-> {tmp_path / 'run'}")
    assert not (tmp_path / "run").exists()  # nothing is written before fit
    trainer.fit()
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["model"] == "vae" and run["data"]["name"] == "digits" and run["train"]["precision"] == "fp32"
    again, line = resume_run(tmp_path / "run", {"progress": False}, steps=4)
    assert again.step == 2 and again.total_steps == 4 and line.startswith("resuming")
    with pytest.raises(ConfigError, match="not the data"):
        resume_run(tmp_path / "run", {}, data="mnist")
    tuned, line = finetune_run(tmp_path / "run", {"progress": False}, steps=1, out=tmp_path / "tuned")
    assert line.startswith("fine-tuning vae") and tuned.init_from["path"].endswith("best")
    with pytest.raises(ConfigError, match="unknown"):
        new_run("vae", {"hiden": [8]})  # a misspelt setting names the valid keys
    assert genlab.TrainConfig().precision == "fp32"  # the library default; the CLI passes auto

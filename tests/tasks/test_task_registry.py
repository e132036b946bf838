"""Tasks as registered objects, and the one lookup helper behind every named table."""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab.errors import ConfigError
from genlab.lookup import Lookup
from genlab.tasks import Task, get_task, list_tasks, model_input_task, tasks_for
from genlab.tasks import base as task_base
from conftest import tiny_overrides

from cli_helpers import run_cli


def make(name, data):
    torch.manual_seed(0)
    return genlab.create_model(name, data=data, **tiny_overrides(name))


def test_each_model_does_the_tasks_its_family_and_data_allow(digits, digits_sr, digits_edges, text_data):
    assert list(list_tasks()) == ["inpaint", "interpolate", "superres", "translate"]
    assert [t.name for t in tasks_for(make("vae", digits))] == ["inpaint", "interpolate"]
    assert [t.name for t in tasks_for(make("ddpm", digits))] == ["inpaint"]
    assert [t.name for t in tasks_for(make("sr-cnn", digits_sr))] == ["superres"]
    assert [t.name for t in tasks_for(make("pix2pix", digits_edges))] == ["translate"]
    assert tasks_for(make("gpt", text_data)) == [] and model_input_task(make("gpt", text_data)) is None
    assert model_input_task(make("sr-cnn", digits_sr)) is get_task("superres")
    assert get_task("superres").run is genlab.tasks.superres.upscale


def test_an_unknown_task_names_the_closest(tmp_path):
    with pytest.raises(ConfigError, match="unknown task 'supres'. Did you mean 'superres'"):
        get_task("supres")


def test_lookup_refuses_a_second_value_under_one_name():
    table = Lookup("thing")
    table.add("a", 1)
    table.add("a", 1)  # the same value again (a module imported twice) is fine
    with pytest.raises(ValueError, match="thing name 'a' is registered twice"):
        table.add("a", 2)
    assert table.names() == ["a"] and "a" in table and table["a"] == 1


def test_a_new_task_is_one_registration(monkeypatch, digits, tmp_path):
    """A task registered by a module of its own is listed for the models it supports, by the CLI and the
    server alike, with no other change."""
    table = Lookup("task")
    for name in list_tasks():
        table.add(name, get_task(name))
    monkeypatch.setattr(task_base, "_TASKS", table)
    task_base.register_task(Task(name="denoise", summary="remove noise from a picture", command="genlab denoise RUN",
                                 supports=lambda model: model.name == "vae", run=lambda model, image: image))
    code, out, err = run_cli("list")
    assert code == 0 and "denoise" in out and "genlab denoise RUN" in out
    pytest.importorskip("fastapi")
    from genlab.app.server import describe
    from genlab.app.server.served import Served

    model = make("vae", digits)
    folder = genlab.save_pretrained(model, tmp_path / "vae")
    tasks = describe(Served("vae", folder, model, folder))["tasks"]
    assert tasks == ["generate", "inpaint", "interpolate", "denoise", "evaluate"]

"""Experiment tracking: what TensorBoard and MLflow receive, read back with their own readers."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import pytest
import torch
from conftest import fast_train_config, tiny_overrides

import genlab
from genlab.cli import main
from genlab.training import distributed
from genlab.training.loggers import JsonlLogger, scalars

VAE = tiny_overrides("vae")


def run_cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def jsonl_series(run, key: str) -> list[tuple[int, float]]:
    """``[(step, value)]`` of ``split/metric`` from metrics.jsonl, in the order logged."""
    split, metric = key.split("/", 1)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r[metric]) for r in rows if r["split"] == split and metric in r]


def tensorboard_events(run):
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = ea.EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def tb_series(acc, key: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in acc.Scalars(key)]


def mlflow_client(run):
    """A client of the store the run logged to (its own mlflow.db unless it was given a URI), and the run id."""
    tracking = pytest.importorskip("mlflow.tracking")
    record = json.loads((run / "mlflow_run.json").read_text())
    uri = record["uri"] or f"sqlite:///{(run / 'mlflow.db').resolve()}"
    return tracking.MlflowClient(tracking_uri=uri), record["run_id"]


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    """One SQLite store for the Python tests (a user-given URI): creating a store takes seconds."""
    tracking = pytest.importorskip("mlflow.tracking")
    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'shared.db'}"
    tracking.MlflowClient(tracking_uri=uri).search_experiments()  # creates the tables
    return uri


def mlflow_series(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def assert_float32_equal(tb: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    """TensorBoard stores scalars as float32: same steps, values equal after rounding to float32."""
    assert [s for s, _ in tb] == [s for s, _ in expected]
    assert [v for _, v in tb] == [float(torch.tensor(v, dtype=torch.float32)) for _, v in expected]


# ---- the command line: both back-ends, read back --------------------------------------------------
@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    pytest.importorskip("mlflow")
    pytest.importorskip("tensorboard")
    run = tmp_path_factory.mktemp("track") / "vae"
    code, out, err = run_cli("train", "vae", "--steps", "6", "--out", run, "--track", "tensorboard, mlflow",
                             "--batch-size", "16", "--device", "cpu", "--set", "hidden=[32]", "--set", "latent_dim=4",
                             "--set", "log_every=2", "--set", "eval_every=3", "--set", "sample_every=3",
                             "--set", "num_samples=4", "--set", "progress=false")
    assert code == 0, err
    return run


def test_cli_tensorboard_matches_metrics_jsonl(cli_run):
    acc = tensorboard_events(cli_run)
    for key in ("train/loss", "train/lr", "val/loss"):
        assert_float32_equal(tb_series(acc, key), jsonl_series(cli_run, key))
    assert [s for s, _ in jsonl_series(cli_run, "train/loss")] == [2, 4, 6]
    # the sample grids, at the steps they were written, with the PNG's own size
    from PIL import Image

    images = acc.Images("samples")
    assert [e.step for e in images] == [3, 6]
    png = Image.open(cli_run / "samples" / "step-000006.png")
    assert (images[-1].width, images[-1].height) == png.size


def test_cli_mlflow_matches_metrics_jsonl(cli_run):
    client, run_id = mlflow_client(cli_run)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "vae"
    for key in ("train/loss", "train/items_per_s", "val/loss"):
        assert mlflow_series(client, run_id, key) == jsonl_series(cli_run, key)  # float64: exactly
    params = run.data.params
    assert params["model"] == "vae" and params["data"] == "digits"
    assert params["train.steps"] == "6" and params["train.track"] == '["tensorboard", "mlflow"]'
    assert params["model.latent_dim"] == "4" and params["model.hidden"] == "[32]"
    samples = [f.path for f in client.list_artifacts(run_id, "samples")]
    assert samples == ["samples/step-000003.png", "samples/step-000006.png"]
    assert sorted(f.path for f in client.list_artifacts(run_id, "best")) == ["best/config.json", "best/model.safetensors"]


def test_mlflow_model_artifact_loads_as_the_best_model(cli_run, tmp_path):
    client, run_id = mlflow_client(cli_run)
    folder = client.download_artifacts(run_id, "best", str(tmp_path))
    logged, best = genlab.load(folder), genlab.load(cli_run / "best")
    assert all(torch.equal(a, b) for a, b in zip(logged.state_dict().values(), best.state_dict().values()))


def test_run_json_records_the_back_ends(cli_run):
    run = json.loads((cli_run / "run.json").read_text())
    assert run["train"]["track"] == ["tensorboard", "mlflow"] and run["train"]["mlflow_uri"] == ""


# ---- Python ---------------------------------------------------------------------------------------
def train(tmp_path, digits, name="run", **train_over):
    torch.manual_seed(0)
    model = genlab.create_model("vae", data=digits, **VAE)
    trainer = genlab.Trainer(model, digits, fast_train_config(**train_over), out_dir=tmp_path / name)
    return trainer, trainer.fit()


def test_python_tensorboard_only(tmp_path, digits):
    pytest.importorskip("tensorboard")
    trainer, _ = train(tmp_path, digits, steps=4, eval_every=2, track=["tensorboard"])
    run = trainer.out_dir
    assert not (run / "mlflow.db").exists() and not (run / "mlflow_run.json").exists()
    acc = tensorboard_events(run)
    expected = [(r["step"], r["loss"]) for r in trainer.history if r["split"] == "val"]
    assert len(expected) == 2
    assert_float32_equal(tb_series(acc, "val/loss"), expected)
    assert_float32_equal(tb_series(acc, "train/loss"), jsonl_series(run, "train/loss"))
    # the settings, as a JSON code block in the text plugin
    text = acc.Tensors("params/text_summary")[0].tensor_proto.string_val[0].decode()
    params = json.loads(text.strip().strip("`"))
    assert params["train.steps"] == 4 and params["model.latent_dim"] == VAE["latent_dim"]


def test_mlflow_honours_mlflow_tracking_uri(tmp_path, digits, monkeypatch):
    """MLflow's own convention: with MLFLOW_TRACKING_URI set and no mlflow_uri, the run goes to the
    user's store (where `mlflow ui` looks), not to a store in the run folder."""
    tracking = pytest.importorskip("mlflow.tracking")
    store = f"sqlite:///{(tmp_path / 'user-store.db').resolve()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    trainer, _ = train(tmp_path, digits, steps=2, track=["mlflow"], mlflow_experiment="env")
    run = trainer.out_dir
    assert not (run / "mlflow.db").exists()
    record = json.loads((run / "mlflow_run.json").read_text())
    assert record["uri"] == store
    client = tracking.MlflowClient(tracking_uri=store)
    logged = client.get_metric_history(record["run_id"], "train/loss")
    assert [m.step for m in logged] == [s for s, _ in jsonl_series(run, "train/loss")]


def test_text_samples_go_to_tensorboard_as_text(tmp_path, text_data):
    pytest.importorskip("tensorboard")
    model = genlab.create_model("gpt", data=text_data, **tiny_overrides("gpt"))
    trainer = genlab.Trainer(model, text_data, fast_train_config(steps=2, track=["tensorboard"]), out_dir=tmp_path / "g")
    trainer.fit()
    acc = tensorboard_events(trainer.out_dir)
    assert "samples/text_summary" in acc.Tags()["tensors"]
    logged = acc.Tensors("samples/text_summary")[-1]
    assert logged.step == 2
    assert (trainer.out_dir / "samples" / "step-000002.txt").read_text() in logged.tensor_proto.string_val[0].decode()


def test_resume_continues_the_same_mlflow_run_without_duplicate_steps(tmp_path, digits, shared_store):
    pytest.importorskip("tensorboard")
    trainer, _ = train(tmp_path, digits, steps=8, checkpoint_every=3)
    straight = jsonl_series(trainer.out_dir, "train/loss")

    torch.manual_seed(0)
    model = genlab.create_model("vae", data=digits, **VAE)
    config = fast_train_config(steps=8, checkpoint_every=3, track=["mlflow", "tensorboard"], mlflow_uri=shared_store,
                               mlflow_experiment="resume")
    killed = genlab.Trainer(model, digits, config, out_dir=tmp_path / "b")
    killed.fit(until=5)  # steps 4 and 5 are logged after the checkpoint at 3, then the run "dies"
    client, run_id = mlflow_client(killed.out_dir)
    assert [s for s, _ in mlflow_series(client, run_id, "train/loss")] == [1, 2, 3, 4, 5]

    resumed = genlab.resume(killed.out_dir)
    assert resumed.step == 3
    resumed.fit()
    assert json.loads((killed.out_dir / "mlflow_run.json").read_text())["run_id"] == run_id
    runs = client.search_runs([client.get_run(run_id).info.experiment_id])
    assert [r.info.run_id for r in runs] == [run_id]  # one MLflow run in the experiment
    assert not (killed.out_dir / "mlflow.db").exists()  # everything went to the given store
    assert client.get_run(run_id).info.status == "FINISHED"
    # each step once, with the values of the uninterrupted run (resume is exact)
    assert jsonl_series(killed.out_dir, "train/loss") == straight
    assert mlflow_series(client, run_id, "train/loss") == straight
    assert_float32_equal(tb_series(tensorboard_events(killed.out_dir), "train/loss"), straight)


def test_resume_with_a_recorded_mlflow_run_that_is_gone_says_what_to_do(tmp_path, digits, shared_store):
    trainer, _ = train(tmp_path, digits, steps=2, checkpoint_every=1, track=["mlflow"], mlflow_uri=shared_store)
    record_file = trainer.out_dir / "mlflow_run.json"
    record = json.loads(record_file.read_text())
    record_file.write_text(json.dumps({**record, "run_id": "0" * 32}))
    with pytest.raises(genlab.ConfigError, match="is not in .*; delete that file") as info:
        genlab.resume(trainer.out_dir, steps=3).fit()
    assert "\n" not in str(info.value)


def test_a_fresh_start_in_a_folder_without_checkpoint_is_a_new_mlflow_run(tmp_path, digits, shared_store):
    pytest.importorskip("tensorboard")
    config = fast_train_config(steps=4, track=["mlflow", "tensorboard"], mlflow_uri=shared_store)
    first = genlab.Trainer(genlab.create_model("vae", data=digits, **VAE), digits, config, out_dir=tmp_path / "r")
    first.fit(until=3)  # no checkpoint: this attempt cannot be resumed
    client, first_id = mlflow_client(first.out_dir)
    torch.manual_seed(1)
    again = genlab.Trainer(genlab.create_model("vae", data=digits, **VAE), digits, config, out_dir=tmp_path / "r")
    again.fit()
    _, run_id = mlflow_client(again.out_dir)
    assert run_id != first_id
    expected = [(r["step"], r["loss"]) for r in again.history if r["split"] == "train"]
    assert mlflow_series(client, run_id, "train/loss") == expected  # none of steps 1-3 skipped
    assert_float32_equal(tb_series(tensorboard_events(again.out_dir), "train/loss"), expected)  # the old ones hidden


def test_tracking_can_be_added_on_resume(tmp_path, digits):
    pytest.importorskip("tensorboard")
    trainer, _ = train(tmp_path, digits, steps=3, checkpoint_every=2)
    resumed = genlab.resume(trainer.out_dir, steps=5, overrides={"track": ["tensorboard"]})
    resumed.fit()
    assert json.loads((trainer.out_dir / "run.json").read_text())["train"]["track"] == ["tensorboard"]
    tb = tb_series(tensorboard_events(trainer.out_dir), "train/loss")
    assert_float32_equal(tb, [(s, v) for s, v in jsonl_series(trainer.out_dir, "train/loss") if s > 3])


def test_an_error_in_fit_closes_the_run_as_failed(tmp_path, digits, monkeypatch, shared_store):
    model = genlab.create_model("vae", data=digits, **VAE)
    config = fast_train_config(steps=3, track=["mlflow"], mlflow_uri=shared_store)
    trainer = genlab.Trainer(model, digits, config, out_dir=tmp_path / "r")

    def broken():
        raise RuntimeError("disk full")

    monkeypatch.setattr(trainer, "write_samples", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        trainer.fit()
    client, run_id = mlflow_client(trainer.out_dir)
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and run.info.end_time is not None
    assert [s for s, _ in mlflow_series(client, run_id, "train/loss")] == [1, 2, 3]


def test_only_the_main_process_tracks(tmp_path, digits, monkeypatch):
    monkeypatch.setattr(distributed, "is_main", lambda: False)
    trainer, _ = train(tmp_path, digits, steps=2, track=["tensorboard", "mlflow"])
    assert not trainer.out_dir.exists()  # no rank but 0 writes anything, trackers included


# ---- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend,modules", [("mlflow", ["mlflow", "mlflow.tracking"]),
                                             ("tensorboard", ["tensorboard", "torch.utils.tensorboard"])])
def test_missing_extra_is_a_one_line_error(backend, modules, tmp_path, monkeypatch):
    for name in modules:  # a None entry makes `import name` raise ImportError
        monkeypatch.setitem(sys.modules, name, None)
    code, out, err = run_cli("train", "vae", "--steps", "1", "--out", tmp_path / "r", "--track", backend,
                             "--set", "hidden=[8]", "--set", "progress=false")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines[-1] == f"genlab: error: --track {backend} needs the {backend} package: pip install 'genlab[tracking]'"
    assert "Traceback" not in err
    assert not (tmp_path / "r" / "run.json").exists()  # it fails before training starts


def test_unknown_back_end_lists_the_valid_ones(tmp_path):
    code, out, err = run_cli("train", "vae", "--steps", "1", "--out", tmp_path / "r", "--track", "tensorbord")
    assert code == 2
    assert err.strip() == ("genlab: error: unknown tracking back-end 'tensorbord'; valid: jsonl, mlflow, tensorboard "
                           "(e.g. --track tensorboard,mlflow)")
    with pytest.raises(genlab.ConfigError, match="valid: jsonl, mlflow, tensorboard"):
        genlab.TrainConfig().replace(track="wandb")


def test_tracking_needs_a_run_folder(digits):
    model = genlab.create_model("vae", data=digits, **VAE)
    with pytest.raises(genlab.ConfigError, match="needs a run folder"):
        genlab.Trainer(model, digits, fast_train_config(track=["tensorboard"]))


def test_importing_genlab_imports_no_tracking_library():
    code = ("import sys, genlab, genlab.training.loggers, genlab.cli; "
            "print([m for m in ('mlflow', 'tensorboard', 'torch.utils.tensorboard') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---- the JSONL back-end and metric names ----------------------------------------------------------
def test_jsonl_logger_appends_one_json_object_per_line(tmp_path):
    logger = JsonlLogger(tmp_path)
    rows = [{"step": 1, "split": "train", "loss": 2.5}, {"step": 1, "split": "val", "loss": 3.0, "warnings": ["x"]}]
    for row in rows:
        logger.log_metrics(row, row["step"])
    assert (tmp_path / "metrics.jsonl").read_text() == "".join(json.dumps(r) + "\n" for r in rows)


def test_scalar_names_are_split_slash_metric():
    row = {"step": 7, "split": "val", "loss": 1.5, "count": 3, "class_collapsed": True, "warnings": ["w"]}
    assert scalars(row) == {"val/loss": 1.5, "val/count": 3.0}

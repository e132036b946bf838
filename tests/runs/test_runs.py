"""Run folders: run.json checks, weights resolution, metrics.jsonl, the lock, resume inputs, --overwrite, verify."""

from __future__ import annotations

import errno
import json
import os

import pytest
import torch

import genlab
import genlab.models.io
from conftest import fast_train_config
from genlab.errors import RunLockedError, StorageError
from genlab.runs import (LOCK_FILE, METRICS_FILE, RUN_FILE, STATE_FILE, RunLock, read_metrics, read_run_file,
                         resolve_weights, truncate_metrics)
from genlab.training.trainer import Trainer
from cli_helpers import assert_one_line_error, run_cli


def train_run(folder, data, steps=2, **train):
    model = genlab.create_model("vae", data=data, hidden=[8], latent_dim=2)
    trainer = Trainer(model, data, fast_train_config(steps=steps, **train), out_dir=folder)
    trainer.fit()
    return trainer


@pytest.fixture
def run(tmp_path, digits):
    folder = tmp_path / "run"
    train_run(folder, digits, steps=4, eval_every=2, checkpoint_every=2)
    return folder


def assert_fails_after_start(code, out, err, *needles):
    """A training that could not set up its run folder: one error line, not even the announcement
    (the command line names the run only once run.json is written)."""
    assert code == 2 and out == "" and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genlab: error: "), err
    assert all(needle in lines[0] for needle in needles), (needles, lines[0])


def edit_json(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


# ---- run.json ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("edit, needle", [
    (lambda text: text[:-5], "cannot be read as JSON"),
    (lambda text: "[1, 2]", "not a genlab run file"),
    (lambda text: text.replace('"total_steps": 4', '"total_steps": "4"'), "'total_steps' must be an integer"),
    (lambda text: json.dumps({**json.loads(text), "train": [1, 2]}), "'train' must be a dict"),
    (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "data"}), "has no 'data'"),
])
def test_malformed_run_json_is_one_line_error(run, edit, needle):
    path = run / RUN_FILE
    path.write_text(edit(path.read_text()))
    with pytest.raises(genlab.CheckpointError, match=needle):
        read_run_file(run)
    code, out, err = run_cli("train", "--resume", run)
    assert_one_line_error(code, out, err, str(path), needle)


# ---- weights resolution ---------------------------------------------------------------------------
def test_best_old_is_used_when_best_is_missing(run):
    """A kill between the two renames of best/ leaves best.old only: it is still the best weights."""
    os.replace(run / "best", run / "best.old")
    assert resolve_weights(run, "best") == run / "best.old"
    assert resolve_weights(run, "last") == run / "checkpoint"
    code, out, err = run_cli("eval", run, "--json", "--max-examples", "4", "--iw-samples", "2")
    assert code == 0, err
    assert json.loads(out)["weights"] == str(run / "best.old")


def test_resolve_weights_of_a_saved_model_and_bad_choice(tmp_path, digits):
    folder = genlab.save_pretrained(genlab.create_model("vae", data=digits, hidden=[8]), tmp_path / "saved")
    assert resolve_weights(folder, "best") == folder == resolve_weights(folder, "last")
    with pytest.raises(genlab.ConfigError, match="best or last"):
        resolve_weights(folder, "newest")


# ---- metrics.jsonl --------------------------------------------------------------------------------
def test_torn_last_metrics_line_is_dropped_with_a_warning(run, capsys):
    path = run / METRICS_FILE
    rows = read_metrics(run)
    with open(path, "a") as f:
        f.write('{"step": 5, "split": "tr')  # a full disk cut the write short
    assert read_metrics(run) == rows
    assert "torn last line" in capsys.readouterr().err
    code, out, err = run_cli("info", run)
    assert code == 0, err
    assert json.loads(out)["last_train"]["step"] == 4 and "torn last line" in err
    # a resume rewrites the log without the torn tail
    r = genlab.resume(run, steps=6)
    r.fit()
    assert [x["step"] for x in read_metrics(run) if x["split"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert path.read_text().endswith("\n")


def test_damaged_metrics_line_before_the_last_is_an_error(run):
    path = run / METRICS_FILE
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{nope", *lines[1:]]) + "\n")
    with pytest.raises(genlab.CheckpointError, match="line 2"):
        read_metrics(run)


def test_truncate_metrics_keeps_rows_up_to_the_step(run):
    kept = truncate_metrics(run, 2)
    assert kept and all(r["step"] <= 2 for r in kept)
    assert read_metrics(run) == kept


# ---- the lock ---------------------------------------------------------------------------------------
def test_a_locked_run_folder_refuses_a_second_trainer(run, digits):
    holder = RunLock(run)
    holder.acquire()  # its own open file description: it excludes this process's trainers too
    try:
        assert json.loads((run / LOCK_FILE).read_text())["pid"] == os.getpid()
        r = genlab.resume(run, steps=6)
        before = (run / RUN_FILE).read_text(), (run / METRICS_FILE).read_text()
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()} on host"):
            r.fit()
        assert ((run / RUN_FILE).read_text(), (run / METRICS_FILE).read_text()) == before  # nothing written
        with pytest.raises(RunLockedError):
            RunLock(run).acquire()
    finally:
        holder.release()
    assert r.fit()["steps"] == 6  # free again
    with RunLock(run):  # and released after fit
        pass


def test_lock_is_held_during_fit_and_released_after(tmp_path, digits):
    """Two trainers on one folder: the second fails while the first trains; the first finishes."""
    folder = tmp_path / "run"
    model = genlab.create_model("vae", data=digits, hidden=[8], latent_dim=2)
    first = Trainer(model, digits, fast_train_config(steps=3), out_dir=folder)
    second = Trainer(genlab.create_model("vae", data=digits, hidden=[8], latent_dim=2), digits,
                     fast_train_config(steps=3, seed=7), out_dir=folder)
    errors = []
    original = first._train_step

    def step_and_try_the_second():
        if first.step == 1 and not errors:
            with pytest.raises(RunLockedError) as info:
                second.fit()
            errors.append(str(info.value))
        return original()

    first._train_step = step_and_try_the_second
    first.fit()
    assert len(errors) == 1 and "in use by another training" in errors[0]
    assert read_run_file(folder)["train"]["seed"] == first.config.seed
    assert (folder / LOCK_FILE).read_text() == ""  # released: no holder named
    assert second.fit()["steps"] == 3


# ---- resume inputs ------------------------------------------------------------------------------------
def test_resume_steps_below_the_current_step_is_refused(run):
    before = (run / RUN_FILE).read_text()
    code, out, err = run_cli("train", "--resume", run, "--steps", "3")
    assert_one_line_error(code, out, err, "--steps 3", "(4)")
    assert (run / RUN_FILE).read_text() == before


def test_trainer_state_of_another_run_is_refused(tmp_path, run, digits):
    other = tmp_path / "other"
    model = genlab.create_model("vae", data=digits, hidden=[16], latent_dim=2)  # another size, same step
    Trainer(model, digits, fast_train_config(steps=4, checkpoint_every=2), out_dir=other).fit()
    (run / "checkpoint" / STATE_FILE).write_bytes((other / "checkpoint" / STATE_FILE).read_bytes())
    code, out, err = run_cli("train", "--resume", run, "--steps", "6")
    assert_one_line_error(code, out, err, STATE_FILE, "does not fit this run", "another run")


def test_trainer_state_at_another_step_is_refused(run):
    path = run / "checkpoint" / STATE_FILE
    state = torch.load(path, weights_only=True)
    state["step"] = 3
    torch.save(state, path)
    code, out, err = run_cli("train", "--resume", run, "--steps", "6")
    assert_one_line_error(code, out, err, "at step 3", "another checkpoint")


def test_trainer_state_without_rng_is_refused(run):
    path = run / "checkpoint" / STATE_FILE
    state = torch.load(path, weights_only=True)
    del state["rng"]
    torch.save(state, path)
    code, out, err = run_cli("train", "--resume", run)
    assert_one_line_error(code, out, err, "no 'rng' entry")
    state["rng"] = {"torch": torch.get_rng_state()}
    torch.save(state, path)
    code, out, err = run_cli("train", "--resume", run)
    assert_one_line_error(code, out, err, "no 'rng.cuda' entry")


class NotAllowed:  # a global weights_only loading refuses
    pass


def test_refused_pickle_global_is_named_without_torch_advice(run):
    path = run / "checkpoint" / STATE_FILE
    state = torch.load(path, weights_only=True)
    state["extra"] = NotAllowed()
    torch.save(state, path)
    code, out, err = run_cli("train", "--resume", run)
    line = assert_one_line_error(code, out, err, "holds objects genlab does not load", "NotAllowed")
    assert "weights_only" not in line and "damaged" not in line


def test_damaged_trainer_state(run):
    (run / "checkpoint" / STATE_FILE).write_bytes(b"PK\x03\x04 not a zip")
    code, out, err = run_cli("train", "--resume", run)
    assert_one_line_error(code, out, err, "is damaged")


def test_resumed_log_matches_an_uninterrupted_one(tmp_path, digits):
    """Killed mid-window (step 5 with log_every=3) and resumed: the same train rows as one straight run."""
    config = fast_train_config(steps=9, log_every=3, checkpoint_every=5, batch_size=8)

    def make():
        torch.manual_seed(3)
        return genlab.create_model("vae", data=digits, hidden=[8], latent_dim=2)

    Trainer(make(), digits, config, out_dir=tmp_path / "A").fit()
    Trainer(make(), digits, config, out_dir=tmp_path / "B").fit(until=5)
    genlab.resume(tmp_path / "B").fit()
    timing = ("items_per_s", "time_s")

    def train_rows(folder):
        return [{k: v for k, v in r.items() if k not in timing} for r in read_metrics(folder) if r["split"] == "train"]

    assert [r["step"] for r in train_rows(tmp_path / "A")] == [3, 6, 9]
    assert train_rows(tmp_path / "B") == train_rows(tmp_path / "A")


def test_data_that_no_longer_matches_the_run_is_refused(tmp_path, text_file):
    """The text file changed since training (another vocabulary): resume names what differs."""
    from genlab.runs import check_data_matches

    data = genlab.load_dataset(f"text:{text_file}")
    model = genlab.create_model("lstm", data=data, hidden_size=8, embedding_dim=8, num_layers=1, block_size=8)
    Trainer(model, data, fast_train_config(steps=2, batch_size=4), out_dir=tmp_path / "run",
            data_spec={"name": f"text:{text_file}", "options": {}}).fit()
    text_file.write_text(text_file.read_text() + "XYZ" * 50)
    with pytest.raises(genlab.CheckpointError, match="differs in vocab"):
        genlab.resume(tmp_path / "run")
    other = genlab.load_dataset(f"text:{text_file}")
    with pytest.raises(genlab.CheckpointError, match=r"trained on '.*'; the data .* differs in vocab"):
        check_data_matches(model.data_info, other.info, tmp_path / "run")
    check_data_matches(model.data_info, data.info, tmp_path / "run")  # the same data passes


# ---- --overwrite --------------------------------------------------------------------------------------
TRAIN = ("train", "vae", "--steps", "2", "--set", "hidden=[8]", "--progress", "false")


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    code, out, err = run_cli(*TRAIN, "--out", folder, "--overwrite")
    assert_one_line_error(code, out, err, str(folder), "not a genlab run folder")
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.tex"]


def test_overwrite_keeps_the_old_run_when_the_new_one_fails_its_checks(tmp_path, run):
    before = (run / "checkpoint" / "model.safetensors").read_bytes()
    code, out, err = run_cli(*TRAIN, "--out", run, "--overwrite", "--set", f"features={tmp_path / 'no-features'}")
    assert_one_line_error(code, out, err, "no feature network")
    assert (run / "checkpoint" / "model.safetensors").read_bytes() == before
    assert read_run_file(run)["total_steps"] == 4


def test_overwrite_replaces_only_what_genlab_wrote(run):
    (run / "notes.md").write_text("mine")
    code, _, err = run_cli(*TRAIN, "--out", run, "--overwrite")
    assert code == 0, err
    assert (run / "notes.md").read_text() == "mine"
    assert read_run_file(run)["total_steps"] == 2
    assert max(r["step"] for r in read_metrics(run)) == 2  # no rows of the old run
    assert genlab.models.io.read_config(run / "best")["step"] == 2  # the old best/ went with the old run


def test_out_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    code, out, err = run_cli(*TRAIN, "--out", path)
    assert_one_line_error(code, out, err, "is a file, not a run folder")
    assert path.read_text() == "x"


# ---- full disk, read-only folders ---------------------------------------------------------------------
def test_full_disk_during_a_checkpoint_keeps_the_last_one(run, digits, monkeypatch):
    before = genlab.models.io.read_config(run / "checkpoint")["step"]
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    trainer = genlab.resume(run, steps=6)
    monkeypatch.setattr(genlab.models.io.os, "fsync", full)
    with pytest.raises(StorageError, match="disk is full") as info:
        trainer.save_checkpoint()
    assert "last good checkpoint is kept" in str(info.value)
    monkeypatch.setattr(genlab.models.io.os, "fsync", real_fsync)
    assert genlab.models.io.read_config(genlab.models.io.resolve_checkpoint_dir(run))["step"] == before
    assert not (run / ".checkpoint.tmp").exists()
    assert genlab.resume(run).step == before


def test_full_disk_through_the_cli_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(genlab.models.io.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    code, out, err = run_cli(*TRAIN, "--out", tmp_path / "run")
    assert_fails_after_start(code, out, err, "the disk is full", str(tmp_path / "run"))


def test_read_only_output_folder_is_one_line(tmp_path, monkeypatch):
    # simulated: the tests may run as root, for whom chmod does not make a folder read-only
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(genlab.models.io.tempfile, "mkstemp", denied)
    code, out, err = run_cli(*TRAIN, "--out", tmp_path / "run")
    assert_fails_after_start(code, out, err, "permission denied", str(tmp_path / "run"))


# ---- genlab verify ----------------------------------------------------------------------------------
def test_verify_a_sound_run(run):
    code, out, err = run_cli("verify", run)
    assert code == 0, out + err
    lines = out.splitlines()
    assert all(line.startswith("OK") for line in lines)
    for part in ("run.json", "checkpoint/config.json", "checkpoint/model.safetensors", f"checkpoint/{STATE_FILE}",
                 "best/model.safetensors", METRICS_FILE):
        assert any(part in line for line in lines), part


def test_verify_reports_a_flipped_bit(run):
    path = run / "checkpoint" / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # inside the last tensor's data: the header is intact
    path.write_bytes(bytes(data))
    code, out, err = run_cli("verify", run)
    assert code == 2
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "checkpoint/model.safetensors" in failed[0] and "changed since it was saved" in failed[0]


@pytest.mark.parametrize("edit", [lambda m: m["config"].update(beta=2.0), lambda m: m.update(step=999),
                                  lambda m: m.update(val_loss=0.001)])
def test_verify_reports_an_edited_config(run, tmp_path, edit):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "run.lock").unlink(missing_ok=True)
    edit_json(copy / "best" / "config.json", edit)
    code, out, err = run_cli("verify", copy)
    assert code == 2, out + err
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "best/config.json" in failed[0] and "changed after it was saved" in failed[0]


def test_verify_reports_bad_run_json_and_state(run):
    (run / RUN_FILE).write_text("{")
    (run / "checkpoint" / STATE_FILE).write_bytes(b"junk")
    code, out, _ = run_cli("verify", run)
    assert code == 2
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert [line.split()[1].rstrip(":") for line in failed] == [RUN_FILE, f"checkpoint/{STATE_FILE}"]


def test_verify_notes_an_old_save_without_hash(tmp_path, digits):
    folder = genlab.save_pretrained(genlab.create_model("vae", data=digits, hidden=[8]), tmp_path / "saved")
    edit_json(folder / "config.json", lambda meta: [meta.pop("weights_sha256"), meta.pop("config_sha256")])
    code, out, err = run_cli("verify", folder)  # as an older genlab saved it
    assert code == 0, out + err
    assert "no hash recorded" in out and "edits not detectable" in out
    code, out, _ = run_cli("verify", tmp_path / "nothing")
    assert code == 2 and "FAILED" in out

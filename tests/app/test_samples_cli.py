"""The registry of samples from the command line: `genlab sample` records what it writes (tags, scores),
`genlab samples list/show/tag` read it, `genlab registry rebuild/runs` index the run folders."""

from __future__ import annotations

import json

import pytest

from genlab.runs import catalog

from cli_helpers import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("samples-cli") / "vae-run"
    code, out, err = run_cli("train", "vae", "--data", "digits", "--steps", "3", "--out", run, "--set", "hidden=[16]",
                             "--eval-every", "3", "--progress", "false")
    assert code == 0, err
    return run


def listed(*args) -> list[dict]:
    code, out, err = run_cli("samples", "list", "--json", *args)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_sample_records_its_file_and_samples_list_and_show_find_it(vae_run, tmp_path):
    db = tmp_path / "registry.sqlite3"
    reg = ("--registry", db)
    code, out, err = run_cli("sample", vae_run, "--num", "4", "--seed", "5", "--out", tmp_path / "a.png",
                             "--tag", "first", "--tag", "keep", *reg)
    assert code == 0, err
    sample_id = out.strip().splitlines()[-1].split()[-1]
    assert out.strip().splitlines()[-1] == f"recorded as sample {sample_id}"
    code, out, err = run_cli("sample", vae_run, "--num", "2", "--seed", "6", "--out", tmp_path / "b.png", *reg)
    assert code == 0, err

    rows = listed(*reg)
    assert [r["id"] for r in rows][0] == sample_id and len(rows) == 2
    first = rows[0]
    assert first["path"] == str((tmp_path / "a.png").resolve()) and first["exists"] is True
    assert first["run"] == str(vae_run.resolve()) and first["seed"] == 5 and first["sampling"] == {"mode": "mean", "num": 4}
    assert first["tags"] == ["first", "keep"] and first["command"] == "sample" and first["model"] == "vae"
    saved = json.loads((vae_run / "best" / "config.json").read_text())
    assert first["weights_sha256"] == saved["weights_sha256"]
    assert [r["id"] for r in listed("--tag", "keep", *reg)] == [sample_id]
    assert listed("--run", tmp_path, *reg) == []
    assert len(listed("--run", vae_run, *reg)) == 2
    log = (vae_run / catalog.LOG_FILE).read_text().splitlines()
    assert sample_id in log[-2]  # the run's log is the source of truth

    code, out, err = run_cli("samples", "tag", sample_id[:8], "best", *reg)
    assert code == 0 and out.strip() == f"sample {sample_id}: tags first, keep, best"
    code, out, err = run_cli("samples", "show", sample_id, *reg)
    assert code == 0, err
    assert out.startswith(f"sample {sample_id}: {(tmp_path / 'a.png').resolve()} (ok)")
    assert "seed     5" in out and "tags     first, keep, best" in out and saved["weights_sha256"] in out

    (tmp_path / "a.png").unlink()
    code, out, err = run_cli("samples", "show", sample_id, *reg)
    assert "(missing: the file has gone)" in out.splitlines()[0]
    code, out, err = run_cli("samples", "list", *reg)
    assert out.splitlines()[0].split()[4] == "missing"
    code, out, err = run_cli("registry", "rebuild", vae_run.parent, *reg)
    assert code == 0, err
    assert out.splitlines()[0] == f"indexed 2 samples of 1 run folders under {vae_run.parent} in {db}"
    assert out.splitlines()[1].split()[:2] == ["missing", sample_id]
    assert [r["tags"] for r in listed(*reg)] == [["first", "keep", "best"], []]  # tags came back from the log
    code, out, err = run_cli("registry", "runs", *reg)
    assert code == 0 and out.strip() == f"{vae_run.resolve()}  vae on digits step 3, 2 samples"


def test_sample_score_records_the_batch_scores_with_the_feature_network(vae_run, tmp_path):
    db = tmp_path / "registry.sqlite3"
    code, out, err = run_cli("features", "train", "--data", "digits", "--steps", "5", "--out", tmp_path / "feat")
    assert code == 0, err
    net_hash = json.loads((tmp_path / "feat" / "config.json").read_text())["content_hash"]
    code, out, err = run_cli("sample", vae_run, "--num", "16", "--out", tmp_path / "s.png", "--score", "--features",
                             tmp_path / "feat", "--registry", db)
    assert code == 0, err
    assert f"scores of this batch of 16 against 447 test examples (features {net_hash}" in out
    (row,) = listed("--registry", db)
    assert row["feature_net"] == net_hash and row["score_info"]["num_samples"] == 16
    assert set(row["scores"]) >= {"fid", "kid", "precision", "recall", "coverage", "memorisation"}
    precision = row["scores"]["precision"]
    assert [r["id"] for r in listed("--min-score", f"precision={precision}", "--registry", db)] == [row["id"]]
    assert listed("--min-score", f"precision={precision + 0.01}", "--registry", db) == []
    assert listed("--min-score", "nosuchscore=0", "--registry", db) == []

    # a batch recorded without scores is drawn again, checked against its file, and scored the same
    code, out, err = run_cli("sample", vae_run, "--num", "16", "--out", tmp_path / "again.png", "--registry", db)
    assert code == 0, err
    again = listed("--registry", db)[1]
    assert again["scores"] is None
    code, out, err = run_cli("samples", "score", again["id"], "--features", tmp_path / "feat", "--registry", db)
    assert code == 0, err
    assert out.startswith(f"sample {again['id']}: batch of 16 against 447 test examples, features {net_hash}")
    rescored = listed("--registry", db)[1]
    assert rescored["scores"] == row["scores"] and rescored["feature_net"] == net_hash  # same seed, same batch
    assert rescored["score_info"]["num_samples"] == 16
    scores_line = json.loads((vae_run / catalog.LOG_FILE).read_text().splitlines()[-1])
    assert scores_line["event"] == "scores" and scores_line["ids"] == [again["id"]]
    (tmp_path / "again.png").write_bytes((tmp_path / "s.png").read_bytes()[:-1])
    assert_one_line_error(*run_cli("samples", "score", again["id"], "--features", tmp_path / "feat", "--registry", db),
                          "changed since it was recorded")


def test_inpaint_records_its_three_pictures_with_the_source(vae_run, tmp_path):
    db = tmp_path / "registry.sqlite3"
    assert run_cli("sample", vae_run, "--num", "1", "--out", tmp_path / "digit.png", "--registry", db)[0] == 0
    code, out, err = run_cli("inpaint", vae_run, tmp_path / "digit.png", "--mask-kind", "bottom", "--out",
                             tmp_path / "filled", "--num", "2", "--inpaint-arg", "steps=3", "--inpaint-arg",
                             "restarts=1", "--tag", "filled", "--registry", db)
    assert code == 0, err
    rows = listed("--tag", "filled", "--registry", db)
    assert [r["path"] for r in rows] == [str((tmp_path / "filled" / n).resolve())
                                         for n in ("masked.png", "mask.png", "inpainted.png")]
    assert {r["command"] for r in rows} == {"inpaint"}
    assert {r["source"] for r in rows} == {str((tmp_path / "digit.png").resolve())}
    assert out.strip().splitlines()[-1] == "recorded as samples " + ", ".join(r["id"] for r in rows)


def test_bad_input_is_one_line_and_exit_code_2(vae_run, tmp_path):
    db = tmp_path / "registry.sqlite3"
    assert_one_line_error(*run_cli("samples", "list", "--registry", db), "there is no registry", "registry rebuild")
    assert run_cli("registry", "rebuild", vae_run.parent, "--registry", db)[0] == 0
    assert_one_line_error(*run_cli("samples", "show", "0123abcd", "--registry", db), "no sample '0123abcd'")
    assert_one_line_error(*run_cli("samples", "show", "not-an-id", "--registry", db), "not a sample id")
    assert_one_line_error(*run_cli("samples", "list", "--min-score", "fid=low", "--registry", db), "NAME=NUMBER")
    assert_one_line_error(*run_cli("samples", "list", "--min-score", "fid", "--registry", db), "key=value")
    assert_one_line_error(*run_cli("registry", "rebuild", tmp_path / "nowhere", "--registry", db), "not a folder")
    assert_one_line_error(*run_cli("sample", vae_run, "--tag", "a,b", "--registry", db), "tag must be")
    assert_one_line_error(*run_cli("sample", vae_run, "--features", "x", "--registry", db), "give --score too")
    (tmp_path / "junk.sqlite3").write_bytes(b"junk" * 1000)
    assert_one_line_error(*run_cli("samples", "list", "--registry", tmp_path / "junk.sqlite3"), "damaged")


def test_generate_is_the_one_operation_behind_sample_and_the_server(tmp_path, session_text_file):
    """service.generate draws, renders, stamps and records; what it returns is what is on disk and in
    the registry (the CLI and the server only map their arguments to it)."""
    from genlab import provenance
    from genlab.runs import catalog
    from genlab.app import service

    run = tmp_path / "vae"
    code, _, err = run_cli("train", "vae", "--steps", "2", "--set", "hidden=[8]", "--out", run, "--progress", "false")
    assert code == 0, err
    model, folder = service.load_model(run)
    db = tmp_path / "registry.sqlite3"
    done = service.generate(model, folder, run, tmp_path / "four.png", command="sample", num=4, seed=1,
                            tags=["mine"], registry=db)
    assert done.files == [tmp_path / "four.png"] and done.path == tmp_path / "four.png" and done.text is None
    assert provenance.read(tmp_path / "four.png").record == done.record
    assert done.record["sampling"] == {"mode": "mean", "num": 4} and done.record["command"] == "sample"
    (sample_id,) = done.ids
    row = catalog.open_registry(db).get_sample(sample_id)
    assert row["tags"] == ["mine"] and row["sha256"] == catalog.sha256_file(tmp_path / "four.png")
    lstm = tmp_path / "lstm"
    code, _, err = run_cli("train", "lstm", "--data", f"text:{session_text_file}", "--steps", "1", "--set",
                           "hidden_size=8", "--set", "embedding_dim=4", "--set", "block_size=8", "--out", lstm,
                           "--progress", "false")
    assert code == 0, err
    model, folder = service.load_model(lstm)
    text = service.generate(model, folder, lstm, None, command="sample", num=2, prompt="the ",
                            sample_args={"max_new_tokens": 5})
    assert text.files == [] and all(t.startswith("the ") for t in text.text.split("\n-----\n"))

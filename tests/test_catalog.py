"""genlab.runs.catalog: the registry of runs and samples. Logs in the run folders are the source of truth;
the SQLite index lists and filters them, is rebuilt from them, and takes several writers at once."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from genlab import provenance
from genlab.runs import catalog
from genlab.app import service
from genlab.errors import ConfigError, StorageError


def make_run(root: Path, name: str) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"model": "vae", "data": {"name": "digits", "options": {}},
                                              "train": {}, "total_steps": 30}))
    return run


def rec_of(run: Path, seed: int = 0) -> dict:
    return provenance.record(model="vae", weights_sha256="ab" * 32, run=str(run.resolve()), seed=seed,
                             sampling={"num": 4, "temperature": 0.5}, command="sample", kind="image")


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def two_runs(tmp_path):
    """A registry with samples of two runs: tagged, one batch scored."""
    reg = catalog.open_registry(tmp_path / "index" / "registry.sqlite3")
    a, b = make_run(tmp_path / "runs", "a"), make_run(tmp_path / "runs", "b")
    ids_a = reg.record_files(a, [write(a / "s1.png", b"one"), write(a / "s2.png", b"two")], rec_of(a, 1),
                             tags=["keep"])
    ids_b = reg.record_files(b, [write(b / "s3.png", b"three")], rec_of(b, 2))
    elsewhere = write(tmp_path / "outside.png", b"four")  # a file written outside the run folder...
    provenance.stamp([elsewhere], rec_of(b, 3))  # ...carries its provenance (a sidecar here: not a real PNG)
    ids_b += reg.record_files(b, [elsewhere], rec_of(b, 3))
    reg.record_scores(ids_a, {"fid": 12.5, "precision": 0.75, "collapsed": False}, feature_net="f00d", num_samples=2)
    reg.add_tags(ids_b[0], ["best", "keep"])
    return reg, tmp_path, a, b, ids_a, ids_b


def test_record_list_and_filter_by_run_tag_and_score(two_runs):
    reg, tmp_path, a, b, ids_a, ids_b = two_runs
    assert [s["id"] for s in reg.list_samples()] == ids_a + ids_b
    assert [s["id"] for s in reg.list_samples(run=a)] == ids_a
    assert [s["id"] for s in reg.list_samples(tag="keep")] == ids_a + ids_b[:1]
    assert [s["id"] for s in reg.list_samples(tag="best")] == ids_b[:1]
    assert [s["id"] for s in reg.list_samples(min_scores={"precision": 0.7})] == ids_a
    assert reg.list_samples(min_scores={"precision": 0.8}) == []
    assert [s["id"] for s in reg.list_samples(max_scores={"fid": 20})] == ids_a
    assert len(reg.list_samples(limit=3)) == 3
    first = reg.list_samples(run=a)[0]
    assert first["path"] == str((a / "s1.png").resolve()) and first["exists"] is True
    assert first["scores"] == {"fid": 12.5, "precision": 0.75}  # numbers only
    assert first["feature_net"] == "f00d" and first["score_info"]["num_samples"] == 2
    assert first["seed"] == 1 and first["sampling"] == {"num": 4, "temperature": 0.5}
    assert first["weights_sha256"] == "ab" * 32 and first["command"] == "sample" and first["tags"] == ["keep"]
    assert first["run"] == str(a.resolve())
    assert [r["samples"] for r in reg.list_runs()] == [2, 2]
    assert reg.list_runs()[0]["model"] == "vae" and reg.list_runs()[0]["step"] == 30
    # the log holds paths relative to the run folder, absolute for files outside it
    lines = [json.loads(line) for line in (b / catalog.LOG_FILE).read_text().splitlines()]
    assert [line["path"] for line in lines if line["event"] == "sample"] == ["s3.png", str(tmp_path / "outside.png")]
    assert lines[-1] == {"event": "tag", "id": ids_b[0], "tags": ["best", "keep"], "time": lines[-1]["time"]}


def test_show_reports_a_missing_or_changed_file(two_runs):
    reg, tmp_path, a, b, ids_a, ids_b = two_runs
    shown = reg.get_sample(ids_a[0][:6])  # a prefix naming one sample
    assert shown["id"] == ids_a[0] and shown["exists"] and shown["sha256_ok"] is True
    (a / "s1.png").write_bytes(b"edited")
    assert reg.get_sample(ids_a[0])["sha256_ok"] is False
    (a / "s2.png").unlink()
    gone = reg.get_sample(ids_a[1])
    assert gone["exists"] is False and gone["sha256_ok"] is None
    assert [s["exists"] for s in reg.list_samples(run=a)] == [True, False]  # listed, not dropped
    with pytest.raises(ConfigError, match="no sample 'ffff'"):
        reg.get_sample("ffff")
    with pytest.raises(ConfigError, match="not a sample id"):
        reg.get_sample("s1.png")
    with pytest.raises(ConfigError, match="tag must be"):
        reg.add_tags(ids_a[0], ["a,b"])


def test_rebuild_recreates_the_same_rows_and_reports_what_changed(two_runs):
    reg, tmp_path, a, b, ids_a, ids_b = two_runs
    before = reg.list_samples()
    fresh = catalog.open_registry(tmp_path / "fresh.sqlite3")
    report = fresh.rebuild([tmp_path / "runs"])
    assert fresh.list_samples() == before
    assert fresh.list_runs() == reg.list_runs()
    assert report["runs"] == 2 and report["samples"] == 4
    assert report["missing"] == [] and report["changed"] == [] and report["bad_lines"] == []

    (a / "s2.png").unlink()
    (b / "s3.png").write_bytes(b"edited")
    with open(a / catalog.LOG_FILE, "a") as f:
        f.write('{"event": "sample", "id": "torn\n')  # a torn line
        f.write('{"event": "tag", "id": "0123", "tags": ["x"]}\n')  # tags for a sample never recorded
        f.write('{"event": "tag", "id": ["x"], "tags": ["x"]}\n')  # valid JSON of the wrong shapes
        f.write('{"event": "sample", "id": "abcdef0123456789", "path": "../../../../etc/passwd"}\n')
        f.write('{"event": "scores", "ids": [["x"]], "scores": {"fid": 1}}\n')
    report = reg.rebuild([tmp_path / "runs"])
    assert report["missing"] == [{"id": ids_a[1], "path": str((a / "s2.png").resolve())}]
    assert report["changed"] == [{"id": ids_b[0], "path": str((b / "s3.png").resolve())}]
    assert len(report["bad_lines"]) == 4, report["bad_lines"]
    assert report["bad_lines"][0].endswith("line 4: not JSON (a torn or edited line); skipped")
    assert "line 5: tags for an unknown sample '0123'" in report["bad_lines"][1]
    assert "line 6: tags without a sample id" in report["bad_lines"][2]
    assert "line 7: a sample whose path leaves its run folder" in report["bad_lines"][3]  # never indexed
    assert len(reg.list_samples()) == 4  # the missing file's sample is kept and shown as missing
    assert reg.get_sample(ids_a[1])["exists"] is False
    with pytest.raises(ConfigError, match="not a folder"):
        reg.rebuild([tmp_path / "nowhere"])


def test_a_damaged_or_unwritable_index_is_a_one_line_error(tmp_path):
    (tmp_path / "junk.sqlite3").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StorageError, match="damaged or not a genlab registry.*registry rebuild"):
        catalog.open_registry(tmp_path / "junk.sqlite3")
    with pytest.raises(StorageError, match="there is no registry"):
        catalog.open_registry(tmp_path / "absent.sqlite3", create=False)
    catalog.open_registry(tmp_path / "newer.sqlite3")
    with sqlite3.connect(tmp_path / "newer.sqlite3") as con:
        con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(StorageError, match="made by a newer genlab"):
        catalog.open_registry(tmp_path / "newer.sqlite3")
    # a command still succeeds when the index cannot be written: the run's log records the file
    run = make_run(tmp_path, "run")
    (tmp_path / "a-file").write_text("")
    ids, warnings = service.record_samples(run, [write(run / "x.png", b"x")], rec_of(run),
                                           registry=tmp_path / "a-file" / "registry.sqlite3")
    assert len(ids) == 1 and len(warnings) == 1 and "not in the registry index" in warnings[0]
    fresh = catalog.open_registry(tmp_path / "later.sqlite3")
    fresh.rebuild([run])
    assert [s["id"] for s in fresh.list_samples()] == ids


def test_rebuild_skips_log_lines_that_point_outside_at_foreign_files(tmp_path):
    """An edited log cannot make the registry index and hash any file of the machine, nor carry tags the
    registry refuses."""
    run = make_run(tmp_path, "run")
    secret = write(tmp_path / "secret.txt", b"not for the registry")
    own = write(run / "s.png", b"mine")
    lines = [{"event": "sample", "id": "a" * 16, "path": str(secret), "sha256": catalog.sha256_file(secret)},
             {"event": "sample", "id": "b" * 16, "path": "s.png", "sha256": catalog.sha256_file(own),
              "tags": ["keep", "x" * 500, "a,b", 7]},
             {"event": "tag", "id": "b" * 16, "tags": ["", "fine", "y" * 201]}]
    (run / catalog.LOG_FILE).write_text("".join(json.dumps(line) + "\n" for line in lines))
    reg = catalog.open_registry(tmp_path / "registry.sqlite3")
    report = reg.rebuild([run])
    assert [s["id"] for s in reg.list_samples()] == ["b" * 16]
    assert reg.get_sample("b" * 16)["tags"] == ["fine", "keep"] or sorted(reg.get_sample("b" * 16)["tags"]) == [
        "fine", "keep"]
    assert any("not a file genlab generated" in line for line in report["bad_lines"])
    assert str(secret) not in json.dumps(report["missing"] + report["changed"])


def test_another_programs_database_is_never_changed(tmp_path):
    """A read command on a SQLite file that is not a genlab registry refuses it, and changes no byte
    of it (no tables added, no switch to WAL)."""
    from cli_helpers import assert_one_line_error, run_cli

    app = tmp_path / "app.db"
    with sqlite3.connect(app) as con:
        con.execute("CREATE TABLE users (name TEXT)")
        con.execute("INSERT INTO users VALUES ('ada')")
    con.close()
    before = app.read_bytes()
    assert_one_line_error(*run_cli("samples", "list", "--registry", app), "not a genlab registry", "--registry")
    with pytest.raises(StorageError, match="not a genlab registry"):
        catalog.open_registry(app)
    assert app.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]
    empty = tmp_path / "empty.sqlite3"
    empty.write_bytes(b"")  # a new, empty file may become a registry
    catalog.open_registry(empty).list_samples()


def record_many(db: str, run: str, worker: int, count: int, start) -> None:
    """One writer process: ``count`` samples, each its own log append and index transaction."""
    start.wait(60)  # all writers begin together
    reg = catalog.open_registry(db)
    rec = rec_of(Path(run), worker)
    for i in range(count):
        path = write(Path(run) / f"w{worker}-{i}.bin", f"{worker}:{i}".encode())
        reg.record_files(run, [path], rec, tags=[f"worker{worker}"])


def test_several_processes_write_at_once(tmp_path):
    """Four processes (a server and commands, say) record 50 samples each into one index and one log.
    Forked, not spawned: the writers touch only sqlite3 and files, and a spawned process would spend
    seconds importing torch before its first write."""
    run = make_run(tmp_path, "run")
    db = tmp_path / "registry.sqlite3"
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    workers = [ctx.Process(target=record_many, args=(str(db), str(run), w, 50, start)) for w in range(4)]
    for p in workers:
        p.start()
    start.set()
    for p in workers:
        p.join(120)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 200
    lines = (run / catalog.LOG_FILE).read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # every line whole
    assert len(entries) == 200 and len({e["id"] for e in entries}) == 200
    reg = catalog.open_registry(db)
    assert len(reg.list_samples(tag="worker3")) == 50
    before = reg.list_samples()
    report = reg.rebuild([run])
    assert report["bad_lines"] == [] and report["samples"] == 200 and reg.list_samples() == before


def test_the_log_lives_in_the_run_folder(tmp_path):
    run = make_run(tmp_path, "run")
    (run / "best").mkdir()
    assert catalog.run_home(run / "best") == run.resolve()  # RUN/best is replaced by training; its run is not
    assert catalog.run_home(tmp_path / "bare-model") == (tmp_path / "bare-model").resolve()
    assert catalog.run_home(tmp_path / "elsewhere", rec_of(run)) == run.resolve()

"""The load test of the issue: concurrent clients against `genlab serve` on 127.0.0.1 for about 30 s
(GENLAB_LOAD_SECONDS), no 5xx, every answer well-formed, every limit enforced."""

from __future__ import annotations

import os

import pytest

from genlab.app.loadtest import percentiles, run_load, start_server, stop_server

from cli_helpers import run_cli

pytest.importorskip("uvicorn")


def test_concurrent_clients_get_well_formed_answers_and_no_5xx(tmp_path, session_text_file):
    for name, argv in {"vae": ("vae", "--data", "digits", "--set", "hidden=[16]"),
                       "lstm": ("lstm", "--data", f"text:{session_text_file}", "--set", "hidden_size=16",
                                "--set", "embedding_dim=8", "--set", "block_size=16")}.items():
        code, _, err = run_cli("train", *argv, "--steps", "2", "--out", tmp_path / name, "--progress", "false")
        assert code == 0, err
    seconds = float(os.environ.get("GENLAB_LOAD_SECONDS", "30"))
    proc, base = start_server([tmp_path / "vae", tmp_path / "lstm"], ["--queue", "1", "--max-samples", "8"])
    try:
        report = run_load(base, seconds=seconds, clients=6)
    finally:
        stderr = stop_server(proc)
    assert report["num_problems"] == 0, report["problems"]
    assert report["server_errors"] == 0
    statuses = report["by_status"]
    assert statuses.get("200", 0) > 0 and report["generations"] > 0
    for refused in ("404", "413", "422", "503"):  # every refusal seen: unknown model, too many, bad field, full queue
        assert statuses.get(refused, 0) > 0, (refused, statuses)
    assert report["requests"] == sum(statuses.values())
    assert "Traceback" not in stderr, stderr[-3000:]


def test_latency_percentiles_by_hand():
    # 0, 10, ..., 100 ms (11 values): the p-th percentile sits at 0-based rank 10 p / 100, interpolated
    # between the two values around it: p50 at rank 5 (50 ms), p95 at 9.5 (95 ms), p99 at 9.9 (99 ms)
    values = [ms / 1000 for ms in range(0, 101, 10)]
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert percentiles([0.2]) == {"p50": 200.0, "p95": 200.0, "p99": 200.0}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}

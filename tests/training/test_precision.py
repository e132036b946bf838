"""Precision chosen by the hardware: ``auto``, an explicit ``bf16`` on a CPU without native bf16,
and the recurrent layers that oneDNN cannot run in bf16 there.

A CPU without native bf16 is simulated on any machine by capping oneDNN at AVX2
(``ONEDNN_MAX_CPU_ISA=AVX2``, read by oneDNN when the process starts): oneDNN then behaves as on
an AVX2-only CPU (no bf16 LSTM), which is what the AMD EPYC machines without AVX-512 do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import genlab
from genlab import devices
from genlab.errors import ConfigError
from genlab.nn import GRU, LSTM

from conftest import TEXT

ROOT = Path(__file__).resolve().parents[2]
AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2"}


def run_capped(args: list[str], cwd: Path, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``genlab ARGS`` in a fresh process whose oneDNN computes as an AVX2-only CPU."""
    env = {**os.environ, **AVX2, **(env_extra or {}), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "genlab.app.cli", *args], cwd=cwd, env=env, capture_output=True,
                           text=True, timeout=300)


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


# ---- what the hardware does -----------------------------------------------------------------------
@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file() or "ONEDNN_MAX_CPU_ISA" in os.environ,
                    reason="needs /proc/cpuinfo and an uncapped oneDNN")
def test_native_bf16_agrees_with_the_cpu_flags():
    """torch's answer, checked against the kernel's list of the CPU's instructions."""
    flags = cpu_flags()
    assert devices.cpu_native_bf16() == bool({"amx_bf16", "avx512_bf16"} & flags)
    expected = "AMX" if "amx_bf16" in flags else "AVX512-BF16" if "avx512_bf16" in flags else None
    if expected:
        assert devices.cpu_capability() == expected


def test_auto_follows_the_hardware(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(devices, "native_bf16", lambda device: True)
    assert devices.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(devices, "native_bf16", lambda device: False)
    assert devices.resolve_precision("auto", cpu) == "fp32"
    assert devices.resolve_precision("fp32", cpu) == "fp32"
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16"):
        devices.resolve_precision("fp16", cpu)


def test_explicit_bf16_without_native_support_warns_once(monkeypatch, capsys):
    monkeypatch.setattr(devices, "native_bf16", lambda device: False)
    monkeypatch.setattr(devices, "_warned", set())
    cpu = torch.device("cpu")
    assert devices.resolve_precision("bf16", cpu) == "bf16"  # kept: it works, only slower
    assert devices.resolve_precision("bf16", cpu) == "bf16"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no native bf16" in err[0] and "--precision auto" in err[0]
    monkeypatch.setattr(devices, "native_bf16", lambda device: True)
    devices.resolve_precision("bf16", cpu)
    assert capsys.readouterr().err == ""


# ---- the recurrent layers ------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_recurrent_runs_fp32_where_onednn_has_no_bf16(cls, monkeypatch):
    """Inside bf16 autocast on a CPU without oneDNN bf16, the layer computes exactly its fp32 result."""
    torch.manual_seed(0)
    layer = cls(6, 8, num_layers=2, batch_first=True)
    reference = getattr(torch.nn, cls.__name__)(6, 8, num_layers=2, batch_first=True)
    reference.load_state_dict(layer.state_dict())  # torch's own keys: saved weights load either way
    assert list(layer.state_dict()) == list(reference.state_dict())
    x = torch.randn(3, 5, 6)
    with torch.no_grad():
        want, _ = reference(x)
        monkeypatch.setattr(devices, "onednn_bf16", lambda: False)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got, state = layer(x)
            got2, _ = layer(x[:, :1], state)  # a state it returned goes back in
    assert got.dtype == torch.float32 and got2.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_recurrent_models_take_a_bf16_step_on_an_avx2_cpu(tmp_path):
    """The bf16 contract test of every recurrent family, in a process whose oneDNN is capped at AVX2
    (before the fix: "could not create a primitive descriptor for the LSTM forward propagation")."""
    env = {**os.environ, **AVX2, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-o", "addopts=", "-rA", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "models" / "test_every_model.py"), "-k",
         "bf16 and (lstm or gru or nade)"], cwd=ROOT / "tests", env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    passed = [line for line in result.stdout.splitlines() if line.startswith("PASSED")]
    assert {p.split("[")[1].rstrip("]") for p in passed} >= {"lstm", "gru", "lstm-roll", "rnn-nade"}, result.stdout


def test_cli_records_precision_and_hardware_on_an_avx2_cpu(tmp_path):
    """``genlab train`` defaults to auto (fp32 there, no warning); an explicit bf16 trains the LSTM,
    warns once, and run.json records what was used and on what."""
    text = tmp_path / "book.txt"
    text.write_text(TEXT, encoding="utf-8")
    tiny = ["--set", "embedding_dim=8", "--set", "hidden_size=16", "--set", "block_size=16", "--steps", "2",
            "--batch-size", "4", "--progress", "false"]
    auto = run_capped(["train", "lstm", "--data", f"text:{text}", "--out", "auto", *tiny], tmp_path)
    assert auto.returncode == 0, auto.stderr
    assert "native bf16" not in auto.stderr
    run = json.loads((tmp_path / "auto" / "run.json").read_text())
    assert run["train"]["precision"] == "auto" and run["precision"] == "fp32"
    assert run["hardware"]["native_bf16"] is False and run["hardware"]["cpu_capability"] in ("AVX2", "DEFAULT")

    bf16 = run_capped(["train", "lstm", "--data", f"text:{text}", "--out", "bf16", "--precision", "bf16", *tiny],
                      tmp_path)
    assert bf16.returncode == 0, bf16.stderr
    assert "Traceback" not in bf16.stderr
    assert [line for line in bf16.stderr.splitlines() if "no native bf16" in line].__len__() == 1
    run = json.loads((tmp_path / "bf16" / "run.json").read_text())
    assert run["precision"] == "bf16" and run["hardware"]["native_bf16"] is False


def test_trainer_resolves_auto(digits, monkeypatch):
    from conftest import fast_train_config
    from genlab.training import trainer as trainer_module

    monkeypatch.setattr(devices, "native_bf16", lambda device: False)
    model = genlab.create_model("vae", data=digits, hidden=[8], latent_dim=2)
    assert trainer_module.Trainer(model, digits, fast_train_config(precision="auto")).precision == "fp32"
    monkeypatch.setattr(devices, "native_bf16", lambda device: True)
    assert trainer_module.Trainer(model, digits, fast_train_config(precision="auto")).precision == "bf16"

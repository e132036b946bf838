"""Device and precision selection shared by training, evaluation and comparison.

Precision is chosen by asking torch what the hardware computes, never by the CPU's name:

- ``fp32``: everything in float32.
- ``bf16``: bfloat16 autocast (weights, optimizer state and losses stay float32).
- ``auto``: bf16 where the device computes it natively (a CUDA GPU with bf16 support; a CPU with
  AMX or AVX-512 BF16 instructions that oneDNN is allowed to use), fp32 everywhere else.

On a CPU without native bf16 (AVX2 only, as on many AMD EPYC and laptop CPUs) bf16 is emulated:
several times slower than fp32, and oneDNN has no bf16 LSTM there. Asked for explicitly, it still
works: :class:`genlab.nn.recurrent.LSTM` runs in fp32 inside the autocast region, and a warning
says once that it will be slower.
"""

from __future__ import annotations

import functools
import platform
import sys
from pathlib import Path
from typing import Any

import torch

from .errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16")


def pick_device(name: str) -> torch.device:
    """The torch device ``name`` names (``auto`` = a GPU if there is one); a one-line error for a
    device that is misspelt or not on this machine."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' was asked for but CUDA is not available; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"device '{name}' was asked for but this machine has {torch.cuda.device_count()} GPU(s); "
                          "use cuda:0 or --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device '{name}' was asked for but MPS is not available; use --device cpu")
    return device


# ---- what the CPU computes -------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def onednn_bf16() -> bool:
    """True when oneDNN runs bf16 kernels on this CPU (natively or emulated on AVX-512). False on
    AVX2-only CPUs, or when ``ONEDNN_MAX_CPU_ISA`` caps oneDNN below AVX-512: there oneDNN has no
    bf16 LSTM, and its bf16 matrix products are emulated."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return False


@functools.lru_cache(maxsize=None)
def cpu_native_bf16() -> bool:
    """True when this CPU has bf16 instructions (AMX-BF16 or AVX-512 BF16) and oneDNN may use them."""
    has = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)() or \
        getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    return bool(has) and onednn_bf16()


def native_bf16(device: torch.device) -> bool:
    """True when ``device`` computes bf16 natively (so bf16 autocast is a speed-up, not emulation)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))  # emulated bf16 (pre-Ampere) is not native
    if device.type == "cpu":
        return cpu_native_bf16()
    return False


def cpu_name() -> str:
    """The CPU's model name ("Intel(R) Xeon(R) Processor", "AMD EPYC 7B13"...), for records only."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_capability() -> str:
    """The CPU's widest bf16-relevant instruction set as torch sees it: ``AMX``, ``AVX512-BF16``,
    ``AVX512``, ``AVX2`` or ``DEFAULT`` (oneDNN's cap, ``ONEDNN_MAX_CPU_ISA``, taken into account)."""
    if cpu_native_bf16():
        return "AMX" if getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)() else "AVX512-BF16"
    try:
        isa = torch.backends.cpu.get_cpu_capability()  # ATen's vector width: AVX512, AVX2, DEFAULT...
    except (AttributeError, RuntimeError):
        isa = "DEFAULT"
    if isa.startswith("AVX512") and not onednn_bf16():
        return "AVX2"  # oneDNN capped below AVX-512: it computes as an AVX2 CPU would
    return isa


def hardware(device: torch.device | None = None) -> dict[str, Any]:
    """What ran a job, as run.json and benchmark records keep it: the device, the CPU's name and
    capability, and whether bf16 is native there."""
    device = device or torch.device("cpu")
    info: dict[str, Any] = {"device": str(device), "cpu": cpu_name(), "cpu_capability": cpu_capability(),
                            "native_bf16": native_bf16(device), "torch": torch.__version__}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


# ---- precision ------------------------------------------------------------------------------------
_warned: set[str] = set()


def resolve_precision(precision: str, device: torch.device) -> str:
    """``fp32`` or ``bf16``: what ``precision`` (``auto``, ``fp32`` or ``bf16``) means on ``device``.

    ``auto`` is bf16 only where the device computes bf16 natively. An explicit ``bf16`` is kept
    everywhere (it works for every family), with a one-time warning where it is emulated."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}; "
                          "auto picks bf16 only where the hardware computes it natively")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if precision == "bf16" and not native_bf16(device):
        where = "this CPU" if device.type == "cpu" else f"device {device}"
        key = f"{device.type}:{precision}"
        if key not in _warned:
            _warned.add(key)
            print(f"warning: {where} ({cpu_capability() if device.type == 'cpu' else device.type}) has no native bf16: "
                  "bf16 is emulated and will be slower than fp32; use --precision auto or fp32",
                  file=sys.stderr)
    return precision


def bf16_autocast(device: torch.device, enabled: bool):
    """The autocast context the trainer trains and previews in (a no-op when not ``enabled``)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)

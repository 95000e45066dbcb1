"""Which bundled hardware profile this host is: nvidia-smi or NVML, rocm-smi, else cpu."""

from __future__ import annotations

import shutil
import subprocess

# Product-name fragments, most specific first.
NAMES = [("MI355", "mi355x"), ("B200", "b200"), ("H200", "h200"), ("H100", "h100")]


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def gpu_names() -> list[str]:
    names: list[str] = []
    try:
        import pynvml  # nvidia-ml-py, where installed

        pynvml.nvmlInit()
        for i in range(pynvml.nvmlDeviceGetCount()):
            name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))
            names.append(name.decode() if isinstance(name, bytes) else name)
        pynvml.nvmlShutdown()
    except Exception:  # no NVML library, no driver, no GPU: fall through to the CLIs
        pass
    if not names and shutil.which("nvidia-smi"):
        names = [
            ln.strip()
            for ln in _run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]).splitlines()
            if ln.strip()
        ]
    if not names and shutil.which("rocm-smi"):
        names = [
            ln for ln in _run(["rocm-smi", "--showproductname"]).splitlines() if "series" in ln.lower() or "MI" in ln
        ]
    return names


def detect(names: list[str] | None = None) -> str:
    """The bundled hardware profile's name for these GPU names (detected when not given)."""
    names = gpu_names() if names is None else names
    for name in names:
        for fragment, profile in NAMES:
            if fragment.lower() in name.lower():
                return profile
    return "cpu"

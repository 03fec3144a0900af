"""Where training runs: `--device auto|cpu|cuda`, and the precision used there.

Why one place: a recipe's figures must not depend on the device, so every loop asks here
for the device and its autocast instead of testing `torch.cuda.is_available()` itself.
CUDA runs in bf16 autocast (no loss scaling needed, the weights stay fp32); the CPU runs
fp32, the precision the shipped models were trained in.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager

from core.errors import UsageError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(choice: str = "auto"):
    """The torch device for `choice`; `cuda` without a visible GPU is a usage error."""
    import torch

    choice = (choice or "auto").strip().lower()
    if choice not in DEVICES:
        raise UsageError(f"--device must be one of {', '.join(DEVICES)}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is visible")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def autocast(device) -> ContextManager:
    """bf16 autocast on CUDA, nothing elsewhere."""
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def describe(device) -> str:
    """A line for logs and cards: the device kind and precision, never a host name."""
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)}), bf16 autocast"
    return f"cpu ({torch.get_num_threads()} threads), fp32"

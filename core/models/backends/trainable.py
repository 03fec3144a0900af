"""What the training loop needs from a backend, whatever the framework."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Trainable(Protocol):
    framework: str

    def set_stage(self, trainable: str, lr: float, weight_decay: float) -> None:
        """trainable: 'all', 'head', or 'top:F' (the last fraction F of the layers)."""

    def set_lr(self, lr: float) -> None: ...

    def fit_batch(self, x: np.ndarray, y: np.ndarray, class_weight: np.ndarray) -> float: ...

    def forward(self, batch: np.ndarray) -> np.ndarray: ...

    def n_params(self) -> int: ...

    def save(self, folder: str, fp16: bool) -> str:
        """Write the weights into `folder`; return the file name."""

    def save_checkpoint(self, path: str) -> None: ...

    def load_checkpoint(self, path: str, with_optimizer: bool = True) -> None: ...


def trainable_suffix(names: list[str], spec: str) -> set[str]:
    """Names (in network order) that train under a stage spec: all, head, or top:F."""
    if spec == "all":
        return set(names)
    if spec == "head":
        return set()
    if spec.startswith("top:"):
        frac = float(spec.split(":", 1)[1])
        k = max(1, int(round(frac * len(names))))
        return set(names[-k:])
    raise ValueError(f"unknown trainable spec {spec!r} (all | head | top:F)")

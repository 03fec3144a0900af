"""The best epoch's weights by validation score, and when patience has run out.

Why: the patch net, the U-Net, the map top and the classifier all keep the weights of their
best validation epoch and stop after `patience` epochs without a gain; one keeper means they
agree on what "better" is (a gain above 1e-6) and on when a run stops. The classifier keeps
its best weights as a checkpoint file (torch or Keras) instead: a subclass's `keep`.
"""
from __future__ import annotations

import copy
import math
from typing import Any

import torch


class BestEpoch:
    """Keeps a copy of the module's state at its best validation score."""

    def __init__(self, module: torch.nn.Module, patience: int | None = None, min_gain: float = 1e-6) -> None:
        self.score = -math.inf
        self.state: Any = self.keep(module)
        self.patience = patience
        self.min_gain = min_gain
        self.stale = 0

    def keep(self, module: Any) -> Any:
        """The best weights so far: a copy of the module's state."""
        return copy.deepcopy(module.state_dict())

    def update(self, score: float, module: Any, *, counts_toward_patience: bool = True) -> bool:
        """Record one epoch's score; True when it is the new best."""
        if score > self.score + self.min_gain:
            self.score, self.state, self.stale = score, self.keep(module), 0
            return True
        if counts_toward_patience:
            self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.stale > 0 and self.stale >= self.patience

    def restore(self, module: torch.nn.Module) -> None:
        """Load the best state back and put the module in eval mode."""
        module.load_state_dict(self.state)
        module.eval()

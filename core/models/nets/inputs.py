"""A grey image as the lesion nets take it, in numpy: no torch needed to feed a served graph."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def normalised(gray: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Grey float image(s) in [0, 1] (H x W or N x H x W) -> normalised N x 3 x H x W float32,
    the same arithmetic as `patch_net.to_tensor` (subtract the channel mean, divide by its sd)."""
    x = np.ascontiguousarray(gray, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    x = np.broadcast_to(x[:, None], (x.shape[0], 3, *x.shape[1:]))
    m = np.asarray(mean, np.float32)[None, :, None, None]
    s = np.asarray(std, np.float32)[None, :, None, None]
    return np.ascontiguousarray((x - m) / s, dtype=np.float32)

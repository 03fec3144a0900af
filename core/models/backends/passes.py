"""How many model runs go side by side, and one large network pass at a time in a process.

The pages run two models side by side (`core.serving.inference.run_models`). A dense patch
pass or a U-Net pass over a 1,024-px breast allocates far more for a moment than a 224-px
classifier does, so a large pass waits for another one while a small classifier still runs
beside it: the worst case stays one large pass plus one small one. On the benchmark alone it
made no difference beyond the noise (one session 1.50 GB with it, 1.45-1.52 GB without);
what brought the peak back down was letting a model's first run go alone. Taken inside a
model's own lock only (never the other way round), so it cannot deadlock.
"""

from __future__ import annotations

import os
import threading

LARGE_PASS = threading.Lock()


def model_workers() -> int:
    """Models run side by side, two on a host with two cores or more: each uses one torch
    thread (`limit_torch_threads`), so two use both cores. Two cost ~100 MB more at peak
    (README); `MAMMO_MODEL_WORKERS=1` runs them one at a time where memory is tighter."""
    try:
        wanted = int(os.environ.get("MAMMO_MODEL_WORKERS", "2"))
    except ValueError:
        wanted = 2
    return max(1, min(wanted, 2, os.cpu_count() or 1))

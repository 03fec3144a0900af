"""One epoch of the dense patch net: the step every device and every Ray Train worker runs.

Kept apart from the fold loop (`patch_loop.py`) so that the Ray Train worker (`ray_fit.py`)
and the loop both import it, and neither imports the other.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.training.device import autocast


def fit_epoch(net, loader, opt, weight, device, *, head_only: bool, max_batches: int | None = None) -> tuple[list[float], int]:
    """One pass over the loader: the step every device and every Ray Train worker runs."""
    net.train()
    if head_only:
        getattr(net, "module", net).trunk.eval()  # frozen trunk keeps its ImageNet BatchNorm statistics
    losses, seen = [], 0
    for b, (xb, yb) in enumerate(loader):
        if max_batches is not None and b >= max_batches:
            break
        xb = xb.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        with autocast(device):
            loss = F.cross_entropy(net(xb).float(), yb.to(device), weight=weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        seen += len(yb)
    return losses, seen

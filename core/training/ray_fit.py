"""The dense patch net's epochs on Ray Train (`core train --address`): one machine or many.

Why Ray Train: scoring already runs on Ray Data, and `TorchTrainer` gives data-parallel
torch (DDP over gloo on CPUs, NCCL on GPUs) with checkpoints the run resumes from. The
driver keeps the recipe's loop (patch plan, epoch choice on validation maps, early
stopping); each epoch's optimiser steps run on the workers with the same `fit_epoch` step
as a local run. Each worker reads its share of the plan from the shared film cache (a
DistributedSampler), so no film is sent between processes: the cache folder must be
visible to every worker (a shared file system on a cluster).
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.training.cache import CachedFilm, FilmCache, FilmPipeline


@dataclass(frozen=True)
class RayTarget:
    """Where `core train --address` runs the patch net's epochs: a cluster address (or
    "local": a Ray instance on this machine), the number of Ray Train workers, GPUs or not,
    and the folder its checkpoints live in (a shared one on a cluster)."""

    address: str
    num_workers: int
    use_gpu: bool
    storage: Path

    def describe(self) -> str:
        where = "a local Ray instance" if self.address == "local" else "a Ray cluster"
        return f"{self.num_workers} worker(s) on {where}, {'GPU' if self.use_gpu else 'CPU'}"


def _epoch_worker(config: dict[str, Any]) -> None:
    """One epoch of the recipe on every worker: the shared `fit_epoch` step over a
    DistributedSampler's share of the plan; rank 0 reports the net and optimiser state."""
    import io

    import numpy as np
    import ray.train
    import ray.train.torch
    import torch

    from core.models.nets.patch_net import DensePatchNet
    from core.training.patch_step import fit_epoch
    from core.training.patches import PatchDataset, PatchPlan, patch_loader

    torch.manual_seed(config["seed"])
    cache = FilmCache(FilmPipeline(**config["pipeline"]), root=Path(config["cache_root"]))
    films = [CachedFilm(**f) for f in config["films"]]
    net = DensePatchNet(config["backbone"], 3, config["window"], config["drop_rate"])
    net.load_state_dict(torch.load(io.BytesIO(config["net"]), weights_only=False))
    for p in net.trunk.parameters():
        p.requires_grad_(not config["head_only"])
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=config["lr"], weight_decay=config["weight_decay"])
    opt.load_state_dict(torch.load(io.BytesIO(config["opt"]), weights_only=False))
    device = ray.train.torch.get_device()
    model = ray.train.torch.prepare_model(net.to(memory_format=torch.channels_last))
    plan = PatchPlan(*(np.asarray(config["plan"][k], np.int64) for k in ("film", "x0", "y0", "label")))
    side = net.stride * net.window
    ds = PatchDataset(plan, films, cache, side, config["mean"], config["std"], seed=config["seed"] * 1000 + config["epoch"])
    loader = ray.train.torch.prepare_data_loader(patch_loader(ds, config["batch_size"], seed=config["seed"] * 1000 + config["epoch"]))
    weight = torch.tensor(config["weight"], dtype=torch.float32, device=device)
    losses, seen = fit_epoch(model, loader, opt, weight, device, head_only=config["head_only"], max_batches=config["max_batches"])
    metrics = {"epoch": config["epoch"], "losses": losses, "seen": seen}
    with tempfile.TemporaryDirectory() as d:
        if ray.train.get_context().get_world_rank() == 0:
            inner = model.module if hasattr(model, "module") else model
            torch.save({"net": {k: v.cpu() for k, v in inner.state_dict().items()}, "opt": opt.state_dict()}, Path(d) / "state.pt")
            ray.train.report(metrics | {"world_seen": seen * ray.train.get_context().get_world_size()}, checkpoint=ray.train.Checkpoint.from_directory(d))
        else:
            ray.train.report(metrics)


def fit_epoch_on_ray(net, opt, plan, data, cfg: dict[str, Any], weight, *, head_only: bool, epoch: int, recipe, target: RayTarget) -> tuple[list[float], int]:
    """Train `net` (and `opt`) for one epoch of `plan` on Ray Train; both are updated in place.
    An epoch whose checkpoint the storage already holds is read back, not rerun (nor is Ray
    started for it)."""
    import io

    import ray
    import torch
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    name = f"epoch{epoch:03d}"
    done = target.storage / name / "result.pt"
    if done.exists():  # read back: no cluster needed
        saved = torch.load(done, weights_only=False)
    else:
        if not ray.is_initialized():
            ray.init(address=None if target.address == "local" else target.address, include_dashboard=False, log_to_driver=False,
                     **({"num_cpus": max(2, target.num_workers)} if target.address == "local" else {}))

        def blob(obj) -> bytes:
            buf = io.BytesIO()
            torch.save(obj, buf)
            return buf.getvalue()

        config = {"films": [asdict(f) for f in data.films], "pipeline": asdict(data.cache.pipeline), "cache_root": str(data.cache.folder.parent),
                  "plan": {k: getattr(plan, k).tolist() for k in ("film", "x0", "y0", "label")}, "net": blob({k: v.cpu() for k, v in net.state_dict().items()}), "opt": blob(opt.state_dict()),
                  "head_only": head_only, "lr": opt.param_groups[0]["lr"], "weight_decay": opt.param_groups[0].get("weight_decay", 0.0), "weight": weight.cpu().tolist(),
                  "mean": list(cfg["mean"]), "std": list(cfg["std"]), "epoch": epoch, "seed": recipe.seed, "batch_size": recipe.batch_size, "max_batches": recipe.max_batches,
                  "backbone": recipe.backbone, "window": recipe.window, "drop_rate": recipe.drop_rate}
        trainer = TorchTrainer(_epoch_worker, train_loop_config=config, scaling_config=ScalingConfig(num_workers=target.num_workers, use_gpu=target.use_gpu),
                               run_config=RunConfig(name=name, storage_path=str(target.storage), checkpoint_config=CheckpointConfig(num_to_keep=1), failure_config=FailureConfig(max_failures=0)))
        result = trainer.fit()
        if result.error is not None:
            raise result.error
        with result.checkpoint.as_directory() as d:
            state = torch.load(Path(d) / "state.pt", weights_only=False)
        saved = {"state": state, "losses": result.metrics["losses"], "seen": result.metrics["world_seen"]}
        done.parent.mkdir(parents=True, exist_ok=True)
        torch.save(saved, done)
    device = next(net.parameters()).device
    net.load_state_dict({k: v.to(device) for k, v in saved["state"]["net"].items()})
    opt.load_state_dict(saved["state"]["opt"])
    return list(saved["losses"]), int(saved["seen"])



"""The dense patch net's training loop on Ray Train: several workers, one machine or many.

Why Ray Train: scoring already runs on Ray Data, and `TorchTrainer` gives data-parallel
torch (DDP over gloo on CPUs, NCCL on GPUs) with checkpoints the run resumes from,
locally (`num_workers` processes) or on a cluster (`address`). Each worker reads its
share of one epoch's patch plan from the shared film cache (a DistributedSampler), so no
film is sent between processes: the cache folder must be visible to every worker.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .cache import CachedFilm, FilmCache, FilmPipeline


def _worker_loop(config: dict[str, Any]) -> None:
    """Runs in every Ray Train worker: DDP model, distributed patch loader, per-epoch report."""
    import numpy as np
    import ray.train
    import ray.train.torch
    import torch
    import torch.nn.functional as F

    from ..lesion.patch_net import DensePatchNet, data_config
    from .device import autocast
    from .patches import PatchDataset, patch_loader, plan_patches

    torch.manual_seed(config["seed"])
    cache = FilmCache(FilmPipeline(**config["pipeline"]), root=Path(config["cache_root"]))
    films = [CachedFilm(**f) for f in config["films"]]
    net = DensePatchNet(config["backbone"], 3, config["window"], config["drop_rate"])
    cfg = data_config(net.trunk)
    side = net.stride * net.window
    start = 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:  # resume where the last reported epoch ended
        with checkpoint.as_directory() as d:
            saved = torch.load(Path(d) / "state.pt", weights_only=False)
        net.load_state_dict(saved["net"])
        start = saved["epoch"] + 1
    model = ray.train.torch.prepare_model(net)
    device = ray.train.torch.get_device()
    opt = torch.optim.Adam(model.parameters(), lr=config["lr"])
    for epoch in range(start, config["epochs"]):
        plan = plan_patches(films, config["labels"], config["train_idx"], cache, side, np.random.default_rng((config["seed"], epoch)))
        ds = PatchDataset(plan, films, cache, side, cfg["mean"], cfg["std"], seed=config["seed"] * 1000 + epoch)
        loader = ray.train.torch.prepare_data_loader(patch_loader(ds, config["batch_size"], seed=epoch))
        model.train()
        losses = []
        for b, (x, y) in enumerate(loader):
            if config.get("max_batches") and b >= config["max_batches"]:
                break
            with autocast(device):
                loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        metrics = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else float("nan"), "patches": len(plan)}
        with tempfile.TemporaryDirectory() as d:
            if ray.train.get_context().get_world_rank() == 0:
                inner = model.module if hasattr(model, "module") else model
                torch.save({"net": inner.state_dict(), "epoch": epoch}, Path(d) / "state.pt")
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d))
            else:
                ray.train.report(metrics)


def fit_patch_net_on_ray(films: list[CachedFilm], labels: list[str], train_idx: list[int], cache: FilmCache, *, epochs: int, num_workers: int = 2, use_gpu: bool = False, address: str | None = None, storage: Path, name: str, batch_size: int = 32, lr: float = 2e-4, seed: int = 0, backbone: str = "tf_efficientnet_lite0", window: int = 4, drop_rate: float = 0.2, max_batches: int | None = None):
    """Train on `num_workers` Ray Train workers; returns Ray's `Result` (its checkpoint holds
    the state dict). A second call with the same `storage` and `name` resumes."""
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, **({} if address else {"num_cpus": max(2, num_workers)}))
    config = {"films": [asdict(f) for f in films], "labels": list(labels), "train_idx": list(map(int, train_idx)), "pipeline": asdict(cache.pipeline), "cache_root": str(cache.folder.parent), "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "backbone": backbone, "window": window, "drop_rate": drop_rate, "max_batches": max_batches}
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu),
        run_config=RunConfig(name=name, storage_path=str(storage), checkpoint_config=CheckpointConfig(num_to_keep=2), failure_config=FailureConfig(max_failures=0)),
    )
    return trainer.fit()

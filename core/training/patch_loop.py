"""Train the dense patch classifier (seeds 000/004) and its whole-image top (Shen et al.).

One fold = train on the training images' patches, choose the epoch, the score rules
and the thresholds on the validation images (whole images, dense maps), then score the
held-out images. The fixed split is fold 0 (test) with fold 1 as validation, exactly
`split_patients`, so the shipped model is also the first out-of-fold model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from core.evaluation.metrics import auc
from core.models.nets.dense import patch_maps, stage_scores
from core.training.best_epoch import BestEpoch
from core.training.device import describe
from core.training.epoch_loop import EpochLoop
from core.training.films import StreamedFilms
from core.training.patch_step import fit_epoch  # the one epoch step, shared with Ray Train
from core.training.patches import PatchDataset, patch_loader, plan_patches
from core.models.nets.patch_net import DensePatchNet, MapTop, data_config, load_lite0_imagenet
from core.models.nets.score_rules import candidate_rules

Log = Callable[[str], None]


@dataclass
class PatchRecipe:
    backbone: str = "tf_efficientnet_lite0"
    window: int = 4  # cells of 32 px: 128-px patches at MIAS's 200 µm
    drop_rate: float = 0.2
    jitter_per_lesion: int = 6
    background_per_image: int = 3
    batch_size: int = 32
    head_epochs: int = 1
    head_lr: float = 1e-3
    epochs: int = 7
    lr: float = 2e-4
    lr_decay: float = 0.85
    weight_decay: float = 1e-5
    patience: int = 3
    seed: int = 0
    top_epochs: int = 200
    top_lr: float = 3e-3
    max_batches: int | None = None  # smoke runs
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PatchRecipe":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def fold_maps(net: DensePatchNet, data: StreamedFilms, idx: np.ndarray, cfg: dict[str, Any], progress=None) -> list[dict[str, np.ndarray]]:
    it = progress(idx) if progress else idx
    return [patch_maps(net, data.images[i], data.breasts[i], cfg["mean"], cfg["std"]) for i in it]


def choose_rules(maps: list[dict[str, np.ndarray]], data: StreamedFilms, idx: np.ndarray) -> dict[str, Any]:
    """Score rules for stage 1 and stage 2 with the best validation ROC-AUC."""
    labels = [data.records[i].label for i in idx]
    y1 = np.array([l != "normal" for l in labels])
    lesion = np.array([l != "normal" for l in labels])
    y2 = np.array([l == "malignant" for l in labels])
    best: dict[str, Any] = {}
    for rule in candidate_rules():
        s = np.array([stage_scores(m, rule, rule) for m in maps])
        a1, a2 = auc(y1, s[:, 0]), auc(y2[lesion], s[lesion, 1])
        best.setdefault("candidates", []).append({"rule": rule, "val_auc_stage1": a1, "val_auc_stage2": a2})
        if np.nan_to_num(a1, nan=-1) > best.get("a1", -1):
            best.update(a1=a1, stage1_rule=rule)
        if np.nan_to_num(a2, nan=-1) > best.get("a2", -1):
            best.update(a2=a2, stage2_rule=rule)
    return {"stage1_rule": best.get("stage1_rule", "max"), "stage2_rule": best.get("stage2_rule", "max"), "candidates": best["candidates"]}


class PatchNetLoop(EpochLoop):
    """The dense patch net's epochs: head-only epochs first (they never end a run), then the
    whole net with a decaying learning rate; judged on the validation films' dense maps."""

    def __init__(self, data: StreamedFilms, train_idx: np.ndarray, val_idx: np.ndarray, recipe: PatchRecipe, log: Log, device, workers: int, ray) -> None:
        torch.manual_seed(recipe.seed)
        self.rng = np.random.default_rng(recipe.seed)
        net = DensePatchNet(recipe.backbone, 3, recipe.window, recipe.drop_rate)
        self.init = load_lite0_imagenet(net.trunk)
        self.cfg = data_config(net.trunk)
        net = net.to(device, memory_format=torch.channels_last)
        super().__init__(net, recipe.head_epochs + recipe.epochs, BestEpoch(net, patience=recipe.patience), log)
        self.data, self.train_idx, self.val_idx, self.recipe, self.device, self.workers, self.ray = data, train_idx, val_idx, recipe, device, workers, ray
        self.side = net.stride * net.window
        self.labels = [r.label for r in data.records]
        val_labels = [self.labels[i] for i in val_idx]
        self.y1 = np.array([l != "normal" for l in val_labels])
        self.y2 = np.array([l == "malignant" for l in val_labels])
        log(f"patch net on {describe(device)}, {workers} loader workers" if ray is None else f"patch net epochs on Ray Train: {ray.describe()}")

    def head_only(self, epoch: int) -> bool:
        return epoch < self.recipe.head_epochs

    def on_epoch_start(self, epoch: int) -> None:
        r, net, head_only = self.recipe, self.module, self.head_only(epoch)
        for p in net.trunk.parameters():
            p.requires_grad_(not head_only)
        if epoch == 0 or epoch == r.head_epochs:
            params = [p for p in net.parameters() if p.requires_grad]
            self.opt = torch.optim.Adam(params, lr=r.head_lr if head_only else r.lr, weight_decay=r.weight_decay)
        self.lr = r.head_lr if head_only else r.lr * r.lr_decay ** (epoch - r.head_epochs)
        for g in self.opt.param_groups:
            g["lr"] = self.lr

    def fit_epoch(self, epoch: int) -> dict[str, Any]:
        r, data, head_only, t0 = self.recipe, self.data, self.head_only(epoch), time.time()
        plan = plan_patches(data.films, self.labels, self.train_idx, data.cache, self.side, self.rng, jitter_per_lesion=r.jitter_per_lesion, background_per_image=r.background_per_image)
        counts = plan.counts()
        weight = torch.tensor(len(plan) / (3 * np.maximum(counts, 1)), dtype=torch.float32, device=self.device)
        loader = patch_loader(PatchDataset(plan, data.films, data.cache, self.side, self.cfg["mean"], self.cfg["std"], seed=r.seed * 1000 + epoch), r.batch_size, workers=self.workers, seed=r.seed * 1000 + epoch)
        if self.ray is not None:  # the same epoch, data-parallel on Ray Train workers
            from core.training.ray_fit import fit_epoch_on_ray

            losses, self.seen = fit_epoch_on_ray(self.module, self.opt, plan, data, self.cfg, weight, head_only=head_only, epoch=epoch, recipe=r, target=self.ray)
        else:
            losses, self.seen = fit_epoch(self.module, loader, self.opt, weight, self.device, head_only=head_only, max_batches=r.max_batches)
        self.train_s = time.time() - t0
        return {"stage": "head" if head_only else "all", "lr": self.lr, "patches": int(len(plan)), "patch_counts": counts.tolist(), "train_loss": float(np.mean(losses))}

    def validate(self, epoch: int) -> tuple[float, dict[str, Any]]:
        maps = fold_maps(self.module, self.data, self.val_idx, self.cfg)
        s = np.array([stage_scores(m, "top_area_mean:4096", "top_area_mean:4096") for m in maps])
        a1, a2 = auc(self.y1, s[:, 0]), auc(self.y2[self.y1], s[self.y1, 1])
        return np.nan_to_num(a1, nan=0.5) + np.nan_to_num(a2, nan=0.5), {"val_auc_stage1": a1, "val_auc_stage2": a2}

    def counts_toward_patience(self, epoch: int) -> bool:
        return not self.head_only(epoch)

    def timing(self, seconds: float) -> dict[str, Any]:
        return {"seconds": round(seconds, 1), "patches_per_s": round(self.seen / self.train_s, 1) if self.train_s else None}

    def describe(self, epoch: int, row: dict[str, Any], improved: bool) -> str:
        return (f"epoch {row['epoch']}/{self.total} ({row['stage']}): loss {row['train_loss']:.4f} val AUC stage1 {row['val_auc_stage1']:.3f} stage2 {row['val_auc_stage2']:.3f} "
                f"({row['seconds']} s, {row['patches_per_s']} patches/s)")


def train_patch_net(data: StreamedFilms, train_idx: np.ndarray, val_idx: np.ndarray, recipe: PatchRecipe, log: Log = print, *, device=None, workers: int = 0, ray=None) -> tuple[DensePatchNet, list[dict[str, Any]], dict[str, Any]]:
    """Each epoch: a fresh patch plan over the training films (the recipe's sampling), its
    patches cut from the film cache by a DataLoader with `workers`, on `device` (bf16
    autocast on CUDA), or on Ray Train workers (`ray`: a `RayTarget`); the epoch is chosen
    on the validation films' dense maps, here."""
    device = device or torch.device("cpu")
    loop = PatchNetLoop(data, train_idx, val_idx, recipe, log, device, workers, ray)
    history = loop.run()
    return loop.module, history, {"initial_weights": loop.init, "data_config": loop.cfg, "device": describe(device)}


class MapTopLoop(EpochLoop):
    """Shen's whole-image top: one full-batch step an epoch (half the films flipped), every
    epoch judged; no patience, no log line but the best score at the end."""

    def __init__(self, train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray, recipe: PatchRecipe, log: Log) -> None:
        torch.manual_seed(recipe.seed)
        top = MapTop()
        self.opt = torch.optim.Adam(top.parameters(), lr=recipe.top_lr, weight_decay=1e-4)
        counts = np.bincount(train_y, minlength=3)
        self.weight = torch.tensor(len(train_y) / (3 * np.maximum(counts, 1)), dtype=torch.float32)
        self.xt, self.yt, self.xv = torch.from_numpy(train_x), torch.from_numpy(train_y), torch.from_numpy(val_x)
        self.yv1, self.yv2 = val_y > 0, val_y == 2
        super().__init__(top, recipe.top_epochs, BestEpoch(top), log)
        self.gen = torch.Generator().manual_seed(recipe.seed)

    def fit_epoch(self, epoch: int) -> dict[str, Any]:
        top = self.module
        top.train()
        flip = torch.rand(len(self.xt), generator=self.gen) < 0.5
        xb = torch.where(flip[:, None, None, None], self.xt.flip(-1), self.xt)
        loss = F.cross_entropy(top(xb), self.yt, weight=self.weight)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"train_loss": float(loss.detach())}

    def validate(self, epoch: int) -> tuple[float, dict[str, Any]]:
        top, yv1, yv2 = self.module, self.yv1, self.yv2
        top.eval()
        with torch.no_grad():
            p = torch.softmax(top(self.xv), 1).numpy()
        a1 = auc(yv1, 1 - p[:, 0])
        a2 = auc(yv2[yv1], p[yv1, 2] / np.maximum(p[yv1, 1] + p[yv1, 2], 1e-9))
        return np.nan_to_num(a1, nan=0.5) + np.nan_to_num(a2, nan=0.5), {"val_auc_stage1": a1, "val_auc_stage2": a2}

    def row(self, epoch: int, fit: dict[str, Any], val: dict[str, Any], seconds: float, improved: bool) -> dict[str, Any]:
        return {"epoch": epoch + 1, **fit, **val}

    def finish(self) -> None:
        super().finish()
        self.log(f"map top: best validation AUC sum {self.keeper.score:.3f}")


def train_map_top(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray, recipe: PatchRecipe, log: Log = print) -> tuple[MapTop, list[dict[str, Any]]]:
    """Shen's whole-image top layers over the patch map, trained on whole images (full batch)."""
    loop = MapTopLoop(train_x, train_y, val_x, val_y, recipe, log)
    history = loop.run()
    return loop.module, history

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
from sklearn.metrics import roc_auc_score

from core.models.nets.dense import patch_maps, stage_scores
from core.training.best_epoch import BestEpoch
from core.training.device import describe
from core.training.films import StreamedFilms
from core.training.patch_step import fit_epoch  # noqa: F401  (the one epoch step, shared with Ray Train)
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


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    y = np.asarray(y)
    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else float("nan")


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
        a1, a2 = _auc(y1, s[:, 0]), _auc(y2[lesion], s[lesion, 1])
        best.setdefault("candidates", []).append({"rule": rule, "val_auc_stage1": a1, "val_auc_stage2": a2})
        if np.nan_to_num(a1, nan=-1) > best.get("a1", -1):
            best.update(a1=a1, stage1_rule=rule)
        if np.nan_to_num(a2, nan=-1) > best.get("a2", -1):
            best.update(a2=a2, stage2_rule=rule)
    return {"stage1_rule": best.get("stage1_rule", "max"), "stage2_rule": best.get("stage2_rule", "max"), "candidates": best["candidates"]}


def train_patch_net(data: StreamedFilms, train_idx: np.ndarray, val_idx: np.ndarray, recipe: PatchRecipe, log: Log = print, *, device=None, workers: int = 0, ray=None) -> tuple[DensePatchNet, list[dict[str, Any]], dict[str, Any]]:
    """Each epoch: a fresh patch plan over the training films (the recipe's sampling), its
    patches cut from the film cache by a DataLoader with `workers`, on `device` (bf16
    autocast on CUDA), or on Ray Train workers (`ray`: a `RayTarget`); the epoch is chosen
    on the validation films' dense maps, here."""
    device = device or torch.device("cpu")
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    net = DensePatchNet(recipe.backbone, 3, recipe.window, recipe.drop_rate)
    init = load_lite0_imagenet(net.trunk)
    cfg = data_config(net.trunk)
    net = net.to(device, memory_format=torch.channels_last)
    side = net.stride * net.window
    labels = [r.label for r in data.records]
    history: list[dict[str, Any]] = []
    keeper = BestEpoch(net, patience=recipe.patience)
    val_labels = [labels[i] for i in val_idx]
    y1 = np.array([l != "normal" for l in val_labels])
    y2 = np.array([l == "malignant" for l in val_labels])
    total = recipe.head_epochs + recipe.epochs
    log(f"patch net on {describe(device)}, {workers} loader workers" if ray is None else f"patch net epochs on Ray Train: {ray.describe()}")
    for epoch in range(total):
        head_only = epoch < recipe.head_epochs
        for p in net.trunk.parameters():
            p.requires_grad_(not head_only)
        if epoch == 0 or epoch == recipe.head_epochs:
            params = [p for p in net.parameters() if p.requires_grad]
            opt = torch.optim.Adam(params, lr=recipe.head_lr if head_only else recipe.lr, weight_decay=recipe.weight_decay)
        lr = recipe.head_lr if head_only else recipe.lr * recipe.lr_decay ** (epoch - recipe.head_epochs)
        for g in opt.param_groups:
            g["lr"] = lr
        t0 = time.time()
        plan = plan_patches(data.films, labels, train_idx, data.cache, side, rng, jitter_per_lesion=recipe.jitter_per_lesion, background_per_image=recipe.background_per_image)
        counts = plan.counts()
        weight = torch.tensor(len(plan) / (3 * np.maximum(counts, 1)), dtype=torch.float32, device=device)
        loader = patch_loader(PatchDataset(plan, data.films, data.cache, side, cfg["mean"], cfg["std"], seed=recipe.seed * 1000 + epoch), recipe.batch_size, workers=workers, seed=recipe.seed * 1000 + epoch)
        if ray is not None:  # the same epoch, data-parallel on Ray Train workers
            from core.training.ray_fit import fit_epoch_on_ray

            losses, seen = fit_epoch_on_ray(net, opt, plan, data, cfg, weight, head_only=head_only, epoch=epoch, recipe=recipe, target=ray)
        else:
            losses, seen = fit_epoch(net, loader, opt, weight, device, head_only=head_only, max_batches=recipe.max_batches)
        train_s = time.time() - t0
        maps = fold_maps(net, data, val_idx, cfg)
        s = np.array([stage_scores(m, "top_area_mean:4096", "top_area_mean:4096") for m in maps])
        a1 = _auc(y1, s[:, 0])
        a2 = _auc(y2[y1], s[y1, 1])
        score = np.nan_to_num(a1, nan=0.5) + np.nan_to_num(a2, nan=0.5)
        improved = keeper.update(score, net, counts_toward_patience=not head_only)
        row = {"epoch": epoch + 1, "stage": "head" if head_only else "all", "lr": lr, "patches": int(len(plan)), "patch_counts": counts.tolist(), "train_loss": float(np.mean(losses)), "val_auc_stage1": a1, "val_auc_stage2": a2,
               "seconds": round(time.time() - t0, 1), "patches_per_s": round(seen / train_s, 1) if train_s else None, "best": bool(improved)}
        history.append(row)
        log(f"epoch {epoch + 1}/{total} ({row['stage']}): loss {row['train_loss']:.4f} val AUC stage1 {a1:.3f} stage2 {a2:.3f} ({row['seconds']} s, {row['patches_per_s']} patches/s){' *' if improved else ''}")
        if keeper.should_stop:
            log("early stop")
            break
    keeper.restore(net)
    return net, history, {"initial_weights": init, "data_config": cfg, "device": describe(device)}


def train_map_top(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray, recipe: PatchRecipe, log: Log = print) -> tuple[MapTop, list[dict[str, Any]]]:
    """Shen's whole-image top layers over the patch map, trained on whole images (full batch)."""
    torch.manual_seed(recipe.seed)
    top = MapTop()
    opt = torch.optim.Adam(top.parameters(), lr=recipe.top_lr, weight_decay=1e-4)
    counts = np.bincount(train_y, minlength=3)
    weight = torch.tensor(len(train_y) / (3 * np.maximum(counts, 1)), dtype=torch.float32)
    xt, yt, xv = torch.from_numpy(train_x), torch.from_numpy(train_y), torch.from_numpy(val_x)
    yv1, yv2 = val_y > 0, val_y == 2
    keeper, history = BestEpoch(top), []
    gen = torch.Generator().manual_seed(recipe.seed)
    for epoch in range(recipe.top_epochs):
        top.train()
        flip = torch.rand(len(xt), generator=gen) < 0.5
        xb = torch.where(flip[:, None, None, None], xt.flip(-1), xt)
        loss = F.cross_entropy(top(xb), yt, weight=weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        top.eval()
        with torch.no_grad():
            p = torch.softmax(top(xv), 1).numpy()
        a1 = _auc(yv1, 1 - p[:, 0])
        a2 = _auc(yv2[yv1], p[yv1, 2] / np.maximum(p[yv1, 1] + p[yv1, 2], 1e-9))
        score = np.nan_to_num(a1, nan=0.5) + np.nan_to_num(a2, nan=0.5)
        history.append({"epoch": epoch + 1, "train_loss": float(loss.detach()), "val_auc_stage1": a1, "val_auc_stage2": a2})
        keeper.update(score, top)
    keeper.restore(top)
    log(f"map top: best validation AUC sum {keeper.score:.3f}")
    return top, history

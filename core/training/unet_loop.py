"""Train seed 002's B-Cir U-Net on the data set's lesion masks (MIAS circles, CBIS-DDSM ROI masks, Mini-DDSM contours): Dice + BCE, Adam 2e-4 (beta1 0.5), the
seed's augmentations (crop, flips, translation, rotation, Gaussian noise), histogram-
equalised input. Images without coordinates leave the mask loss; normal images teach an
empty mask, which is what makes the map's maximum an image score.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.evaluation.metrics import auc
from core.preprocess.pipeline import Pipeline, Transform, resize_pad
from core.types import Record
from core.models.nets.patch_net import data_config, to_tensor
from core.models.nets.unet import BCirUNet, load_encoder_imagenet
from core.training.best_epoch import BestEpoch
from core.training.device import autocast, describe
from core.training.epoch_loop import EpochLoop
from core.training.films import StreamedFilms
from core.training.row_file import RowFile, RowWriter

Log = Callable[[str], None]


@dataclass
class UNetRecipe:
    size: int = 256
    epochs: int = 14
    batch_size: int = 8
    lr: float = 2e-4
    beta1: float = 0.5
    dropout: float = 0.1
    normals_per_lesion: float = 1.0
    patience: int = 5
    seed: int = 0
    max_batches: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "UNetRecipe":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


SEG_VERSION = 1


def unet_pipeline(size: int) -> Pipeline:
    """After the film cache's shrink to the 1,024-px long side (the served model's `front`)."""
    return Pipeline([("hist_eq", {}), ("resize_pad", {"size": size})])


@dataclass
class SegData:
    records: list[Record]
    inputs: "RowFile"  # N x S x S float16, read from the cache row by row
    masks: "RowFile"  # N x S x S uint8
    has_geometry: np.ndarray  # N bool: lesion geometry known (or a normal film)


def build_seg_data(films: StreamedFilms, size: int, log: Log = print) -> SegData:
    """U-Net inputs and lesion masks (circles, ROI masks or contours) at `size`, written once
    beside the film cache as two `.npy` files read row by row, so memory stays flat in
    archive size."""
    import hashlib
    import json

    pipe = unet_pipeline(size)
    key = hashlib.sha256(json.dumps([SEG_VERSION, size, [f.key for f in films.films]]).encode()).hexdigest()[:20]
    folder = films.cache.folder.parent / "unet"
    paths = {k: folder / f"{key}-{k}.npy" for k in ("inputs", "masks")}
    n = len(films.films)
    if not all(p.exists() for p in paths.values()):
        t0 = time.time()
        with RowWriter(paths["inputs"], n, (size, size), np.float16) as fx, RowWriter(paths["masks"], n, (size, size), np.uint8) as fm:
            for film in films.films:
                x, _ = pipe.apply(np.asarray(films.cache.image(film), np.float32))
                m, _ = resize_pad(films.cache.lesions(film).astype(np.float32), Transform((film.shape[0], film.shape[1])), size)
                fx.write(x.astype(np.float16))
                fm.write((m > 0.5).astype(np.uint8))
        log(f"U-Net inputs of {n} films at {size} px in {time.time() - t0:.1f} s")
    geometry = np.array([r.label == "normal" or bool(f.circles) for r, f in zip(films.records, films.films)])
    return SegData(list(films.records), RowFile(paths["inputs"]), RowFile(paths["masks"]), geometry)


def _augment(x: np.ndarray, m: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    s = x.shape[0]
    angle = rng.uniform(-15, 15)
    zoom = rng.uniform(1.0, 1.2)  # crop: zoom in on part of the image
    tx, ty = rng.uniform(-0.08, 0.08, 2) * s
    a = cv2.getRotationMatrix2D((s / 2, s / 2), angle, zoom)
    a[:, 2] += (tx, ty)
    x = cv2.warpAffine(x, a, (s, s), flags=cv2.INTER_LINEAR, borderValue=0)
    m = cv2.warpAffine(m, a, (s, s), flags=cv2.INTER_NEAREST, borderValue=0)
    if rng.random() < 0.5:
        x, m = x[:, ::-1], m[:, ::-1]
    if rng.random() < 0.5:
        x, m = x[::-1], m[::-1]
    x = np.clip(x + rng.normal(0, 0.02, x.shape), 0, 1).astype(np.float32)
    return np.ascontiguousarray(x), np.ascontiguousarray(m)


def dice_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    inter = (p * target).sum()
    dice = 1 - (2 * inter + 1) / (p.sum() + target.sum() + 1)
    return bce + dice


@torch.inference_mode()
def predict_maps(net: BCirUNet, inputs: np.ndarray, cfg: dict[str, Any], batch: int = 8) -> np.ndarray:
    return np.concatenate(list(iter_maps(net, inputs, cfg, batch))).astype(np.float32)


@torch.inference_mode()
def iter_maps(net: BCirUNet, inputs: np.ndarray, cfg: dict[str, Any], batch: int = 8):
    """Lesion-probability maps batch by batch (on the net's device), never all at once."""
    net.eval()
    device = next(net.parameters()).device
    for i in range(0, len(inputs), batch):
        with autocast(device):
            logits = net(to_tensor(inputs[i : i + batch], cfg["mean"], cfg["std"]).to(device))
        yield torch.sigmoid(logits.float())[:, 0].cpu().numpy()


def dice_iou(prob: np.ndarray, mask: np.ndarray, threshold: float = 0.5) -> tuple[float, float]:
    pred = prob >= threshold
    mask = mask.astype(bool)
    inter, union, total = np.logical_and(pred, mask).sum(), np.logical_or(pred, mask).sum(), pred.sum() + mask.sum()
    return (float(2 * inter / total) if total else 1.0), (float(inter / union) if union else 1.0)


class UNetLoop(EpochLoop):
    """The U-Net's epochs: lesion films with known geometry and as many normal films (drawn
    afresh each epoch), augmented; judged on validation Dice plus the map maximum's AUC."""

    def __init__(self, data: SegData, train_idx: np.ndarray, val_idx: np.ndarray, recipe: UNetRecipe, log: Log, device) -> None:
        torch.manual_seed(recipe.seed)
        self.rng = np.random.default_rng(recipe.seed)
        net = BCirUNet(dropout=recipe.dropout)
        load_encoder_imagenet(net)
        self.cfg = data_config(net.encoder)
        net = net.to(device)
        log(f"U-Net on {describe(device)}")
        self.opt = torch.optim.Adam(net.parameters(), lr=recipe.lr, betas=(recipe.beta1, 0.999))
        labels = np.array([r.label for r in data.records])
        self.lesion_train = train_idx[(labels[train_idx] != "normal") & data.has_geometry[train_idx]]
        self.normal_train = train_idx[labels[train_idx] == "normal"]
        self.val_lesion = val_idx[(labels[val_idx] != "normal") & data.has_geometry[val_idx]]
        self.y_val = labels[val_idx] != "normal"
        super().__init__(net, recipe.epochs, BestEpoch(net, patience=recipe.patience), log)
        self.data, self.val_idx, self.recipe, self.device = data, val_idx, recipe, device

    def fit_epoch(self, epoch: int) -> dict[str, Any]:
        r, data, rng, net, cfg = self.recipe, self.data, self.rng, self.module, self.cfg
        n_norm = min(len(self.normal_train), int(round(r.normals_per_lesion * len(self.lesion_train))))
        idx = rng.permutation(np.concatenate([self.lesion_train, rng.choice(self.normal_train, n_norm, replace=False)]))
        net.train()
        losses = []
        batches = [idx[i : i + r.batch_size] for i in range(0, len(idx), r.batch_size)][: r.max_batches]
        for b in batches:
            pairs = [_augment(np.asarray(data.inputs[i], np.float32), np.asarray(data.masks[i]), rng) for i in b]
            x = to_tensor(np.stack([p[0] for p in pairs]), cfg["mean"], cfg["std"]).to(self.device)
            y = torch.from_numpy(np.stack([p[1] for p in pairs]).astype(np.float32))[:, None].to(self.device)
            with autocast(self.device):
                logits = net(x)
            loss = dice_bce(logits.float(), y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            losses.append(float(loss.detach()))
        return {"lr": r.lr, "images": int(len(idx)), "train_loss": float(np.mean(losses))}

    def validate(self, epoch: int) -> tuple[float, dict[str, Any]]:
        data, val_idx = self.data, self.val_idx
        maps = predict_maps(self.module, data.inputs[val_idx], self.cfg)
        where = {int(i): k for k, i in enumerate(val_idx)}
        dice = float(np.mean([dice_iou(maps[where[int(i)]], data.masks[i])[0] for i in self.val_lesion])) if len(self.val_lesion) else float("nan")
        a = auc(self.y_val, maps.reshape(len(maps), -1).max(1))
        return np.nan_to_num(dice) + np.nan_to_num(a, nan=0.5), {"val_dice": dice, "val_auc_stage1_max": a}

    def describe(self, epoch: int, row: dict[str, Any], improved: bool) -> str:
        return f"epoch {row['epoch']}/{self.total}: loss {row['train_loss']:.4f} val Dice {row['val_dice']:.3f} val AUC(max) {row['val_auc_stage1_max']:.3f} ({row['seconds']} s)"


def train_unet(data: SegData, train_idx: np.ndarray, val_idx: np.ndarray, recipe: UNetRecipe, log: Log = print, *, device=None) -> tuple[BCirUNet, list[dict[str, Any]], dict[str, Any]]:
    device = device or torch.device("cpu")
    loop = UNetLoop(data, train_idx, val_idx, recipe, log, device)
    history = loop.run()
    return loop.module, history, {"data_config": loop.cfg, "device": describe(device)}

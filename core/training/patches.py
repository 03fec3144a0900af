"""Training patches drawn from the film cache by a torch `DataLoader` with workers.

Why: the MIAS runs cut every patch of an epoch into one array (~1 GB for 2,000 films);
here an epoch is a plan of patch corners (a few bytes each) and each worker cuts its
patches from the memory-mapped films as batches are asked for. The sampling is the dense
patch recipe's own (`core.training.patch_loop`): lesion-centred patches with jitter, and
breast-tissue patches away from every lesion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.training.cache import LEVELS, MASK_STRIDE, CachedFilm, FilmCache

SEVERITY_CLASS = {"benign": 1, "malignant": 2}


@dataclass(frozen=True)
class PatchPlan:
    """One epoch's patches: film index, top-left corner and class, as arrays."""

    film: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    def counts(self) -> np.ndarray:
        return np.bincount(self.label, minlength=3)


def plan_patches(films: Sequence[CachedFilm], labels: Sequence[str], idx: Sequence[int], cache: FilmCache, side: int, rng: np.random.Generator, *, jitter_per_lesion: int = 6, background_per_image: int = 3) -> PatchPlan:
    rows: list[tuple[int, int, int, int]] = []
    for i in idx:
        film = films[i]
        h, w = film.shape
        if h < side or w < side or (labels[i] != "normal" and not film.circles):
            continue  # a lesion without geometry: no patch of it is known to be background
        for cx, cy, r, severity in film.circles:
            d = min(max(r, 16.0) * 0.5, side / 4)
            for _ in range(jitter_per_lesion):
                x0 = int(np.clip(cx + rng.uniform(-d, d) - side / 2, 0, w - side))
                y0 = int(np.clip(cy + rng.uniform(-d, d) - side / 2, 0, h - side))
                rows.append((i, x0, y0, SEVERITY_CLASS.get(severity, 1)))
        small = cache.breast_small(film)
        ys, xs = np.nonzero(small)
        got = 0
        for _ in range(60):
            if got >= background_per_image or len(xs) == 0:
                break
            j = int(rng.integers(len(xs)))
            cx, cy = xs[j] * MASK_STRIDE, ys[j] * MASK_STRIDE
            x0, y0 = int(np.clip(cx - side / 2, 0, w - side)), int(np.clip(cy - side / 2, 0, h - side))
            s = MASK_STRIDE
            if small[y0 // s : (y0 + side) // s, x0 // s : (x0 + side) // s].mean() < 0.5:
                continue
            if any(np.hypot(cx - lx, cy - ly) < lr + 0.75 * side for lx, ly, lr, _ in film.circles):
                continue
            rows.append((i, x0, y0, 0))
            got += 1
    a = np.array(rows, np.int64).reshape(-1, 4)
    return PatchPlan(a[:, 0], a[:, 1], a[:, 2], a[:, 3])


def augment_patch(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The dense patch recipe's augmentation: flips, a right-angle turn, gain and offset."""
    if rng.random() < 0.5:
        p = p[:, ::-1]
    if rng.random() < 0.5:
        p = p[::-1]
    p = np.rot90(p, int(rng.integers(4)))
    return np.ascontiguousarray(np.clip(p * rng.uniform(0.9, 1.1) + rng.uniform(-0.05, 0.05), 0, 1), np.float32)


class PatchDataset:
    """`torch.utils.data.Dataset` of one epoch's plan: item k is (3 x side x side, class),
    normalised with the backbone's own mean and std; augmentation seeded by (seed, k) so a
    run gives the same batches whatever the number of loader workers."""

    def __init__(self, plan: PatchPlan, films: Sequence[CachedFilm], cache: FilmCache, side: int, mean: Sequence[float], std: Sequence[float], seed: int = 0, augment: bool = True):
        self.plan, self.films, self.cache, self.side = plan, list(films), cache, side
        self.mean = np.asarray(mean, np.float32)[:, None, None]
        self.std = np.asarray(std, np.float32)[:, None, None]
        self.seed, self.augment = seed, augment
        self._open: dict[int, np.ndarray] = {}  # memory maps opened by this worker

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, k: int):
        import torch

        i = int(self.plan.film[k])
        if i not in self._open:
            if len(self._open) > 64:
                self._open.clear()
            self._open[i] = self.cache.image_levels(self.films[i])
        x0, y0, s = int(self.plan.x0[k]), int(self.plan.y0[k]), self.side
        p = np.asarray(self._open[i][y0 : y0 + s, x0 : x0 + s], np.float32) / LEVELS
        if self.augment:
            p = augment_patch(p, np.random.default_rng((self.seed, k)))
        x = (np.broadcast_to(p, (3, s, s)) - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(x, np.float32)), int(self.plan.label[k])


def patch_loader(dataset: PatchDataset, batch_size: int, *, workers: int = 0, seed: int = 0, shuffle: bool = True, sampler=None):
    """A DataLoader over the plan (shuffled by a seeded generator; `sampler` for Ray Train's
    distributed one)."""
    import torch
    from torch.utils.data import DataLoader

    gen = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler, generator=gen, num_workers=workers, persistent_workers=False, pin_memory=False, drop_last=False)

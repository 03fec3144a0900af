"""Test-time augmentation: the flips seed 004 averages over, and their inverses for maps.

Each augmentation is its own inverse, so a map computed on the flipped image is put back
on the original grid by the same flip.

`views` hands every ensemble the same view objects for one image, so members shared by
several ensembles (and run alone) find their results for each view in their own
`RecentResults` instead of running again.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from core.types import Mammogram
from core.models.prediction import RecentResults

Flip = Callable[[np.ndarray], np.ndarray]

AUGMENTATIONS: dict[str, Flip] = {
    "none": lambda a: a,
    "hflip": lambda a: a[:, ::-1],
    "vflip": lambda a: a[::-1, :],
}


def check(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown test-time augmentation(s) {unknown}; known: {', '.join(AUGMENTATIONS)}")
    return list(names)


def augmented(image: Mammogram, name: str) -> Mammogram:
    """The image under one augmentation (the original object for "none", so caches still hit)."""
    if name == "none":
        return image
    return Mammogram(np.ascontiguousarray(AUGMENTATIONS[name](image.pixels)), image.meta)


def restore(values: np.ndarray, name: str) -> np.ndarray:
    """A map computed on the augmented image, back on the original orientation."""
    return np.ascontiguousarray(AUGMENTATIONS[name](np.asarray(values)))


_VIEWS = RecentResults(size=4)  # image pixels -> {augmentation: view}, for the last few images


def views(image: Mammogram, names: list[str], shrink_to: int | None = None) -> list[tuple[str, Mammogram]]:
    """(augmentation, view) pairs of one image; the same objects for every caller while the
    image lives.

    "none" is the image itself. With `shrink_to` (the `limit_size` step every member applies
    first), the flipped views are flips of the image shrunk once to that long side (what
    each member would have made of it anyway, up to resampling order): a full-field DICOM
    is not copied at full resolution (51 MB a flip) for each augmentation.
    """
    made = _VIEWS.remember(image.pixels, (tuple(names), shrink_to), lambda: _flipped(image, names, shrink_to))
    return [(n, image if n == "none" else made[n]) for n in names]


def _flipped(image: Mammogram, names: list[str], shrink_to: int | None) -> dict[str, Mammogram]:
    base = image
    if shrink_to is not None and max(image.shape) > shrink_to and any(n != "none" for n in names):
        from core.preprocess.pipeline import Pipeline

        base = Mammogram(Pipeline([("limit_size", {"max_side": shrink_to})]).apply(image.pixels)[0], image.meta)
    return {n: augmented(base, n) for n in names if n != "none"}

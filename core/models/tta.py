"""Test-time augmentation: the flips seed 004 averages over, and their inverses for maps.

Each augmentation is its own inverse, so a map computed on the flipped image is put back
on the original grid by the same flip.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..types import Mammogram

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

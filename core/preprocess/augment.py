"""The seeds' training augmentations as one seeded, serialisable random affine + intensity step.

Keras' ImageDataGenerator semantics (seed 000): rotation in degrees, shifts as a fraction
of the side, shear in radians-ish intensity 0.2, zoom range (0.8, 1.2), flips, channel
shift in 0..255 units; seed 003 adds random 90° rotations; seed 002 Gaussian noise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Augment:
    rotation: float = 0.0  # max degrees, uniform in [-r, r]
    shift: float = 0.0  # max fraction of width/height
    shear: float = 0.0  # max shear intensity (Keras: radians)
    zoom: tuple[float, float] = (1.0, 1.0)
    hflip: bool = False
    vflip: bool = False
    rot90: bool = False  # random multiple of 90 degrees (seed 003)
    channel_shift: float = 0.0  # in 0..255 units, added to every pixel
    noise_std: float = 0.0  # Gaussian noise in 0..1 units (seed 002)

    @classmethod
    def from_dict(cls, d: dict | None) -> "Augment":
        d = dict(d or {})
        if "zoom" in d:
            d["zoom"] = tuple(d["zoom"])
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def active(self) -> bool:
        return self != Augment()

    def __call__(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment an H x W (or H x W x C) float image; background stays zero-filled."""
        h, w = img.shape[:2]
        out = img
        if self.rot90:
            out = np.rot90(out, int(rng.integers(0, 4))).copy()
        if self.hflip and rng.random() < 0.5:
            out = out[:, ::-1]
        if self.vflip and rng.random() < 0.5:
            out = out[::-1]
        out = np.ascontiguousarray(out)
        if self.rotation or self.shift or self.shear or self.zoom != (1.0, 1.0):
            out = cv2.warpAffine(out, self._matrix(out.shape[:2], rng), (out.shape[1], out.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if self.channel_shift:
            out = out + rng.uniform(-self.channel_shift, self.channel_shift) / 255.0
        if self.noise_std:
            out = out + rng.normal(0.0, self.noise_std, out.shape)
        return np.clip(out, 0.0, 1.0).astype(np.float32) if out.shape[:2] == (h, w) else out.astype(np.float32)

    def _matrix(self, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        h, w = shape
        theta = np.deg2rad(rng.uniform(-self.rotation, self.rotation)) if self.rotation else 0.0
        shear = rng.uniform(-self.shear, self.shear) if self.shear else 0.0
        zx, zy = (rng.uniform(*self.zoom), rng.uniform(*self.zoom)) if self.zoom != (1.0, 1.0) else (1.0, 1.0)
        tx = rng.uniform(-self.shift, self.shift) * w if self.shift else 0.0
        ty = rng.uniform(-self.shift, self.shift) * h if self.shift else 0.0
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        sh = np.array([[1.0, -np.sin(shear)], [0.0, np.cos(shear)]])
        zm = np.diag([1.0 / zx, 1.0 / zy])  # Keras: zoom > 1 shows less of the image
        a = np.linalg.inv(rot @ sh @ zm)
        c = np.array([w / 2.0, h / 2.0])
        t = c - a @ c + (tx, ty)
        return np.hstack([a, t[:, None]]).astype(np.float32)

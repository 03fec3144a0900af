"""Value types that flow through the pipeline: bytes -> Mammogram -> model input."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SafeMeta:
    """De-identified image metadata: an allow-list of acquisition facts, never a person's identifier.

    Text fields hold values from the fixed vocabularies of `core.privacy` only (any other
    header text becomes "unrecognised"); no field ever carries a header's free text.
    """

    source_format: str  # dicom | png | jpeg | tiff | pgm | webp
    rows: int
    columns: int
    bits_stored: int
    photometric: str = "MONOCHROME2"
    modality: str | None = None  # MG | DX | CR | ... | unrecognised
    laterality: str | None = None  # L | R | unrecognised
    view: str | None = None  # CC | MLO | ML | LM | XCCL | ... | unrecognised
    manufacturer: str | None = None  # a vendor word from a fixed list | unrecognised
    pixel_spacing_mm: tuple[float, float] | None = None  # only within a plausible detector pitch
    transfer_syntax: str | None = None  # a standard transfer syntax name | unrecognised

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Mammogram:
    """One grey-level image: float32 H x W in [0, 1], MONOCHROME2 (bright = dense)."""

    pixels: np.ndarray
    meta: SafeMeta

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.pixels.shape[0]), int(self.pixels.shape[1]))


@dataclass(frozen=True)
class Lesion:
    """One annotated abnormality; geometry in top-left pixel coordinates of the full image."""

    kind: str  # mass | calcification | architectural_distortion | asymmetry | other
    severity: str  # benign | malignant
    center: tuple[float, float] | None = None  # (x, y)
    radius: float | None = None
    bbox: tuple[int, int, int, int] | None = None  # (x0, y0, x1, y1)
    mask_path: str | None = None
    detail: str | None = None  # dataset-specific class code, e.g. MIAS "CIRC"


LABELS: tuple[str, ...] = ("normal", "benign", "malignant")


@dataclass(frozen=True)
class Record:
    """One image of a dataset, in the schema every loader yields."""

    dataset: str
    image_id: str
    patient_id: str
    side: str | None  # L | R
    view: str | None  # CC | MLO
    label: str  # normal | benign | malignant
    abnormality: str | None = None  # mass | calcification | ... | None for normal
    lesions: tuple[Lesion, ...] = field(default_factory=tuple)
    density: str | None = None
    path: str | None = None
    split: str | None = None  # official split where the dataset has one

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lesions"] = [asdict(l) for l in self.lesions]
        return d

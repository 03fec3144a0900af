"""One woman's study: her images sorted into breasts (side) and views (CC / MLO).

Models read one film; a reader compares each breast with the other one and the CC view
with the MLO view. This module only groups: who is which breast and view, in the
conventional order R-CC, L-CC, R-MLO, L-MLO. Sides and views come from dataset records,
the de-identified DICOM fields (`SafeMeta.laterality`, `SafeMeta.view`) or the user.
Every inconsistency is a `StudyError` that names the field, never its value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Sequence, TypeVar

from core.errors import StudyError
from core.types import Record, SafeMeta

SIDES: tuple[str, ...] = ("R", "L")
VIEWS: tuple[str, ...] = ("CC", "MLO")
MAX_IMAGES = 4
# DICOM view codes read into the two standard slots; other codes (ML, LM, ...) need the user's choice
_VIEW_SLOT = {"CC": "CC", "XCCL": "CC", "XCCM": "CC", "MLO": "MLO", "LMO": "MLO"}
# datasets whose every film is the one view of one breast (MIAS: every film an MLO, shared data README)
ONE_VIEW_PER_BREAST = frozenset({"mias"})

T = TypeVar("T")


@dataclass(frozen=True)
class StudyImage(Generic[T]):
    """One image of a study: its neutral label ("file 1", "upload 2", a dataset id), side, view, payload."""

    label: str
    side: str  # R | L
    view: str | None  # CC | MLO | None (unknown: allowed when it is its breast's only image)
    item: T | None = None

    @property
    def slot(self) -> str:
        return f"{self.side}-{self.view or '?'}"


@dataclass(frozen=True)
class Study(Generic[T]):
    """Images in conventional order (R-CC, L-CC, R-MLO, L-MLO); a breast is one side."""

    images: tuple[StudyImage[T], ...]

    @property
    def sides(self) -> tuple[str, ...]:
        return tuple(s for s in SIDES if any(i.side == s for i in self.images))

    def breast(self, side: str) -> tuple[StudyImage[T], ...]:
        return tuple(i for i in self.images if i.side == side)

    @property
    def bilateral(self) -> bool:
        """Both breasts present: the reading against the other breast is possible."""
        return len(self.sides) == 2


def side_of(value: object) -> str | None:
    """'L' / 'R' from a record's side, a DICOM laterality or a user's choice (LEFT / RIGHT too)."""
    if value is None:
        return None
    text = str(value).strip().upper()
    return {"L": "L", "LEFT": "L", "R": "R", "RIGHT": "R"}.get(text)


def view_of(value: object) -> str | None:
    """'CC' / 'MLO' from a record's view, a DICOM view code or a user's choice; None when absent."""
    if value is None or not str(value).strip():
        return None
    slot = _VIEW_SLOT.get(str(value).strip().upper())
    if slot is None:
        raise StudyError("view is not a CC or MLO view: set the view of that image")
    return slot


def from_meta(meta: SafeMeta, side: str | None = None, view: str | None = None) -> tuple[str | None, str | None]:
    """Side and view of an image: the user's choice first, else the de-identified DICOM fields."""
    return side_of(side) or side_of(meta.laterality), view_of(view) if view else view_of(meta.view) if meta.view else None


def group(entries: Sequence[tuple[str, object, object, T | None]]) -> Study[T]:
    """(label, side, view, item) per image -> the study, or `StudyError`.

    Refused: no image or more than four; an image without a side; two images in one slot;
    a breast with several images where one has no view."""
    if not entries:
        raise StudyError("a study needs at least one image")
    if len(entries) > MAX_IMAGES:
        raise StudyError(f"a study holds at most {MAX_IMAGES} images (one CC and one MLO of each breast)")
    images = []
    for label, side, view, item in entries:
        s = side_of(side)
        if s is None:
            raise StudyError(f"{label}: side (laterality) is missing or not L / R: set it")
        images.append(StudyImage(label, s, view_of(view), item))
    for s in SIDES:
        mine = [i for i in images if i.side == s]
        if len(mine) > 1 and any(i.view is None for i in mine):
            raise StudyError("view is missing for an image of a breast with several images: set it")
        if len({i.view for i in mine}) < len(mine):
            raise StudyError("two images have the same side and view")
    order = {f"{s}-{v}": k for k, (v, s) in enumerate((v, s) for v in VIEWS + (None,) for s in SIDES)}
    return Study(tuple(sorted(images, key=lambda i: order[f"{i.side}-{i.view}"])))


def from_records(records: Sequence[Record]) -> Study[Record]:
    """A dataset woman's study (every record one patient's), labelled by image id."""
    if len({r.patient_id for r in records}) > 1:
        raise StudyError("patient differs between the images of one study")
    return group([(r.image_id, r.side, r.view, r) for r in records])


def by_patient(records: Sequence[Record]) -> dict[str, Study[Record]]:
    """Every patient's study, in the records' order of first appearance."""
    patients: dict[str, list[Record]] = {}
    for r in records:
        patients.setdefault(r.patient_id, []).append(r)
    return {p: from_records(rs) for p, rs in patients.items()}

"""Typed errors raised at the edges of `core`.

Every failure a user can cause maps to one of these, so the CLI can turn it into a
one-line message with a stable exit code and the UI into a friendly notice.
"""

from __future__ import annotations


class MammoError(Exception):
    """Base class: a clear, user-facing message; `exit_code` is the CLI's exit status."""

    exit_code: int = 1


class UsageError(MammoError):
    """Bad arguments or configuration (CLI exit 2)."""

    exit_code = 2


class InvalidImageError(MammoError):
    """Unreadable, corrupt, unsupported or unsafe image input (CLI exit 3)."""

    exit_code = 3


class ImageTooLargeError(InvalidImageError):
    """The decoded pixels would exceed the budget (a small file can decode huge); refused from the header."""


class DatasetError(MammoError):
    """A dataset folder or its metadata is missing or malformed (CLI exit 3)."""

    exit_code = 3


class ModelError(MammoError):
    """A model is missing, fails its integrity check or cannot be loaded (CLI exit 4)."""

    exit_code = 4


class IntegrityError(ModelError):
    """A weights file does not match the SHA-256 recorded in its card."""


class StudyError(MammoError):
    """Images that cannot be one woman's study: too many, a side missing, a view twice (CLI exit 3).
    The message names the field (side, view, patient), never its value."""

    exit_code = 3


class SplitLeakError(MammoError):
    """A patient appears in more than one part of a split."""

    exit_code = 1


def model_reason(name: str, exc: BaseException) -> str:
    """Why model `name` failed, as one line that does not repeat the name or show a server path.

    Registry messages start with "model 'NAME': ..." or "model 'NAME' could not ..."; a
    composite model failing because of one of its parts keeps that part's name.
    """
    import re

    from core.privacy import one_line

    text = one_line(exc).replace(f"no model named '{name}'", "no such model")
    own = re.match(rf"^model '{re.escape(name)}'(?::\s*|\s+)(.*)$", text)
    if own:
        return own.group(1) or type(exc).__name__
    other = re.match(r"^model '([^']+)'(?::\s*|\s+)(.*)$", text)
    if other:
        return f"its part {other.group(1)} failed: {other.group(2)}"
    return text


class CalibrationError(MammoError):
    """Labelled rows that cannot give a threshold and a calibration (one class, too few
    patients), or a calibration profile that is not one (CLI exit 3). The message names the
    problem or the field, never a path or a value read from a file."""

    exit_code = 3

"""Where fold runs of a lesion recipe are kept between sessions (git-ignored)."""

from __future__ import annotations

from pathlib import Path

from ..models.card import repo_root


def run_dir(name: str) -> Path:
    return repo_root() / ".cache" / "lesion_runs" / name

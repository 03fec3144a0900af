"""Shared pytest fixtures. Keep each fixture small and documented."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # make `import core` work without installing the project
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder (`$MAMMO_SHARED_DATA`, else `../shared/data`); skip when absent."""
    env = os.environ.get("MAMMO_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"real data folder not found at {path} (set MAMMO_SHARED_DATA)")
    return path

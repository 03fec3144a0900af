"""The folders this server reads: the models folder and the data roots given at start-up.

A data folder can only be browsed under a root configured when the server started (the
shared data folder, `--data DIR`, `$MAMMO_DATA_ROOTS`); a root is shown by a neutral
label, never by its path, and a folder outside the roots is refused without being listed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def models_dir() -> str:
    """`$MAMMO_MODELS_DIR`, else the repository's models/ folder."""
    return os.environ.get("MAMMO_MODELS_DIR") or str(REPO / "models")


def _startup_roots() -> list[str]:
    """Roots given at start-up: `streamlit run streamlit_app.py -- --data DIR [--data DIR2]`
    and `$MAMMO_DATA_ROOTS` (os.pathsep-separated)."""
    out: list[str] = []
    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg == "--data" and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith("--data="):
            out.append(arg.split("=", 1)[1])
    out += [p for p in os.environ.get("MAMMO_DATA_ROOTS", "").split(os.pathsep) if p]
    return out


def data_roots() -> list[tuple[str, Path]]:
    """(neutral label, resolved folder) for every data root this server offers.

    The shared data folder (`$MAMMO_SHARED_DATA`, else ../shared/data) and the start-up
    roots; folders that do not exist are left out. Labels never show the path.
    """
    roots: list[tuple[str, Path]] = []
    shared = os.environ.get("MAMMO_SHARED_DATA") or str(REPO.parent / "shared" / "data")
    candidates = [("shared data folder", shared)] + [(f"start-up data folder {i}", p) for i, p in enumerate(_startup_roots(), 1)]
    seen: set[Path] = set()
    for label, raw in candidates:
        try:
            path = Path(raw).expanduser().resolve()
        except (OSError, RuntimeError):
            continue
        if path.is_dir() and path not in seen:
            seen.add(path)
            roots.append((label, path))
    return roots


def allowed_data_dir(folder: str | os.PathLike[str] | None) -> Path | None:
    """The resolved folder when it is an existing folder under a configured root, else None."""
    if not folder:
        return None
    try:
        path = Path(folder).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    for _, root in data_roots():
        if path == root or root in path.parents:
            return path if path.is_dir() else None
    return None


def choose_data_dir(root_label: str | None, subfolder: str = "") -> Path | None:
    """The folder picked in the sidebar (a root and an optional relative subfolder), or None."""
    roots = dict(data_roots())
    if root_label not in roots:
        return None
    sub = (subfolder or "").strip().strip("/\\")
    if sub and (Path(sub).is_absolute() or sub.startswith("~")):
        return None
    return allowed_data_dir(roots[root_label] / sub if sub else roots[root_label])


def default_data_dir() -> str:
    """The first configured data root (the shared data folder when present), else ""."""
    roots = data_roots()
    return str(roots[0][1]) if roots else ""

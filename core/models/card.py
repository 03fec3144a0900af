"""The model card (`models/<name>/card.json`): everything needed to load, feed and judge a model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from core.errors import ModelError
from core.models import kinds

CARD_FILE = "card.json"
PREDICTIONS_FILE = "predictions.csv"
HISTORY_FILE = "history.csv"


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def scratch_dir(kind: str) -> Path:
    """Git-ignored working files of training runs (`.cache/<kind>/`): fold runs, checkpoints,
    member scores. `$MAMMO_RUNS` moves them, so two runs of one recipe name (a test on
    another data set, say) never share a folder."""
    import os

    base = os.environ.get("MAMMO_RUNS")
    return (Path(base) if base else repo_root() / ".cache") / kind


def default_models_dir() -> Path:
    return repo_root() / "models"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_card(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / CARD_FILE
    try:
        card = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelError(f"no model card at {path}") from exc
    except json.JSONDecodeError as exc:
        raise ModelError(f"model card {path} is not valid JSON ({exc.msg})") from exc
    card["_folder"] = str(Path(folder))
    return card


def write_card(folder: str | Path, card: dict[str, Any]) -> Path:
    path = Path(folder) / CARD_FILE
    clean = {k: v for k, v in card.items() if not k.startswith("_")}
    path.write_text(json.dumps(clean, indent=2, default=_jsonable) + "\n")
    return path


def _jsonable(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (Path, tuple, set)):
        return str(o) if isinstance(o, Path) else list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def backbone(card: dict[str, Any]) -> str:
    """The network a card names (its members, for a composite), as tables show it."""
    arch = card.get("architecture") or {}
    if kinds.is_composite(card):
        return " → ".join(kinds.members(card)) or "composite"
    return str(arch.get("model") or arch.get("backbone") or arch.get("encoder") or arch.get("kind") or "—")

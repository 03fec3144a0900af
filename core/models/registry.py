"""Discover model folders by their cards; load one with a SHA-256 check and a lazy framework import.

Like timm's registry, names map to builders; unlike it, the builders here are trained
folders: `models/<name>/card.json` says which backend rebuilds the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import IntegrityError, ModelError
from core.models import kinds
from core.models.card import default_models_dir, read_card, sha256_file

_LOADED: dict[tuple[str, str], Any] = {}


def discover(models_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Every model card under `models_dir`, sorted by task then name; reads JSON only."""
    root = Path(models_dir) if models_dir else default_models_dir()
    cards = [read_card(p.parent) for p in sorted(root.glob("*/card.json"))]
    from core.labels import SPACES

    order = {t: i for i, t in enumerate(SPACES)}
    return sorted(cards, key=lambda c: (order.get(c.get("task"), 9), c["name"]))


def names(models_dir: str | Path | None = None) -> list[str]:
    return [c["name"] for c in discover(models_dir)]


def card(name: str, models_dir: str | Path | None = None) -> dict[str, Any]:
    root = Path(models_dir) if models_dir else default_models_dir()
    folder = root / name
    if not (folder / "card.json").exists():
        known = ", ".join(names(root)) or "none"
        raise ModelError(f"no model named {name!r} (known: {known})")
    return read_card(folder)


def weights_available(c: dict[str, Any], models_dir: str | Path | None = None) -> bool:
    if kinds.is_composite(c):
        root = Path(c["_folder"]).parent
        own = [p for p in kinds.weights_files(c)] if (c.get("weights") or {}).get("file") else []
        return all(p.exists() for p in own) and all(weights_available(card(m, root), root) for m in kinds.members(c))
    return all(p.exists() for p in kinds.weights_files(c))


def verify(c: dict[str, Any]) -> Path:
    """The first weights path, after checking every weights file exists and matches its SHA-256."""
    entries = [c["weights"]] + list(c.get("extra_weights", []))
    paths = []
    for w in entries:
        path = Path(c["_folder"]) / w["file"]
        if not path.exists():
            raise ModelError(f"model {c['name']!r}: weights file {path.name} is not in this checkout ({w.get('note', 'retrain it with python -m core train ' + c.get('recipe_file', 'its recipe'))})")
        digest = sha256_file(path)
        if digest != w["sha256"]:
            raise IntegrityError(f"model {c['name']!r}: weights SHA-256 {digest[:12]}… does not match the card ({w['sha256'][:12]}…); refusing to load")
        paths.append(path)
    return paths[0]


def load(name: str, models_dir: str | Path | None = None) -> Any:
    """A ready classifier; cached per process (the dashboard also wraps it in st.cache_resource)."""
    root = str(Path(models_dir) if models_dir else default_models_dir())
    key = (root, name)
    if key not in _LOADED:
        _LOADED[key] = _build(card(name, root), root)
    return _LOADED[key]


def _build(c: dict[str, Any], root: str) -> Any:
    """The card's kind builds it (see `kinds.register_kind`); leaf weights are verified first."""
    build = kinds.builder(c)
    if not kinds.is_composite(c):
        verify(c)
    try:
        return build(c, root)
    except ModelError:
        raise
    except Exception as exc:  # a library failure while rebuilding is a model problem for the user
        raise ModelError(f"model {c['name']!r} could not be loaded: {type(exc).__name__}: {exc}") from exc


def clear_cache() -> None:
    _LOADED.clear()

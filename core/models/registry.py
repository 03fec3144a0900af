"""Discover model folders by their cards; load one with a SHA-256 check and a lazy framework import.

Like timm's registry, names map to builders; unlike it, the builders here are trained
folders: `models/<name>/card.json` says which backend rebuilds the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import IntegrityError, ModelError
from .card import default_models_dir, read_card, sha256_file

_BACKENDS = {"torch": "core.models.torch_backend", "keras": "core.models.keras_backend"}
_LOADED: dict[tuple[str, str], Any] = {}


def discover(models_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Every model card under `models_dir`, sorted by task then name; reads JSON only."""
    root = Path(models_dir) if models_dir else default_models_dir()
    cards = [read_card(p.parent) for p in sorted(root.glob("*/card.json"))]
    order = {"stage1": 0, "stage2": 1, "flat3": 2, "hierarchy": 3}
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


def weights_available(c: dict[str, Any]) -> bool:
    if c.get("task") == "hierarchy":
        return True
    return (Path(c["_folder"]) / c["weights"]["file"]).exists()


def verify(c: dict[str, Any]) -> Path:
    """The weights path, after checking it exists and matches the card's SHA-256."""
    path = Path(c["_folder"]) / c["weights"]["file"]
    if not path.exists():
        raise ModelError(f"model {c['name']!r}: weights file {path.name} is not in this checkout ({c['weights'].get('note', 'retrain it with python -m core train ' + c.get('recipe_file', 'its recipe'))})")
    digest = sha256_file(path)
    if digest != c["weights"]["sha256"]:
        raise IntegrityError(f"model {c['name']!r}: weights SHA-256 {digest[:12]}… does not match the card ({c['weights']['sha256'][:12]}…); refusing to load")
    return path


def load(name: str, models_dir: str | Path | None = None) -> Any:
    """A ready classifier; cached per process (the dashboard also wraps it in st.cache_resource)."""
    root = str(Path(models_dir) if models_dir else default_models_dir())
    key = (root, name)
    if key not in _LOADED:
        _LOADED[key] = _build(card(name, root), root)
    return _LOADED[key]


def _build(c: dict[str, Any], root: str) -> Any:
    if c["task"] == "hierarchy":
        from .hierarchy import Hierarchy

        return Hierarchy(c, load(c["stage1"], root), load(c["stage2"], root))
    framework = c.get("framework")
    if framework not in _BACKENDS:
        raise ModelError(f"model {c['name']!r}: unknown framework {framework!r}")
    verify(c)
    import importlib

    from .base import ImageClassifier

    backend_module = importlib.import_module(_BACKENDS[framework])
    try:
        backend = backend_module.load_backend(c, Path(c["_folder"]))
    except Exception as exc:  # a library failure while rebuilding is a model problem for the user
        raise ModelError(f"model {c['name']!r} could not be loaded: {type(exc).__name__}: {exc}") from exc
    return ImageClassifier(c, backend)


def clear_cache() -> None:
    _LOADED.clear()

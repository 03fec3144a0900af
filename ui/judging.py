"""Compare's judging parts for the chosen models, out of fold (issue 35): slices, disagreements,
operating points and decision curves, each in a tab.

The figures come from `core.reports.supervisor` and `core.evaluation` (the same functions
`python -m core leaderboard --slices / --operating-points` prints); the bootstraps are cached
process-wide here, keyed by the models' names and their out-of-fold files' modification times.
Only dataset films are listed (image ids such as mdb001); nothing here reads an upload.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from core import privacy
from core.labels import space
from core.dashboard import charts
from ui import profiles

COMPLETE_ONLY = "The judging parts need models with a complete out-of-fold run (every film held out once) in this task."


def _stamp(cards: Sequence[dict[str, Any]]) -> tuple:
    out = []
    for c in cards:
        p = Path(c["_folder"]) / "oof_predictions.csv"
        out.append((c["name"], p.stat().st_mtime_ns if p.is_file() else 0))
    return tuple(out)


@st.cache_data(show_spinner=False, max_entries=32)
def _views(names: tuple[str, ...], task: str, stamp: tuple, _cards: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    from core.reports import supervisor

    return supervisor.views(_cards, task)


def views(cards: Sequence[dict[str, Any]], task: str) -> dict[str, pd.DataFrame]:
    return _views(tuple(c["name"] for c in cards), task, _stamp(cards), list(cards))


@st.cache_data(show_spinner=False, max_entries=8)
def _membership(datasets: tuple[str, ...], data_dir: str | None, models_root: str) -> pd.DataFrame | None:
    from core.reports import supervisor

    found = supervisor.records_membership(datasets, data_dir) if data_dir else None
    return found if found is not None else supervisor.committed_membership(models_root)


def membership(cards: Sequence[dict[str, Any]]) -> pd.DataFrame | None:
    """The films' slice facts from the data folder picked in the sidebar, else the committed ones."""
    from core.reports import supervisor
    from ui.data_roots import allowed_data_dir, models_dir

    folder = allowed_data_dir(st.session_state.get("data_dir"))
    return _membership(tuple(supervisor.datasets_of(cards)), None if folder is None else str(folder), models_dir())


@st.cache_data(show_spinner=False, max_entries=32)
def _slices(names: tuple[str, ...], task: str, pair: tuple[str, str] | None, stamp: tuple, _named: dict[str, pd.DataFrame], _members: pd.DataFrame) -> dict[str, Any]:
    from core.reports import supervisor

    return supervisor.slice_figures(_named, _members, pair)


@st.cache_data(show_spinner=False, max_entries=64)
def _operating(names: tuple[str, ...], task: str, specificity: float, sensitivity: float, pair: tuple[str, str] | None, stamp: tuple, _named: dict[str, pd.DataFrame]) -> dict[str, Any]:
    from core.reports import supervisor

    return supervisor.operating_figures(_named, specificity, sensitivity, pair)


def explore_link(dataset: str | None, image_id: str, models: Sequence[str]) -> str:
    """A link that opens Explore on one dataset film with these models (ui/share.py's parameters)."""
    params = {"dataset": dataset or "", "image": image_id, "models": ",".join(models)}
    return "explore?" + urlencode({k: v for k, v in params.items() if v})


def draw(by_name: dict[str, dict[str, Any]], chosen: Sequence[str], task: str, colors: dict[str, str]) -> None:
    """The four judging parts for the chosen models in a binary task."""
    from core.reports import supervisor
    from ui.data_roots import models_dir

    st.subheader("Judging the chosen models, out of fold")
    if not space(task).binary:
        st.caption("Slices, disagreements, operating points and decision curves are per binary task: pick Stage 1 or Stage 2 above.")
        return
    cards = supervisor.judged_cards(models_dir(), task, list(chosen))
    if not cards:
        st.info(COMPLETE_ONLY, icon=":material/hourglass_empty:")
        return
    named = views(cards, task)
    names = list(named)
    stamp = _stamp(cards)
    pair = None
    if len(names) > 1:
        default = supervisor.pick_pair(named) or (names[0], names[1])
        pa, pb = st.columns(2)
        a = pa.selectbox("Paired difference: model A", names, index=names.index(default[0]), key=f"judge_a_{task}")
        rest = [n for n in names if n != a]
        b = pb.selectbox("Model B", rest, index=rest.index(default[1]) if default[1] in rest else 0, key=f"judge_b_{task}")
        pair = (a, b)
    if len(cards) < len(chosen):
        st.caption(":material/info: Left out (no complete out-of-fold run in this task): " + ", ".join(privacy.md_escape(n) for n in chosen if n not in named) + ".")
    tabs = st.tabs(["Slices", "Disagreements", "Operating points", "Decision curves", "Recalibration"])
    with tabs[0]:
        _slices_part(cards, named, task, pair, stamp)
    with tabs[1]:
        _disagreements_part(cards, named, task)
    with tabs[2]:
        _operating_part(named, task, pair, stamp)
    with tabs[3]:
        _decision_part(named, colors)
    with tabs[4]:
        _recalibration_part(chosen)


def _recalibration_part(chosen: Sequence[str]) -> None:
    """The session's recalibration profiles of the chosen models (fitted on Explore, on a labelled
    data folder): what each changed, out of fold on that data, and the one switch that applies them."""
    st.caption("Will a threshold hold on your data? Thresholds and probabilities here are the models' own, chosen on MIAS validation parts. "
               "With a labelled data folder (class folders, CBIS-DDSM or Mini-DDSM layout) picked in the sidebar, [Explore](explore) → "
               "*Evaluate the chosen models on this data* → *Fit threshold and calibration* fits each model's threshold and a Platt or "
               "isotonic calibration with patient-level cross-validation, shows before and after, and applies them on Explore and Upload "
               "for this session only.")
    held = {n: p for n, p in profiles.stored().items() if n in chosen}
    if not held:
        st.info("No recalibration in this session for the chosen models.", icon=":material/tune:")
        return
    profiles.switch("compare")
    rows = []
    for name, p in held.items():
        for arm in ("before", "after"):
            figs = p.cross_validated.get(arm) or {}
            rows.append({"model": name, "": "as shipped" if arm == "before" else f"recalibrated ({p.method})", "fitted on": p.fitted_on,
                         "films": p.n_films, **{k: (round(float(v), 3) if isinstance(v, (int, float)) else v) for k, v in figs.items()}})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="judge_recalibration")
    st.caption("Out of fold on the user's data (each film judged by a calibration and threshold fitted without its patient); point values, "
               "their intervals are on Explore.")


def _slices_part(cards, named, task, pair, stamp) -> None:
    from core.reports import supervisor

    members = membership(cards)
    if members is None:
        st.info("The slices need the films' records: pick a data folder holding the models' data set in the sidebar.", icon=":material/folder_off:")
        return
    with st.spinner("Bootstrapping patients per slice…"):
        fig = _slices(tuple(named), task, pair, stamp, named, members)
    st.caption("Each model's out-of-fold ROC-AUC, and sensitivity and specificity at the threshold each film was judged at (its fold model's "
               "validation threshold), per slice of the data, with patient-level bootstrap 95 % intervals (1,000 resamples). A lesion-class slice is "
               "that class's films against **every normal film** (normal films have no lesion class), so its specificity is the same for every class. "
               f"{supervisor.SMALL.capitalize()}.")
    table = supervisor.slice_table(fig)
    facets = list(dict.fromkeys(table["facet"])) if not table.empty else []
    facet = st.segmented_control("Slice by", facets, default=facets[0] if facets else None, key=f"judge_facet_{task}") or (facets[0] if facets else None)
    shown = table[table["facet"] == facet] if facet else table
    st.dataframe(shown.drop(columns=["facet"]), hide_index=True, width="stretch", key=f"judge_slices_{task}")
    paired = supervisor.paired_slice_table(fig)
    if not paired.empty:
        p = fig["paired"]
        st.markdown(f"**Paired difference per slice, {privacy.md_escape(p['a'])} − {privacy.md_escape(p['b'])}** (same films, the same patient resamples for both)")
        st.dataframe(paired[paired["facet"] == facet].drop(columns=["facet"]) if facet else paired, hide_index=True, width="stretch", key=f"judge_paired_slices_{task}")


def _disagreements_part(cards, named, task) -> None:
    from core.evaluation.disagreements import confidently_wrong, disagreements

    datasets = {(c.get("data") or {}).get("dataset") for c in cards}
    dataset = next(iter(datasets)) if len(datasets) == 1 else None
    names = list(named)
    link = st.column_config.LinkColumn("open on Explore", display_text="open", help="Opens Explore on this film with the chosen models (a shareable link).")
    if len(names) > 1:
        st.markdown("**Films the chosen models disagree on**")
        st.caption("Ranked by how evenly the models split at their fold thresholds, then by how far their probabilities lie on both sides of their "
                   "thresholds. Each row opens Explore on that film with the chosen models' maps (models whose weights are not in this checkout show no map).")
        table = disagreements(named, limit=50)
        if table.empty:
            st.caption("The chosen models agree on every film.")
        else:
            shown = table[["image_id", "y"]].assign(truth=table["y"].map({1: space(task).positive, 0: space(task).classes[0]}))
            for n in names:
                shown[n] = [f"{p:.2f} {'+' if c else '−'}" for p, c in zip(table[f"p::{n}"], table[f"call::{n}"])]
            shown["models calling positive"] = [f"{k} of {len(names)}" for k in table["called_positive"]]
            shown["spread around thresholds"] = table["spread"].round(3)
            shown["open on Explore"] = [explore_link(dataset, i, names) for i in table["image_id"]]
            st.dataframe(shown.drop(columns=["y"]), hide_index=True, width="stretch", column_config={"open on Explore": link}, key=f"judge_disagree_{task}")
    coverage = float(st.session_state.get("coverage", 0.9))
    st.markdown("**Films a model is confidently wrong on**")
    st.caption(f"The film's split-conformal set at {coverage:.0%} coverage (calibrated on the other folds only) holds one class, and not the truth: "
               "the model is sure, and wrong. Ranked by how little probability the model gave the truth.")
    model = st.selectbox("Model", names, key=f"judge_wrong_model_{task}")
    wrong = confidently_wrong(named[model], space(task).classes, coverage, limit=50)
    if wrong.empty:
        st.caption("No film: every one-class set of this model holds the truth.")
        return
    shown = pd.DataFrame({"image_id": wrong["image_id"], "truth": wrong["y"].map({1: space(task).positive, 0: space(task).classes[0]}),
                          "set": wrong["set_class"], "p(truth)": wrong["p_truth"].round(4), "open on Explore": [explore_link(dataset, i, names) for i in wrong["image_id"]]})
    st.dataframe(shown, hide_index=True, width="stretch", column_config={"open on Explore": link}, key=f"judge_wrong_{task}")


def _operating_part(named, task, pair, stamp) -> None:
    from core.reports import supervisor

    c1, c2 = st.columns(2)
    spec = c1.number_input("Specificity held", 0.50, 0.99, 0.90, 0.01, key=f"judge_spec_{task}", help="Sensitivity is read at this specificity.")
    sens = c2.number_input("Sensitivity held", 0.50, 0.99, 0.90, 0.01, key=f"judge_sens_{task}", help="Specificity is read at this sensitivity.")
    with st.spinner("Bootstrapping patients…"):
        fig = _operating(tuple(named), task, round(float(spec), 4), round(float(sens), 4), pair, stamp, named)
    st.caption("Each fold's films are called at the threshold that holds the target on the **other folds'** out-of-fold rows, never their own; "
               "the held figure is then measured on the held-out films (it need not equal the target). Patient-level bootstrap 95 % intervals, "
               "the threshold choice repeated in every resample.")
    st.dataframe(supervisor.operating_table(fig), hide_index=True, width="stretch", key=f"judge_ops_{task}")
    paired = supervisor.paired_operating_table(fig)
    if not paired.empty:
        p = fig["paired"]
        st.markdown(f"**Paired difference at these points, A = {privacy.md_escape(p['a'])}, B = {privacy.md_escape(p['b'])}** (same films, same patient resamples)")
        st.dataframe(paired, hide_index=True, width="stretch", key=f"judge_ops_paired_{task}")


def _decision_part(named, colors) -> None:
    from core.evaluation.net_benefit import decision_curves

    curves = decision_curves(named)
    if curves.empty:
        st.caption("The chosen models share no out-of-fold film.")
        return
    st.plotly_chart(charts.net_benefit(curves, colors), width="stretch", key="judge_decision_curves",
                    alt="Decision curves: net benefit of each chosen model against treat-all and treat-none across threshold probabilities.")
    st.caption("Net benefit counts true positives per film and charges each false positive pt / (1 − pt), the trade a reader accepts when "
               "calling a film at threshold probability pt; a model is worth using where its curve lies above both treat-all (call every "
               f"film) and treat-none (call none). Out of fold, on the {int(curves['n_images'].iloc[0])} films every chosen model scored; "
               "the probabilities are the models' own, not recalibrated.")

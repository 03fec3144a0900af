"""Explore a dataset: filter a thumbnail grid (by patient too), pick one image, see the woman's other
views with the study models' per-breast readings, and every chosen model on the image."""
# ruff: noqa: E402  (the imports follow the first statement)

from ui.entry_navigation import run_through_entry_script

run_through_entry_script()  # first: a page run on its own (a fresh server's first request) goes through streamlit_app.py,
#                              which also draws this page's title (its HEADINGS)

from pathlib import Path

import streamlit as st

from core import privacy
from core.dashboard import records as drecords
from core.models import kinds
from core.errors import MammoError
from core.io.reader import read_image
from core.studies.combine import reads_study
from ui import analysis, cached, datasets, evaluate_data, messages, model_loading, report, share
from ui import study as ui_study

messages.notice()

DATASETS = {
    "sample": "Embedded sample — 8 CBIS-DDSM DICOMs (always here)",
    "mias": "mini-MIAS",
    "cbis": "CBIS-DDSM",
    "minidds": "Mini-DDSM",
    "folder": "Class folders (normal / benign / malignant)",
}
data_dir = (st.session_state.get("data_dir") or "").strip()
options = ["sample"] + (["mias", "cbis", "minidds", "folder"] if data_dir else [])
linked_dataset = share.take("dataset", options)  # a shared link's dataset (only one this server offers)
dataset = st.selectbox("Dataset", options, index=options.index(linked_dataset) if linked_dataset else 0, format_func=DATASETS.get, key="explore_dataset")
if not data_dir:
    st.caption("Give a data folder in the sidebar to explore mini-MIAS, CBIS-DDSM, Mini-DDSM or your own class folders.")

try:
    records = datasets.records(dataset, None if dataset == "sample" else data_dir)
except MammoError as exc:
    messages.friendly_error(exc, "This dataset could not be read")
    st.stop()
if not records:
    st.info("This dataset has no images.")
    st.stop()

by_name = cached.card_by_name()
models = model_loading.chosen_models()
split_map = {}
for n in models:  # split column: the record's own split, else the first chosen model's split for this dataset
    card = by_name.get(n, {})
    pred = cached.predictions(card) if card else None
    if pred is not None and (card.get("data") or {}).get("dataset") == dataset:
        split_map = dict(zip(pred["image_id"], pred["split"]))
        st.caption(f"Split column from **{n}**'s data where the dataset has no official split.")
        break

frame = drecords.records_frame(records, split_map)
opts = drecords.filter_options(frame)
with st.expander(f"Filters — {len(frame)} images", expanded=True, icon=":material/filter_list:"):
    fcols = st.columns(len(drecords.FILTER_COLUMNS))
    chosen = {c: fcols[i].multiselect(c, opts.get(c, []), key=f"filter_{dataset}_{c}") for i, c in enumerate(drecords.FILTER_COLUMNS)}
shown = drecords.filter_records(frame, chosen)
if shown.empty:
    st.info("No image matches these filters.")
    st.stop()
evaluate_data.section([records[i] for i in shown["index"]], dataset, models)

PER_PAGE, NCOL = 12, 6
n_pages = (len(shown) - 1) // PER_PAGE + 1
top = st.columns([3, 1])
top[0].caption(f"{len(shown)} image(s) match. Thumbnails {PER_PAGE} at a time.")
page_no = top[1].number_input("Thumbnail page", 1, n_pages, 1, key=f"grid_page_{dataset}") if n_pages > 1 else 1
rows = shown.iloc[(page_no - 1) * PER_PAGE: page_no * PER_PAGE]
with st.spinner("Making thumbnails…"):
    grid = st.columns(NCOL)
    for i, (_, row) in enumerate(rows.iterrows()):
        with grid[i % NCOL]:
            short = row["image_id"] if len(row["image_id"]) <= 16 else f"{row['patient_id']} {row['side']} {row['view']}"
            st.image(datasets.thumbnail(records[row["index"]].path), caption=f"{short} · {row['truth']}", width="stretch",
                     alt=f"Thumbnail of mammogram {short}, truth {row['truth']}.")

ids = shown["image_id"].tolist()
linked_image = share.take("image", ids)
image_id = st.selectbox("Image to analyse", ids, index=ids.index(linked_image) if linked_image else 0, key=f"explore_image_{dataset}")
rec = records[int(shown.loc[shown["image_id"] == image_id, "index"].iloc[0])]
share.publish(dataset=dataset, image=image_id, models=models)
st.markdown(f"**{privacy.md_escape(rec.image_id)}** — truth **{rec.label}**, side {rec.side or '—'}, view {rec.view or '—'}, "
            f"density {rec.density or '—'}, lesions: {privacy.md_escape(drecords.lesion_text(rec))}")
if not rec.path or not Path(rec.path).is_file():
    st.info("This record's image file is not in the data folder (CBIS-DDSM ships its metadata separately from the DICOMs).")
    st.stop()
if not models:
    st.info("Choose models in the sidebar to see their predictions on this image.")
    st.stop()

ready, errors = model_loading.ensure_models(models)
for n, msg in errors.items():
    messages.show_error(msg, icon=":material/error:")
image_key = ("path", rec.path, Path(rec.path).stat().st_mtime)
try:
    view, reader = analysis.view_of(image_key, lambda: read_image(rec.path))
except MammoError as exc:
    messages.friendly_error(exc, "This image could not be analysed")
    st.stop()

badges = {}
for name in ready:
    card = by_name.get(name, {})
    member_preds = [(by_name[m], cached.predictions(by_name[m])) for m in kinds.members(card) if m in by_name]
    state = drecords.split_membership(card, rec.image_id, cached.predictions(card) if card else None, rec.dataset, member_preds)
    badges[name] = datasets.membership_badge(state)

woman = [r for r in records if r.patient_id == rec.patient_id and r.path and Path(r.path).is_file()]
if len(woman) > 1:
    st.subheader("This woman's views")
    every = st.toggle("Every chosen model on every view", value=False, key="explore_every_view",
                      help="Off: the study models' per-breast readings only (their member on each view). On: every model's decision per view too.")
    study_names = ready if every else [n for n in ready if reads_study(model_loading.load_model(n))]
    sources = [ui_study.Source(r.image_id, ("path", r.path, Path(r.path).stat().st_mtime), (lambda r=r: read_image(r.path)), r) for r in woman]
    if study_names:
        ui_study.show(sources, study_names, "explore", editable=False)
    else:
        st.caption("Choose a study model in the sidebar for the per-breast and bilateral readings of this woman.")

report.image_report(image_key, view, reader, ready, record=rec, label=rec.image_id, prefix="explore", lesions=rec.lesions, badges=badges,
                    table_caption="One row a model: decision, probability against its own threshold, spread, conformal set, right or wrong against the truth. "
                                  "Each model's detail, and whether it saw this image in training, is in the expanders below the viewer.",
                    viewer_note=None if drecords.has_geometry(rec) else "This dataset gives no lesion geometry for this image, so there is no outline to draw.")

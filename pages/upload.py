"""Upload one mammogram (PNG, JPEG, TIFF or DICOM), or up to four views of one woman, or try a
sample: every model side by side in one table, the study's per-breast and bilateral readings,
one zoomable viewer with any model's map, each model's detail and downloads.
Nothing is saved, nothing is shared."""
# ruff: noqa: E402  (the imports follow the first statement)

from ui.entry_navigation import run_through_entry_script

run_through_entry_script()  # first: a page run on its own (a fresh server's first request) goes through streamlit_app.py,
#                              which also draws this page's title (its HEADINGS)

from pathlib import Path

import streamlit as st

from core import privacy
from core.dashboard import export
from core.serving import inference
from core.studies.grouping import MAX_IMAGES as MAX_STUDY
from ui import analysis, datasets, messages, model_loading, report, share, viewer, warm_up
from ui import study as ui_study

messages.notice()
st.caption(":material/lock: Your file stays in this server's memory, in your browser session only: its picture and results are kept for "
           "your last four images and dropped when the session ends. No other visitor can see them; nothing is written to disk or logged. "
           "Only de-identified acquisition facts are read from a DICOM header.")

samples = {r.image_id: r for r in datasets.records("sample", None) if r.path and Path(r.path).is_file()}
if share.take("dataset", ["sample"]):
    linked = share.take("image", samples)
    if linked:
        st.session_state["upload_sample"] = linked


def _use_upload() -> None:  # a new file replaces the sample
    st.session_state.pop("upload_sample", None)
    st.session_state.pop("upload_sample_study", None)


uploads = st.file_uploader("PNG, JPEG, TIFF or DICOM: one image, or up to four views of one woman", type=None, key="upload_file",
                           accept_multiple_files=True, on_change=_use_upload,
                           help="The format is recognised from the content, so DICOMs without a file extension work too. Several files are read as "
                                "one woman's study: each breast with the other one, the CC view with the MLO view.")
uploads = list(uploads or [])
patients = list(dict.fromkeys(r.patient_id for r in samples.values()))
b1, b2 = st.columns(2)
if samples and b1.button("No file at hand? Try a sample image", icon=":material/science:", key="upload_try_sample",
                         help="A full-field CBIS-DDSM DICOM of the embedded sample (public data, MIT)."):
    ids = list(samples)
    current = st.session_state.get("upload_sample")
    st.session_state["upload_sample"] = ids[(ids.index(current) + 1) % len(ids)] if current in ids else ids[0]
    st.session_state.pop("upload_sample_study", None)
if patients and b2.button("Try a sample four-view study", icon=":material/grid_view:", key="upload_try_study",
                          help="One woman's four views (R-CC, L-CC, R-MLO, L-MLO) from the embedded sample."):
    current = st.session_state.get("upload_sample_study")
    st.session_state["upload_sample_study"] = patients[(patients.index(current) + 1) % len(patients)] if current in patients else patients[0]
    st.session_state.pop("upload_sample", None)
sample_id = st.session_state.get("upload_sample") if st.session_state.get("upload_sample") in samples else None
study_patient = st.session_state.get("upload_sample_study") if st.session_state.get("upload_sample_study") in patients else None
if not uploads and sample_id is None and study_patient is None:
    share.publish(models=model_loading.chosen_models())
    warm_up.start(model_loading.chosen_models())  # in the background, while a file is being picked
    st.info("Drop a mammogram above (or the views of one woman's study), or try a sample. Every embedded sample image is also on the "
            "**Explore the data** page.", icon=":material/upload_file:")
    st.stop()
if len(uploads) > MAX_STUDY:
    messages.show_error(f"A study holds at most {MAX_STUDY} images (one CC and one MLO of each breast): remove some files.", icon=":material/error:")
    st.stop()

models = model_loading.chosen_models()
if uploads:
    sources = [ui_study.Source(messages.upload_label(u), ("upload", inference.content_hash(u.getvalue())),
                               (lambda u=u, label=messages.upload_label(u): inference.read_upload(u.getvalue(), label))) for u in uploads]
    share.publish(models=models)
elif study_patient is not None:
    recs = [r for r in samples.values() if r.patient_id == study_patient]
    sources = [ui_study.Source(r.image_id, ("sample", r.image_id), (lambda r=r: inference.read_upload(Path(r.path).read_bytes(), f"sample {r.image_id}")), r) for r in recs]
    share.publish(dataset="sample", models=models)
    st.caption(":material/science: Showing one woman's four views from the embedded sample (truth: " + ", ".join(f"{r.side}-{r.view} {r.label}" for r in recs) + "). Upload files to replace them.")
else:
    rec = samples[sample_id]
    sources = [ui_study.Source(f"sample {sample_id}", ("sample", sample_id), lambda: inference.read_upload(Path(rec.path).read_bytes(), f"sample {sample_id}"), rec)]
    share.publish(dataset="sample", image=sample_id, models=models)
    st.caption(f":material/science: Showing the embedded sample image **{privacy.md_escape(sample_id)}** (truth: {rec.label}). Upload a file to replace it.")
ready, errors = model_loading.ensure_models(models)
for n, msg in errors.items():
    messages.show_error(msg, icon=":material/error:")
if not ready:
    st.info("Choose models in the sidebar to get predictions.")
    st.stop()

if len(sources) > 1:
    st.subheader("The study")
    st.caption("Side and view of each image come from its DICOM fields where it has them; set them where it has not.")
    found = ui_study.show(sources, ready, "upload")
    if found is None:
        st.stop()
    study, _ = found
    st.subheader("One view in detail")
    slots = {i.slot: i.item for i in study.images}
    picked = st.segmented_control("View", list(slots), default=list(slots)[0], key="upload_study_view") or list(slots)[0]
    st.caption("Below, this view alone: a study model reads it against the other breast's stand-in (its member's validation mean); "
               "the bilateral readings are in the tables above.")
    source = slots[picked]
else:
    source = sources[0]

label, key = source.label, source.key
try:
    view, reader = analysis.view_of(key, source.read, with_meta=True)
except Exception as exc:  # noqa: BLE001 - MammoError or a library failure: never a traceback
    messages.friendly_error(exc, "This file could not be read as a mammogram")
    st.stop()

done = report.image_report(key, view, reader, ready, record=source.record, label=label, prefix="upload", with_input=True,
                           table_caption="One row a model: its decision, the probability that decided it against the model's own threshold, the spread across "
                                         "augmentations or members, the conformal prediction set at the sidebar's coverage and, where the truth is known, right or wrong. "
                                         "Each model's detail (stage trace, members, what its network sees) is in the expanders below the viewer.")
if done is None:
    st.stop()
results, _ = done
pick = viewer.choice("upload")  # the viewer's layer as its last rerun left it (a fragment: it reruns alone)
with st.expander("De-identified metadata", icon=":material/badge:"):
    st.dataframe(view.meta, hide_index=True, width="stretch")

st.subheader("Download")
d1, d2 = st.columns(2)
d1.download_button("Overlays (PNG)", lambda: export.result_png(view.base8, [r for r in results if r.ok], view.scale, {pick["model"]: (pick["map"], pick["opacity"], None)} if pick["model"] else {}, (), label), file_name="mammo_result.png", mime="image/png",
                   icon=":material/image:", key="dl_png", on_click="ignore", help="Each model's map on the image, the viewer's chosen layer for its model.")
d2.download_button("Probabilities (CSV)", lambda: privacy.neutralise_csv(export.result_csv(results, label)), file_name="mammo_result.csv", mime="text/csv",
                   icon=":material/table:", key="dl_csv", on_click="ignore")

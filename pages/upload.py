"""Upload one mammogram (PNG, JPEG, TIFF or DICOM): predictions, Grad-CAM and downloads. Nothing is saved."""

import streamlit as st

from core import dashboard_data as dd
from core.errors import MammoError
from ui import charts, common

st.title("Upload a mammogram")
common.notice()
st.caption(":material/lock: The file stays in this server's memory for this session only: it is never written to disk or logged. "
           "Only de-identified acquisition facts are read from a DICOM header.")

upload = st.file_uploader("PNG, JPEG, TIFF or DICOM", type=None, key="upload_file",
                          help="The format is recognised from the content, so DICOMs without a file extension work too.")
if upload is None:
    st.info("Drop a mammogram above. No file at hand? Every embedded sample image is on the **Explore the data** page.", icon=":material/upload_file:")
    st.stop()

models = common.chosen_models()
c1, c2 = st.columns(2)
opacity = c1.slider("Grad-CAM opacity", 0.0, 1.0, 0.45, 0.05, key="upload_opacity")
cam = c2.radio("Grad-CAM of", ["predicted", "abnormal"], horizontal=True, key="upload_cam",
               format_func=lambda c: {"predicted": "the predicted class", "abnormal": "lesion / malignant"}[c])

data = upload.getvalue()
digest = dd.content_hash(data)
label = common.upload_label(upload)  # privacy: "upload 1" in every output, never the file's name
ready, errors = common.ensure_models(models)
for n, msg in errors.items():
    common.show_error(msg, icon=":material/error:")
try:
    with st.spinner(f"Reading the image and running {len(ready)} model(s) with Grad-CAM…"):
        meta, shape, base8, scale, results = common.analyse_upload(digest, data, label, tuple(ready), cam)
except MammoError as exc:
    common.friendly_error(exc, "This file could not be read as a mammogram")
    st.stop()
except Exception as exc:  # never a traceback
    common.friendly_error(exc, "This file could not be read as a mammogram")
    st.stop()

left, mid, right = st.columns([2, 3, 2])
with left:
    st.image(base8, caption=f"{label} — {shape[1]}×{shape[0]} px (shown downscaled)", width="stretch")
with mid:
    st.markdown("**De-identified metadata**")
    st.dataframe(meta, hide_index=True, width="stretch")
with right:
    inputs = [r for r in results if r.model_input is not None]
    if inputs:
        pick = st.selectbox("Preprocessed model input of", [r.name for r in inputs], key="upload_input_model")
        r0 = next(r for r in inputs if r.name == pick)
        st.image(r0.model_input, caption="what the network sees, after its card's preprocessing (patch models: the patch)", width="stretch")

if not ready:
    st.info("Choose models in the sidebar to get predictions.")
    st.stop()

colors = common.colors()
ok = [r for r in results if not r.error]
st.subheader("Predictions")
if ok:
    st.plotly_chart(charts.probabilities(dd.probability_frame(ok), colors), width="stretch", key="upload_probs")
per_row = 3
for start in range(0, len(results), per_row):
    cols = st.columns(per_row)
    for col, r in zip(cols, results[start:start + per_row]):
        with col.container(border=True):
            st.markdown(f"<span style='color:{colors.get(r.name)}'>●</span> **{r.name}** <small>({r.task})</small>", unsafe_allow_html=True)
            if r.error:
                common.show_error(r.error)
                continue
            top = r.probabilities[r.classes.index(r.decision)] if r.decision in r.classes else max(r.probabilities)
            st.metric(f"decision: {r.decision}", f"{top:.2f}", help="probability of the decided class")
            st.caption(" · ".join(f"p({c}) = {p:.3f}" for c, p in zip(r.classes, r.probabilities)) + (f" · threshold {r.threshold:.2f}" if r.threshold is not None else ""))
            st.image(dd.overlay_image(base8, r.heat, opacity, (), scale, r.box), width="stretch",
                     caption=f"{r.cam_method or 'Grad-CAM'} for '{r.cam_class}'" + (" — dashed box: the patch it saw" if r.box else ""))

for r in ok:
    if not r.trace:
        continue
    t = r.trace
    st.subheader(f"Hierarchical pipeline, stage by stage — {r.name}")
    s1, s2, s3 = st.columns(3)
    s1.metric(f"Stage 1 ({t['stage1']}): p(lesion)", f"{t['p_lesion']:.3f}", f"threshold {t['threshold_stage1']:.2f}", delta_color="off")
    if t["stage1_says_lesion"]:
        s2.metric(f"Stage 2 ({t['stage2']}): p(malignant)", f"{t['p_malignant']:.3f}", f"threshold {t['threshold_stage2']:.2f}", delta_color="off")
        cx, cy, rad = t["roi"]
        s2.caption(f"Stage 2 looked at the patch around the stage-1 Grad-CAM peak ({cx:.0f}, {cy:.0f}).")
    else:
        s2.metric("Stage 2", "not run", "stage 1 says normal", delta_color="off")
    s3.metric("Decision", r.decision)

st.subheader("Download")
d1, d2 = st.columns(2)
d1.download_button("Overlays (PNG)", dd.result_png(base8, ok, opacity, scale, (), label), file_name="mammo_result.png", mime="image/png", icon=":material/image:", key="dl_png")
d2.download_button("Probabilities (CSV)", common.privacy.neutralise_csv(dd.result_csv(results, label)), file_name="mammo_result.csv", mime="text/csv", icon=":material/table:", key="dl_csv")

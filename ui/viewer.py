"""The zoomable mammogram: a plotly figure in original-image coordinates (scroll to zoom, drag to
pan, double-click to reset), one switchable map layer on top and the lesion outline over it.

Shared by Explore and Upload. The browser gets the display-size picture stretched over the
original coordinates; "Full detail" sends the original resolution when the visitor wants to
zoom into real pixels. The viewer is a fragment (`st.fragment`): changing its layer, opacity,
outline, threshold or detail reruns the viewer alone, not the page (the table, the chart and
each model's detail stay as they are). The data (the pictures, each map on its own grid in
original pixels, outline paths) comes from `core.dashboard.viewer`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import plotly.graph_objects as go
import streamlit as st

from core import privacy
from core.serving import inference
from core.dashboard import overlays
from core.dashboard import viewer as dviewer
from core.dashboard.viewer import ImageView, layer_grid, outline_paths
from core.models.prediction import MapLayer
from core.types import Lesion
from ui import share

NONE = "__none__"
OUTLINE_EDGE, OUTLINE = "#000000", "#FFFFFF"  # white over black: visible on the film and on every colour map
REGION = "#FF00FF"


def _colorscale(name: str) -> list[list]:
    """The map's colour scale with its cold end see-through (like the static overlays)."""
    lut = overlays._LUTS.get(name, overlays._LUTS["viridis"])
    stops = []
    for t in (0.0, 0.08, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0):
        r, g, b = (int(v) for v in lut[int(round(t * 255))])
        alpha = min(1.0, max(0.0, (t - 0.08) * 2.0))
        stops.append([t, f"rgba({r},{g},{b},{alpha:.2f})"])
    return stops


def figure(view: ImageView, layer: MapLayer | None, opacity: float, lesions: Sequence[Lesion], threshold: float | None,
           height: int = 760, revision: str = "", full_uri: str | None = None) -> go.Figure:
    """The mammogram in original-image coordinates (the display-size picture stretched over
    them, or `full_uri`, the original resolution) with one layer, its threshold contour and the outlines."""
    h, w = view.shape
    if full_uri is not None:
        picture = go.Image(source=full_uri, x0=0, y0=0, dx=1, dy=1, hoverinfo="skip", name="mammogram")
    else:
        ph, pw = view.base8.shape[:2]
        dx, dy = w / pw, h / ph  # pixel centres of the small picture, its edges on the original's
        picture = go.Image(source=view.picture_uri, x0=(dx - 1) / 2, y0=(dy - 1) / 2, dx=dx, dy=dy, hoverinfo="skip", name="mammogram")
    fig = go.Figure(picture)
    if layer is not None:
        g = layer_grid(layer)
        cmap = overlays.KIND_COLORMAP.get(layer.kind, "viridis")
        fig.add_trace(go.Heatmap(z=g.z, x0=g.x0, dx=g.dx, y0=g.y0, dy=g.dy, zmin=0, zmax=1, zsmooth="fast", opacity=opacity,
                                 colorscale=_colorscale(cmap), name=layer.name,
                                 colorbar=dict(title=dict(text=overlays.KIND_TITLE.get(layer.kind, layer.kind), side="right"), thickness=12, len=0.6),
                                 hovertemplate="x %{x:.0f}, y %{y:.0f}: %{z:.2f}<extra></extra>"))
        if threshold is not None and float(g.z.max()) >= threshold:
            fig.add_trace(go.Contour(z=g.z, x0=g.x0, dx=g.dx, y0=g.y0, dy=g.dy, showscale=False, hoverinfo="skip", name=f"≥ {threshold:.2f}",
                                     contours=dict(start=threshold, end=threshold, size=1, coloring="none"), line=dict(color=REGION, width=2.5)))
    for shape in outline_paths(lesions, view.shape):
        for color, width in ((OUTLINE_EDGE, 5), (OUTLINE, 2)):
            fig.add_shape(**shape, line=dict(color=color, width=width), layer="above")
    fig.update_xaxes(visible=False, range=[0, w], constrain="domain")
    fig.update_yaxes(visible=False, range=[h, 0], scaleanchor="x", constrain="domain")
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=0, b=0), dragmode="pan", uirevision=revision, showlegend=False)
    return fig


LATER = " · computed when picked"


def layer_choices(runs: Sequence[inference.ModelRun]) -> dict[str, tuple[str, str, str]]:
    """{option key: (model, map key, label)} for every map of every successful run, those
    computed with the prediction first, then those a backward pass makes when picked."""
    out, empty, later = {}, {}, {}
    for r in runs:
        if not r.ok:
            continue
        for k, label in inference.layer_options(r).items():  # layers that show something on this image first
            (out if dviewer.shows_something(r.maps[k]) else empty)[f"{r.name}::{k}"] = (r.name, k, f"{r.name} — {label}")
        for k, label in r.on_demand.items():
            later[f"{r.name}::{k}"] = (r.name, k, f"{r.name} — {label}{LATER}")
    return out | empty | later


def show(view: ImageView, runs: list[inference.ModelRun], lesions: Sequence[Lesion], prefix: str, label: str,
         compute: Callable[[inference.ModelRun, str], inference.ModelRun],
         full_picture: Callable[[ImageView], str | None] | None = None) -> tuple[str | None, str | None, float]:
    """The one large viewer with its layer picker (every model x every map), opacity, outline
    switch and full detail, drawn in a fragment: changing any of them reruns the viewer only.
    `compute(run, map key)` makes an on-demand layer when it is picked (and may raise
    MammoError); `full_picture(view)` gives the original-resolution picture (default:
    `ui.analysis.full_picture`). `label` names the image neutrally in the alt text. The chosen
    layer goes into the page's shareable link. Returns (model, map key, opacity) as the full
    run drew them; `choice(prefix)` holds them as the viewer's last rerun left them."""
    if full_picture is None:
        from ui.analysis import full_picture
    chosen = choice(prefix)
    _viewer(view, runs, lesions, prefix, label, compute, full_picture, chosen)
    return chosen["model"], chosen["map"], chosen["opacity"]


def choice(prefix: str) -> dict:
    """{model, map, opacity} of the viewer as its last (full or fragment) run left them: one
    dict for the session's page, updated in place, so that what is read later (a download
    made when clicked) sees a layer switched by a fragment rerun."""
    key = f"_{prefix}_viewer_choice"
    if key not in st.session_state:
        st.session_state[key] = {"model": None, "map": None, "opacity": 0.5}
    return st.session_state[key]


@st.fragment
def _viewer(view: ImageView, runs: list[inference.ModelRun], lesions: Sequence[Lesion], prefix: str, label: str,
            compute: Callable[[inference.ModelRun, str], inference.ModelRun], full_picture: Callable[[ImageView], str | None],
            chosen: dict) -> None:
    from core.errors import MammoError
    from ui import messages

    choices = layer_choices(runs)
    options = list(choices) + [NONE]
    pick_key = f"{prefix}_zoom_layer"
    linked = share.take("layer", options)
    if linked is not None:
        st.session_state[pick_key] = linked
    elif st.session_state.get(pick_key) not in options:
        st.session_state.pop(pick_key, None)
    c1, c2, c3, c4 = st.columns([4, 2, 1.1, 1.4], vertical_alignment="bottom")
    key = c1.selectbox("Map layer", options, index=0, key=pick_key,
                       format_func=lambda k: "none (the mammogram only)" if k == NONE else choices[k][2],
                       help="Every map of every chosen model, drawn over the mammogram. "
                            "Layers marked \"computed when picked\" need a backward pass; they are made when you pick them.")
    opacity = c2.slider("Opacity", 0.0, 1.0, 0.5, 0.05, key=f"{prefix}_zoom_opacity")
    outline = c3.toggle("Outline", True, key=f"{prefix}_zoom_outline",
                        help="White: the dataset's lesion annotation, where there is one. Magenta: where the map reaches its model's threshold.")
    detail = c4.toggle("Full detail", False, key=f"{prefix}_zoom_detail",
                       help="Send the mammogram at its original resolution, to zoom into real pixels (a larger picture: it takes a moment).")
    share.publish_one("layer", None if key == NONE else key)
    layer, model = None, None
    chosen.update(model=None, map=None, opacity=opacity)
    if key != NONE:
        model, map_key, _ = choices[key]
        i = next(i for i, r in enumerate(runs) if r.name == model)
        if map_key not in runs[i].maps:
            try:
                runs[i] = compute(runs[i], map_key)
            except MammoError as exc:
                messages.friendly_error(exc, "This map could not be made")
                return
        layer = runs[i].maps[map_key]
        chosen.update(model=model, map=map_key)
    threshold = None
    if layer is not None and outline and layer.threshold is not None:
        threshold = st.slider("Outline threshold", 0.0, 1.0, float(min(max(layer.threshold, 0.0), 1.0)), 0.01, key=f"{prefix}_zoom_thr_{key}",
                              help="The region where the map reaches this level is outlined in magenta; the default is the model's own threshold.")
    full_uri = None
    if detail:
        with st.spinner("Sending the original resolution…"):
            full_uri = full_picture(view)
    shown_lesions = lesions if outline else ()
    h, w = view.shape
    ph, pw = view.base8.shape[:2]
    fig = figure(view, layer, opacity, shown_lesions, threshold, revision=f"{prefix}:{h}x{w}", full_uri=full_uri)
    what = "no map" if layer is None else f"the {privacy.one_line(layer.name)} map of {privacy.one_line(model)}"
    alt = (f"Mammogram {label} ({w} by {h} pixels) with {what}"
           + (", ground-truth lesion outlined in white" if shown_lesions else "") + ". Scroll to zoom, drag to pan.")
    st.plotly_chart(fig, width="stretch", key=f"{prefix}_zoom", config={"scrollZoom": True, "displaylogo": False}, alt=alt)
    sent = "every pixel sent" if full_uri is not None else f"shown at {pw}×{ph} px (Full detail sends every pixel)"
    st.caption(f"{privacy.md_escape(label)}: original resolution {w}×{h} px, {sent}: scroll or pinch to zoom, drag to pan, double-click to reset. "
               + ("White outline: the ground-truth lesion. " if shown_lesions else "")
               + ("Magenta contour: where the map reaches the outline threshold. " if threshold is not None else "")
               + (f"{privacy.md_escape(overlays.layer_caption(layer, threshold))}." if layer is not None else "")
               + (f" {overlays.region_fraction(overlays.layer_at(layer, view.base8.shape[:2]), threshold):.1%} of the image is at or above {threshold:.2f}." if threshold is not None else ""))

"""The zoomable mammogram: the original resolution in a plotly figure (scroll to zoom, drag to
pan, double-click to reset), one switchable map layer on top and the lesion outline over it.

Shared by Explore and Upload. The data (the full-resolution JPEG, each map on its own grid in
original pixels, outline paths) comes from `core.dashboard.viewer`.
"""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go
import streamlit as st

from core import privacy
from core.dashboard import inference, overlays
from core.dashboard.viewer import ImageView, layer_grid, outline_paths
from core.models.prediction import MapLayer
from core.types import Lesion

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
           height: int = 760, revision: str = "") -> go.Figure:
    """The original-resolution mammogram with one layer, its threshold contour and the outlines."""
    h, w = view.shape
    fig = go.Figure(go.Image(source=view.zoom_uri, x0=0, y0=0, dx=1, dy=1, hoverinfo="skip", name="mammogram"))
    if layer is not None:
        g = layer_grid(layer)
        cmap = overlays.KIND_COLORMAP.get(layer.kind, "viridis")
        fig.add_trace(go.Heatmap(z=g.z, x0=g.x0, dx=g.dx, y0=g.y0, dy=g.dy, zmin=0, zmax=1, zsmooth="best", opacity=opacity,
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


def layer_choices(runs: Sequence[inference.ModelRun]) -> dict[str, tuple[str, str, str]]:
    """{option key: (model, map key, label)} for every map of every successful run."""
    out = {}
    for r in runs:
        if not r.ok:
            continue
        for k, label in inference.layer_options(r).items():
            out[f"{r.name}::{k}"] = (r.name, k, f"{r.name} — {label}")
    return out


def show(view: ImageView, runs: Sequence[inference.ModelRun], lesions: Sequence[Lesion], prefix: str, label: str) -> None:
    """The viewer with its layer selector; `label` names the image neutrally in the alt text."""
    choices = layer_choices(runs)
    options = list(choices) + [NONE]
    c1, c2 = st.columns([3, 1])
    key = c1.selectbox("Layer on the zoomable mammogram", options, index=0, key=f"{prefix}_zoom_layer",
                       format_func=lambda k: "none (the mammogram only)" if k == NONE else choices[k][2],
                       help="Every map of every chosen model, stretched over the original-resolution image.")
    opacity = c2.slider("Layer opacity", 0.0, 1.0, 0.5, 0.05, key=f"{prefix}_zoom_opacity")
    layer = None
    if key != NONE:
        model, map_key, _ = choices[key]
        layer = next(r for r in runs if r.name == model).maps[map_key]
    threshold = layer.threshold if layer is not None else None
    h, w = view.shape
    fig = figure(view, layer, opacity, lesions, threshold, revision=f"{prefix}:{h}x{w}")
    what = "no map" if layer is None else f"the {privacy.one_line(layer.name)} map of {privacy.one_line(choices[key][0])}"
    alt = (f"Mammogram {label} at its original {w} by {h} pixels with {what}"
           + (", ground-truth lesion outlined in white" if lesions else "") + ". Scroll to zoom, drag to pan.")
    st.plotly_chart(fig, width="stretch", key=f"{prefix}_zoom", config={"scrollZoom": True, "displaylogo": False}, alt=alt)
    st.caption(f"Original resolution, {w}×{h} px: scroll or pinch to zoom, drag to pan, double-click to reset. "
               + ("White outline: the ground-truth lesion. " if lesions else "")
               + ("Magenta contour: where the map reaches the model's threshold. " if threshold is not None else ""))

"""Plotly figures for the pages (layout only; the data comes from core.dashboard_data)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from core import dashboard_data as dd

FONT = dict(family="Inter, Segoe UI, sans-serif", size=13)


def _layout(fig: go.Figure, title: str, height: int = 380, **kw: Any) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=15)), height=height, margin=dict(l=10, r=10, t=45, b=10),
                      font=FONT, template="plotly_white", legend=dict(orientation="h", y=-0.18, x=0, font=dict(size=11)), **kw)
    return fig


def confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str, color: str = "#3366CC") -> go.Figure:
    z = np.asarray(matrix, float)
    frac = z / np.maximum(z.sum(axis=1, keepdims=True), 1)
    text = [[f"{int(z[i, j])}<br>({frac[i, j]:.0%})" for j in range(z.shape[1])] for i in range(z.shape[0])]
    fig = go.Figure(go.Heatmap(z=frac, x=[f"pred {l}" for l in labels], y=[f"true {l}" for l in labels], text=text, texttemplate="%{text}",
                               colorscale=[[0, "#FFFFFF"], [1, color]], zmin=0, zmax=1, showscale=False, hovertemplate="%{y} → %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=300)


def roc(curves: dict[str, dd.Curve], colors: dict[str, str], points: dict[str, dict[str, Any]] | None = None, title: str = "ROC") -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="#999"), name="chance", hoverinfo="skip"))
    for name, c in curves.items():
        lo, hi = c.ci
        ci = f" [{lo:.2f}–{hi:.2f}]" if np.isfinite(lo) else ""
        fig.add_trace(go.Scatter(x=c.x, y=c.y, mode="lines", line=dict(color=colors.get(name), width=2.5, shape="hv"), name=f"{name} — AUC {c.auc:.3f}{ci}"))
        if points and name in points and points[name].get("n"):
            p = points[name]
            fig.add_trace(go.Scatter(x=[1 - p["specificity"]], y=[p["sensitivity"]], mode="markers", marker=dict(size=12, color=colors.get(name), line=dict(color="white", width=2)),
                                     name=f"{name} @ {p['threshold']:.2f}", showlegend=False, hovertemplate=f"threshold {p['threshold']:.2f}<br>sens %{{y:.2f}}, 1-spec %{{x:.2f}}<extra>{name}</extra>"))
    fig.update_xaxes(title="1 − specificity", range=[-0.01, 1.01])
    fig.update_yaxes(title="sensitivity", range=[-0.01, 1.01], scaleanchor="x", scaleratio=1)
    return _layout(fig, title, height=440)


def pr(curves: dict[str, dd.Curve], colors: dict[str, str], title: str = "Precision–recall") -> go.Figure:
    fig = go.Figure()
    for name, c in curves.items():
        lo, hi = c.ci
        ci = f" [{lo:.2f}–{hi:.2f}]" if np.isfinite(lo) else ""
        fig.add_trace(go.Scatter(x=c.x, y=c.y, mode="lines", line=dict(color=colors.get(name), width=2.5, shape="hv"), name=f"{name} — AP {c.auc:.3f}{ci}"))
    prev = [c.extra.get("prevalence") for c in curves.values() if c.extra.get("prevalence") is not None]
    if prev:
        fig.add_hline(y=prev[0], line=dict(dash="dot", color="#999"), annotation_text="prevalence", annotation_position="bottom right")
    fig.update_xaxes(title="recall (sensitivity)", range=[-0.01, 1.01])
    fig.update_yaxes(title="precision", range=[-0.01, 1.01])
    return _layout(fig, title, height=440)


def calibration(curves: dict[str, dd.Curve], colors: dict[str, str], title: str = "Calibration") -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="#999"), name="perfectly calibrated", hoverinfo="skip"))
    for name, c in curves.items():
        fig.add_trace(go.Scatter(x=c.x, y=c.y, mode="lines+markers", line=dict(color=colors.get(name), width=2), name=f"{name} — Brier {c.auc:.3f}"))
    fig.update_xaxes(title="mean predicted probability", range=[0, 1])
    fig.update_yaxes(title="observed frequency", range=[0, 1])
    return _layout(fig, title, height=420)


def metric_ci(table, metric: str, colors: dict[str, str]) -> go.Figure:
    """Dot-and-whisker plot of one test metric with its 95 % CI per model."""
    ci_col = f"{metric} 95% CI"
    fig = go.Figure()
    for _, row in table.iterrows():
        v = row.get(metric)
        if v is None or not np.isfinite(v):
            continue
        txt = str(row.get(ci_col) or "")
        lo = hi = None
        if "–" in txt:
            lo, hi = (float(x) for x in txt.strip("[] ").split("–")[-2:])
        fig.add_trace(go.Scatter(x=[v], y=[row["model"]], mode="markers", marker=dict(size=12, color=colors.get(row["model"])),
                                 error_x=dict(type="data", symmetric=False, array=[(hi - v) if hi is not None else 0], arrayminus=[(v - lo) if lo is not None else 0], thickness=2, width=6),
                                 name=row["model"], showlegend=False, hovertemplate=f"{row['model']}: {v:.3f} [{txt}]<extra></extra>"))
    fig.add_vline(x=0.5, line=dict(dash="dot", color="#999"))
    fig.update_xaxes(title=f"test {metric} (95 % CI)", range=[0, 1])
    return _layout(fig, f"Test {metric} with 95 % confidence interval", height=max(220, 60 + 38 * len(table)))


def probabilities(frame, colors: dict[str, str]) -> go.Figure:
    fig = go.Figure()
    for name, g in frame.groupby("model", sort=False):
        fig.add_trace(go.Bar(x=g["class"], y=g["probability"], name=name, marker_color=colors.get(name), text=[f"{p:.2f}" for p in g["probability"]], textposition="outside"))
    fig.update_yaxes(range=[0, 1.1], title="probability")
    return _layout(fig, "Probabilities per model", height=330, barmode="group")


def history(long_frame, title: str) -> go.Figure:
    fig = go.Figure()
    for series, g in long_frame.groupby("series", sort=False):
        fig.add_trace(go.Scatter(x=g["step"], y=g["value"], mode="lines+markers", name=series))
    if "stage" in long_frame.columns:
        starts = long_frame.groupby("stage")["step"].min().sort_index().tolist()[1:]
        for s in starts:
            fig.add_vline(x=s - 0.5, line=dict(dash="dot", color="#999"))
    fig.update_xaxes(title="epoch (all unfreezing stages in a row)")
    return _layout(fig, title, height=330)

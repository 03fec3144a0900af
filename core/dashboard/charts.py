"""Plotly figures (layout only; the numbers come from core.reports and core.evaluation): the pages
draw them with `st.plotly_chart`, and `html_report` embeds the same figures in the report to take away."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import plotly.graph_objects as go

if TYPE_CHECKING:  # annotations only: core.reports.curves imports SciPy, which the Overview does not need
    from core.reports.curves import Curve

FONT = dict(family="Inter, Segoe UI, sans-serif", size=13)


def _layout(fig: go.Figure, title: str, height: int = 380, **kw: Any) -> go.Figure:
    """Title, size, margins and legend only: no template, so `st.plotly_chart`'s Streamlit theme
    colours the background, grid and text in the light and in the dark theme alike."""
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=15)), height=height, margin=dict(l=10, r=10, t=45, b=10),
                      font=FONT, legend=dict(orientation="h", y=-0.18, x=0, font=dict(size=11)), **kw)
    return fig


def confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str, color: str = "#3366CC") -> go.Figure:
    z = np.asarray(matrix, float)
    frac = z / np.maximum(z.sum(axis=1, keepdims=True), 1)
    text = [[f"{int(z[i, j])}<br>({frac[i, j]:.0%})" for j in range(z.shape[1])] for i in range(z.shape[0])]
    fig = go.Figure(go.Heatmap(z=frac, x=[f"pred {l}" for l in labels], y=[f"true {l}" for l in labels], text=text, texttemplate="%{text}",
                               colorscale=[[0, "rgba(128,128,128,0.08)"], [1, color]], zmin=0, zmax=1, showscale=False, hovertemplate="%{y} → %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=300)


def roc(curves: dict[str, Curve], colors: dict[str, str], points: dict[str, dict[str, Any]] | None = None, title: str = "ROC") -> go.Figure:
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


def pr(curves: dict[str, Curve], colors: dict[str, str], title: str = "Precision–recall") -> go.Figure:
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


def calibration(curves: dict[str, Curve], colors: dict[str, str], title: str = "Calibration") -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="#999"), name="perfectly calibrated", hoverinfo="skip"))
    for name, c in curves.items():
        fig.add_trace(go.Scatter(x=c.x, y=c.y, mode="lines+markers", line=dict(color=colors.get(name), width=2), name=f"{name} — Brier {c.auc:.3f}"))
    fig.update_xaxes(title="mean predicted probability", range=[0, 1])
    fig.update_yaxes(title="observed frequency", range=[0, 1])
    return _layout(fig, title, height=420)


def ranking(rows: Sequence[dict[str, Any]], colors: dict[str, str], title: str) -> go.Figure:
    """Out-of-fold and test ROC AUC with their 95 % CIs per model, in the leaderboard's order
    (`core.reports.leaderboard.rows` of one task: numbers with value / ci_low / ci_high)."""
    fig = go.Figure()
    names = [r["model"] for r in rows]
    for part, symbol, label, offset in (("oof_roc_auc", "circle", "out of fold", -0.17), ("test_roc_auc", "diamond-open", "test split", 0.17)):
        xs, ys, lo, hi, cols, text = [], [], [], [], [], []
        for i, r in enumerate(rows):
            m = r.get(part)
            if not m or m.get("value") is None or m["value"] != m["value"]:
                continue
            v = float(m["value"])
            l = m.get("ci_low") if m.get("ci_low") == m.get("ci_low") else v
            h = m.get("ci_high") if m.get("ci_high") == m.get("ci_high") else v
            xs.append(v)
            ys.append(i + offset)
            lo.append(v - (l if l is not None else v))
            hi.append((h if h is not None else v) - v)
            cols.append(colors.get(r["model"], "#444"))
            text.append(f"{r['model']} — {label}: {v:.3f} [{l:.2f}–{h:.2f}]" + (f" ({r.get('oof_images') or r.get('test_images')} images)"))
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=label, marker=dict(size=11, symbol=symbol, color="#555", line=dict(width=2, color="#555"))))
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=label, text=text, hovertemplate="%{text}<extra></extra>", showlegend=False,
                                     marker=dict(size=11, symbol=symbol, color=cols, line=dict(width=2, color=cols)),
                                     error_x=dict(type="data", symmetric=False, array=hi, arrayminus=lo, thickness=1.6, width=5, color="#777")))
    fig.add_vline(x=0.5, line=dict(dash="dot", color="#999"))
    fig.update_xaxes(title="ROC AUC (95 % patient-level bootstrap CI)", range=[0, 1])
    fig.update_yaxes(tickvals=list(range(len(names))), ticktext=names, autorange="reversed")
    return _layout(fig, title, height=max(240, 90 + 46 * len(names)))


def paired(d: dict[str, Any], colors: dict[str, str]) -> go.Figure:
    """The paired out-of-fold comparison: each model's AUC, and their difference with its 95 % CI."""
    from plotly.subplots import make_subplots

    a, b = d["model_a"], d["model_b"]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.5, 0.5], horizontal_spacing=0.14,
                        subplot_titles=("out-of-fold ROC AUC, same images", "difference A − B (95 % CI)"))
    fig.add_trace(go.Bar(x=[d["auc_a"], d["auc_b"]], y=[f"A: {a}", f"B: {b}"], orientation="h", marker_color=[colors.get(a, "#3366CC"), colors.get(b, "#DC3912")],
                         text=[f"{d['auc_a']:.3f}", f"{d['auc_b']:.3f}"], textposition="auto", showlegend=False, hovertemplate="%{y}: %{x:.3f}<extra></extra>"), row=1, col=1)
    lo, hi = d["ci_low"], d["ci_high"]
    ok = lo == lo and hi == hi
    fig.add_trace(go.Scatter(x=[d["difference"]], y=["A − B"], mode="markers", marker=dict(size=13, color="#888"), showlegend=False,
                             error_x=dict(type="data", symmetric=False, array=[hi - d["difference"] if ok else 0], arrayminus=[d["difference"] - lo if ok else 0], thickness=2.5, width=8, color="#888"),
                             hovertemplate=f"{d['difference']:+.3f} [{lo:+.3f}, {hi:+.3f}]<extra></extra>"), row=1, col=2)
    fig.add_vline(x=0, line=dict(dash="dot", color="#999"), row=1, col=2)
    fig.update_xaxes(range=[0, 1], row=1, col=1)
    span = max(0.25, abs(lo) if ok else 0, abs(hi) if ok else 0) * 1.15
    fig.update_xaxes(range=[-span, span], zeroline=False, row=1, col=2)
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    return _layout(fig, "", height=230)


def probabilities(frame, colors: dict[str, str]) -> go.Figure:
    fig = go.Figure()
    for name, g in frame.groupby("model", sort=False):
        fig.add_trace(go.Bar(x=g["class"], y=g["probability"], name=name, marker_color=colors.get(name), text=[f"{p:.2f}" for p in g["probability"]], textposition="outside"))
    fig.update_yaxes(range=[0, 1.1], title="probability")
    return _layout(fig, "Probabilities per model", height=330, barmode="group")


def against_threshold(frame, colors: dict[str, str]) -> go.Figure:
    """Each binary model's p(positive) (dot) beside its own threshold (tick): right of the tick
    is the positive call, so models that agree line up at a glance."""
    rows = frame.dropna(subset=["p(positive)", "threshold"])
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=rows["threshold"], y=rows["model"], mode="markers", name="threshold", marker=dict(symbol="line-ns-open", size=18, color="#888")))
    fig.add_trace(go.Scatter(x=rows["p(positive)"], y=rows["model"], mode="markers", name="p(positive)",
                             marker=dict(size=11, color=[colors.get(m, "#3366CC") for m in rows["model"]]),
                             text=[f"{t}: {d}" for t, d in zip(rows["task"], rows["decision"])], hovertemplate="%{y}: p = %{x:.2f} (%{text})<extra></extra>"))
    fig.update_xaxes(range=[0, 1], title="probability of the task's positive class (lesion / malignant)")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Each model's probability against its own threshold", height=max(220, 34 * len(rows) + 110), showlegend=False)


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


def net_benefit(curves, colors: dict[str, str], title: str = "Decision curves, out of fold") -> go.Figure:
    """Net benefit per threshold probability (`core.evaluation.net_benefit.decision_curves`):
    each model beside treat-all (dashed) and treat-none (dotted); the y axis stops a little below
    0, where treat-all falls away, so the models' curves stay readable."""
    fig = go.Figure()
    style = {"treat all": dict(dash="dash", color="#777"), "treat none": dict(dash="dot", color="#999")}
    for name, g in curves.groupby("model", sort=False):
        fig.add_trace(go.Scatter(x=g["threshold"], y=g["net_benefit"], mode="lines", name=name,
                                 line=style.get(name, dict(color=colors.get(name), width=2.5)),
                                 hovertemplate=f"{name}: pt %{{x:.2f}}, net benefit %{{y:.3f}}<extra></extra>"))
    top = float(curves["net_benefit"].max()) if len(curves) else 0.5
    fig.update_yaxes(title="net benefit", range=[-0.05, max(0.05, top * 1.1)])  # the caption under the chart says what it counts
    fig.update_xaxes(title="threshold probability pt", range=[0, 1])
    _layout(fig, title, height=420)
    return fig.update_layout(legend=dict(y=-0.25), margin=dict(b=40))  # the legend below the x axis title, not on it

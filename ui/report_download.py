"""Compare's report to take away (issue 35, part 6): one button that downloads the chosen
models' self-contained HTML report (`core.dashboard.html_report`).

The report is built when the button is clicked (Streamlit runs the callable on its own
thread, outside the script run, so everything it needs is read from the session here) and
kept process-wide for the same models, task, settings and committed files. The settings are
the page's: the judging parts' A and B, the operating points' specificity and sensitivity,
the curves' split and event and the sidebar's coverage. Only dataset films are in it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import streamlit as st

KEEP = 4  # reports kept (a few MB each: plotly.js is inline)
_CACHE: OrderedDict[tuple, bytes] = OrderedDict()
_LOCK = threading.Lock()


def _stamp(cards: Sequence[dict[str, Any]]) -> tuple:
    out = []
    for c in cards:
        folder = Path(c["_folder"])
        out.append((c["name"], *((folder / f).stat().st_mtime_ns if (folder / f).is_file() else 0 for f in ("card.json", "predictions.csv", "oof_predictions.csv"))))
    return tuple(out)


def report(cards: Sequence[dict[str, Any]], task: str, *, models_dir: str, data_dir: str | None, colors: dict[str, str], **settings: Any) -> bytes:
    """The report's bytes, built once per models, task, settings and committed files."""
    from core.dashboard import html_report

    key = (task, models_dir, data_dir, tuple(sorted(settings.items())), _stamp(cards))
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    members, source = html_report.membership(cards, models_dir, data_dir, use_records=data_dir is not None)
    doc = html_report.build_report(cards, task, models_dir=models_dir, members=members, members_source=source, colors=colors, **settings).encode("utf-8")
    with _LOCK:
        _CACHE[key] = doc
        while len(_CACHE) > KEEP:
            _CACHE.popitem(last=False)
    return doc


def settings(task: str, chosen: Sequence[str]) -> dict[str, Any]:
    """What the page shows now, from the session (widget values of this and the last run)."""
    from core.reports.curves import events_for

    ss = st.session_state
    a, b = ss.get(f"judge_a_{task}"), ss.get(f"judge_b_{task}")
    event = ss.get("compare_event")
    return {"pair": (a, b) if a in chosen and b in chosen and a != b else None,
            "specificity": round(float(ss.get(f"judge_spec_{task}", 0.90)), 4), "sensitivity": round(float(ss.get(f"judge_sens_{task}", 0.90)), 4),
            "split": ss.get("compare_split") if ss.get("compare_split") in ("test", "val") else "test",
            "event": event if event in events_for(task) else None, "coverage": float(ss.get("coverage", 0.9))}


def button(by_name: dict[str, dict[str, Any]], chosen: Sequence[str], task: str, colors: dict[str, str]) -> None:
    """'Download report (HTML)' for the chosen models of `task`."""
    from ui.data_roots import allowed_data_dir, models_dir

    cards = [by_name[n] for n in chosen if n in by_name]
    if not cards:
        return
    folder = allowed_data_dir(st.session_state.get("data_dir"))
    root, data_dir, chosen_settings = str(models_dir()), None if folder is None else str(folder), settings(task, [c["name"] for c in cards])
    palette = {c["name"]: colors.get(c["name"], "#3366CC") for c in cards}
    st.download_button("Download report (HTML)", lambda: report(cards, task, models_dir=root, data_dir=data_dir, colors=palette, **chosen_settings),
                       file_name=f"model_comparison_{task}.html", mime="text/html", icon=":material/description:", key=f"compare_report_{task}",
                       on_click="ignore",
                       help="One self-contained HTML file of what this page shows for the chosen models (leaderboard rows, paired comparison, "
                            "curves, slices, operating points, decision curves, films to open first, weights and record digests), with the "
                            "command that recomputes each part. It opens offline. Built when clicked: the bootstraps take a few seconds.")

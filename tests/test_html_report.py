"""Compare's report to take away (issue 35, part 6): one self-contained HTML file of the chosen
models, whose figures equal what `leaderboard --check` holds (models/supervisor_figures.json),
that opens offline in a real browser and holds no server path.

The report's slice and operating-point figures are held to models/supervisor_figures.json, the
file `leaderboard --check` recomputes (the whole check takes ~23 s: tests/test_contract.py runs
it, tests/test_judging.py its supervisor part); the report's own commands are run here.
Committed models only; no training, no weights loaded.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.dashboard import html_report
from core.reports import supervisor

REPO = Path(__file__).resolve().parents[1]
WHEN = "2026-01-01 00:00 UTC"
FIGURE_IDS = ("ranking", "paired-oof", "roc", "pr", "calibration", "decision-curves")


def _three_best() -> list[dict]:
    cards = supervisor.judged_cards(None, "stage1")[:3]
    if len(cards) < 3:
        pytest.skip("fewer than three committed stage-1 models with a complete out-of-fold run")
    return cards


@pytest.fixture(scope="module")
def built() -> tuple[list[dict], str]:
    cards = _three_best()
    members, source = html_report.membership(cards)
    return cards, html_report.build_report(cards, "stage1", members=members, members_source=source, generated=WHEN)


def _same(a: float, b: float) -> bool:
    return (a != a and b != b) or abs(a - b) <= supervisor.CHECK_TOL


def test_report_figures_equal_the_committed_ones(built):
    """Slices and operating points as `leaderboard --check` holds them; the rows and provenance as the cards say."""
    cards, doc = built
    figs = html_report.embedded_figures(doc)
    names = [c["name"] for c in cards]
    assert figs["models"] == figs["judged"] == names
    saved = supervisor.committed()
    assert saved is not None and (figs["settings"]["specificity"], figs["settings"]["sensitivity"]) == (saved["specificity"], saved["sensitivity"])
    assert figs["settings"]["n_boot"] == saved["n_boot"]
    entry = saved["tasks"]["stage1"]
    ours = supervisor._flat({"slices": figs["slices"], "operating_points": figs["operating_points"]})
    theirs = supervisor._flat(entry)
    per_model = {k: v for k, v in ours.items() if k[0] in names}
    assert len(per_model) > 100 and {m for m, _ in per_model} == set(names)
    assert all(k in theirs and _same(v, theirs[k]) for k, v in per_model.items()), [k for k, v in per_model.items() if k not in theirs or not _same(v, theirs[k])][:5]
    if [entry["slices"]["paired"]["a"], entry["slices"]["paired"]["b"]] == figs["pair"]:  # the committed pair is among the three
        paired = {k: v for k, v in ours.items() if k[0] not in names}
        assert paired and all(_same(v, theirs[k]) for k, v in paired.items())
    # leaderboard rows: the cards' own out-of-fold ROC-AUC; provenance: each card's weights SHA-256
    for row, card in zip(figs["leaderboard"], sorted(cards, key=lambda c: [r["model"] for r in figs["leaderboard"]].index(c["name"]))):
        assert row["oof_roc_auc"]["value"] == pytest.approx(card["oof"]["stage1"]["roc_auc"]["value"], abs=1e-12)
    hashes = {w["model"]: w.get("sha256") for w in figs["provenance"]["weights"]}
    for card in cards:
        assert hashes[card["name"]] == (card.get("weights") or {}).get("sha256")
    assert any(h for h in hashes.values()), "a composite's members and their hashes follow it"
    rec = figs["provenance"]["records"]["mias"]
    assert rec["films"] == 322 and re.fullmatch(r"[0-9a-f]{64}", rec["sha256"])
    # the digest is the committed slice facts' as much as the records' (leaderboard --check holds the two equal)
    committed = html_report.record_digest(supervisor.committed_membership(), _truth(cards))
    assert committed["mias"]["sha256"] == rec["sha256"]
    assert figs["paired_oof"]["model_a"] == figs["pair"][0] and -1 <= figs["paired_oof"]["difference"] <= 1
    assert figs["disagreements"] and all(re.fullmatch(r"mdb\d{3}", r["image_id"]) for r in figs["disagreements"])


def _truth(cards) -> dict[str, int]:
    named = supervisor.views(cards, "stage1")
    return {str(i): int(y) for v in named.values() for i, y in zip(v["image_id"], v["y"])}


def test_each_part_names_a_command_that_recomputes_it(built, capsys, tmp_path):
    """The report's own commands: `leaderboard --slices / --operating-points` give the same
    figures, and `python -m core report` rebuilds the same bytes (but the time it was made)."""
    import json

    from core.cli import main

    cards, doc = built
    figs = html_report.embedded_figures(doc)
    slices, ops = figs["commands"]["slices"].split(), figs["commands"]["operating_points"].split()
    assert slices[:3] == ops[:3] == ["python", "-m", "core"] and figs["commands"]["slices"] in doc and figs["commands"]["operating_points"] in doc
    assert main(slices[3:] + [a for a in ops[3:] if a not in slices]) == 0  # both commands' arguments, in one run
    again = json.loads(capsys.readouterr().out)["stage1"]
    for part in ("slices", "operating_points"):
        assert supervisor._flat({part: again[part]}) == supervisor._flat({part: figs[part]})
    out = tmp_path / "report.html"
    command = figs["commands"]["report"].split()[3:]
    assert main([*command[:-1], str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(tmp_path) not in printed and "bytes" in printed
    stamp = re.compile(r"Made [^<]*? by the")
    assert stamp.sub("", out.read_text()) == stamp.sub("", doc)


def test_report_opens_offline_and_escapes_every_text(built):
    cards, doc = built
    assert doc.startswith("<!DOCTYPE html>") and doc.rstrip().endswith("</html>")
    assert not re.search(r"<script[^>]*\bsrc\s*=", doc, re.I), "no script is fetched"
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", doc, re.I) and "@import" not in doc
    assert doc.count("<script>/**\n* plotly.js v") == 1, "plotly.js inline, once"
    for fid in FIGURE_IDS:
        assert f'id="figure-{fid}"' in doc, fid
    assert "python -m core leaderboard --slices --task stage1 --models" in doc and all(c["name"] in doc for c in cards)
    # every text escaped: a hostile model name and title come out as text
    figs = html_report.embedded_figures(doc)
    evil = "<img src=x onerror=alert('ZQX')>"
    figs["task_title"] = evil
    figs["leaderboard_table"][0]["model"] = evil
    figs["disagreements"][0]["image_id"] = evil
    page = html_report.render(figs, generated=evil)
    assert "<img src=x" not in page.split('<script type="application/json" id="figures">')[0]
    assert html_report.embedded_figures(page)["task_title"] == evil  # the JSON keeps it, inert inside its script element
    assert "<img" not in page.split('id="figures">')[1].split("</script>")[0]


def test_report_holds_no_server_path_or_file_name(built):
    """The privacy tests' rule for every output: no server path (the checkout, the data folder,
    the temp and home folders), no weights file name, no card's folder."""
    import os
    import tempfile

    cards, doc = built
    needles = {str(REPO), str(supervisor.default_data_root()), str(supervisor.default_data_root().resolve()), tempfile.gettempdir() + "/",
               os.path.expanduser("~") + "/", "/work/", "_folder", "shared/data"}
    needles |= {str(Path(c["_folder"])) for c in cards}
    assert not [n for n in needles if n in doc]
    for c in cards:
        f = (c.get("weights") or {}).get("file")
        if f:
            assert f not in doc


def test_compare_offers_the_report_download(monkeypatch):
    """Compare's button, and what clicking it downloads: the page's models and settings, no path."""
    import streamlit
    from streamlit.testing.v1 import AppTest

    _three_best()
    offered: list[tuple[str, object]] = []
    real = streamlit.download_button

    def record(label, data=None, *args, **kwargs):
        offered.append((label, data))
        return real(label, data, *args, **kwargs)

    monkeypatch.setattr(streamlit, "download_button", record)
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=600)
    at.switch_page("pages/compare.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [b.proto.label for b in at.get("download_button")].count("Download report (HTML)") == 1
    data = next(d for label, d in offered if label == "Download report (HTML)")
    assert callable(data), "built when clicked, not on every run"
    doc = data().decode("utf-8")  # what a click downloads (Streamlit runs the callable on its own thread)
    figs = html_report.embedded_figures(doc)
    assert figs["models"] == at.multiselect(key="compare_models_stage1").value and figs["task"] == "stage1"
    assert figs["pair"] == [at.selectbox(key="judge_a_stage1").value, at.selectbox(key="judge_b_stage1").value]
    assert str(REPO) not in doc and str(supervisor.default_data_root()) not in doc


def test_report_draws_in_chromium_offline(browser, built, tmp_path):
    """Opened from a file with the network off: plotly draws every figure; a screenshot to look at."""
    from browser_kit import SHOTS

    _, doc = built
    path = tmp_path / "report.html"
    path.write_text(doc, encoding="utf-8")
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    fetched: list[str] = []
    errors: list[str] = []

    def only_the_file(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            fetched.append(route.request.url)
            route.abort()

    page = context.new_page()
    page.route("**/*", only_the_file)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(FIGURE_IDS)}", timeout=60_000)
    assert page.locator(".js-plotly-plot").count() == len(FIGURE_IDS)
    assert page.locator("#figure-roc .scatterlayer .trace").count() >= 3
    assert fetched == [] and errors == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "report.png"), full_page=True)
    context.close()

"""The README a newcomer reads first: small, its pictures and links there, and its figures
recomputed from the committed model folders (no model is run)."""

from __future__ import annotations

import re

import pytest

from conftest import REPO

README = (REPO / "README.md").read_text()


def test_readme_is_short():
    assert len(README.encode()) <= 12 * 1024


def test_headline_leaderboard_is_what_the_committed_files_give():
    from core.reports.leaderboard import headline

    block = re.search(r"<!-- headline:start -->\n(.*?)\n<!-- headline:end -->", README, re.S)
    assert block, "the README's leaderboard sits between headline markers"
    assert block.group(1) == headline(), "rerun `python -m core leaderboard --headline` and paste it into the README"


def test_pictures_and_links_are_there():
    targets = re.findall(r"\]\(((?:docs|cloud)/[^)#]+)", README)
    assert {"docs/images/compare.webp", "docs/images/upload.webp", "docs/deploy.md", "docs/cli.md"} <= set(targets)
    for target in targets:
        path = REPO / target
        assert path.is_file(), target
        if path.suffix == ".webp":
            assert path.stat().st_size <= 200_000, f"{target} is heavy for a README picture"
            from PIL import Image

            with Image.open(path) as im:
                assert im.format == "WEBP" and im.width >= 800


def _oof(name: str, task: str):
    from core.models import registry
    from core.evaluation.oof import oof_view, read_oof

    card = registry.card(name)
    return oof_view(read_oof(card), card["classes"], task)


def _said(text: str) -> tuple[float, float, float]:
    """(difference, low, high) as the README writes them after `text`: `+0.178 (+0.091 to +0.267)`."""
    flat = " ".join(README.split())
    found = re.search(re.escape(text) + r" ([+-]\d\.\d{3}) \(([+-]\d\.\d{3}) to ([+-]\d\.\d{3})\)", flat)
    assert found, text
    return tuple(float(g) for g in found.groups())


def test_paired_figures_recompute():
    from core.models import registry
    from core.evaluation.oof import paired_difference, paired_three_class, read_oof

    d = paired_difference(_oof("ens-stage1-tta", "stage1"), _oof("s1-efficientnet-lite0-torch", "stage1"))
    assert _said("`ens-stage1-tta` − `s1-efficientnet-lite0-torch`") == pytest.approx((d["difference"], d["ci_low"], d["ci_high"]), abs=5e-4)
    h, f = registry.card("hierarchy-lesion"), registry.card("flat3-lite0-maps")
    m = paired_three_class(read_oof(h), read_oof(f), h["classes"])["macro_f1"]
    assert _said("`hierarchy-lesion` − `flat3-lite0-maps`") == pytest.approx((m["difference"], m["ci_low"], m["ci_high"]), abs=5e-4)

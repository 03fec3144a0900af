"""Does an own recipe beat the seed recipes of its task? Paired, out of fold, from committed files.

Each seed recipe with a complete out-of-fold run in the task is set against the own recipe on
the images both scored: the patient-level paired bootstrap of the ROC-AUC difference (own −
seed). "Beats" means the whole 95 % interval is above 0; nothing else counts. Models built on
an own recipe (a hierarchy whose stage is one) are not seed recipes.

    python -m core.reports.versus own-stage2-maps-stacked [--format md|json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from core.reports.curves import paired_oof
from core.training.folds import K
from core.models import kinds, registry
from core.evaluation.oof import complete

OWN = "own"


def built_on_own(card: dict[str, Any], cards: dict[str, dict[str, Any]]) -> bool:
    """The card is an own recipe, or a composite with one among its members (at any depth)."""
    if card.get("seed_system") == OWN:
        return True
    return any(built_on_own(cards[m], cards) for m in kinds.members(card) if m in cards)


def seed_rivals(card: dict[str, Any], cards: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Seed recipes judged out of fold on every fold in the own recipe's task."""
    task = card["task"]
    return [c for c in cards.values() if not built_on_own(c, cards) and not c.get("smoke") and complete(c)
            and ((c.get("oof") or {}).get(task) or {}).get("folds") == K]


def versus_seeds(name: str, models_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per seed recipe: both AUCs, the difference with its interval, and the verdict."""
    cards = {c["name"]: c for c in registry.discover(models_dir)}
    own = cards[name]
    rows = []
    for rival in seed_rivals(own, cards):
        d = paired_oof(own, rival, own["task"])
        if d is None:
            continue
        rows.append({"seed_recipe": rival["name"], "seed": rival.get("seed_system"), "images": d["n_images"], "patients": d["n_patients"],
                     "own_auc": round(d["auc_a"], 3), "seed_auc": round(d["auc_b"], 3), "difference": round(d["difference"], 3),
                     "ci_low": round(d["ci_low"], 3), "ci_high": round(d["ci_high"], 3), "beats": bool(d["ci_low"] > 0)})
    return sorted(rows, key=lambda r: -r["seed_auc"])


def to_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| seed recipe | seed | images | own AUC | seed AUC | own − seed (95 % CI) | beaten |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed_recipe']} | {r['seed']} | {r['images']} | {r['own_auc']:.3f} | {r['seed_auc']:.3f} | "
                     f"{r['difference']:+.3f} ({r['ci_low']:+.3f} to {r['ci_high']:+.3f}) | {'yes' if r['beats'] else 'no'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m core.reports.versus", description="An own recipe against every seed recipe of its task, out of fold (paired bootstrap)")
    ap.add_argument("model")
    ap.add_argument("--format", choices=("md", "json"), default="md")
    ap.add_argument("--models-dir", default=None)
    args = ap.parse_args(argv)
    rows = versus_seeds(args.model, args.models_dir)
    print(json.dumps(rows, indent=1) if args.format == "json" else to_markdown(rows))


if __name__ == "__main__":
    main()

"""Per-model CPU latency (p50, batch 1) on a MIAS film and a full-field sample DICOM.

Training measures latency while other work may load the CPU; run this on a quiet machine
and pass --update-cards to store the film figure as the card's `latency_ms_p50_cpu_batch1`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.datasets import load_dataset  # noqa: E402
from core.io.reader import read_image  # noqa: E402
from core.models import registry  # noqa: E402
from core.models.card import write_card  # noqa: E402
from core.types import Mammogram  # noqa: E402


def fresh(image: Mammogram) -> Mammogram:
    return Mammogram(image.pixels.view(), image.meta)


def p50_ms(model, image, repeats: int = 9) -> float:
    """Preprocessing included: a fresh view of the pixels each call defeats the classifier's
    last-input cache (a view is a new array object, no copy)."""
    model.predict_proba([fresh(image)])
    times = []
    for _ in range(repeats):
        im = fresh(image)
        t0 = time.perf_counter()
        model.predict_proba([im])
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--update-cards", action="store_true")
    args = ap.parse_args()
    film = read_image(load_dataset("mias", Path(args.data) / "mini-mias")[0].path)
    dicom = read_image(load_dataset("sample")[0].path)
    print(f"{'model':32s} {'film 1024 px':>14s} {'DICOM ~4600 px':>16s}")
    for card in registry.discover():
        if not registry.weights_available(card):
            continue
        model = registry.load(card["name"])
        t_film, t_dicom = p50_ms(model, film), p50_ms(model, dicom)
        target = "" if card.get("kind") not in ("patch_dense", "patch_dense_e2e", "segmentation") else f"   dense map target 1000 ms on the film: {'met' if t_film <= 1000 else 'missed'} ({t_film / 1000:.2f}x)"
        print(f"{card['name']:32s} {t_film:11.1f} ms {t_dicom:13.1f} ms{target}")
        if args.update_cards:
            card["latency_ms_p50_cpu_batch1"] = round(t_film, 1)
            write_card(card["_folder"], card)


if __name__ == "__main__":
    main()

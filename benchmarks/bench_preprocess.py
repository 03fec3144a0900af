"""Foundation speed figures: one full-field sample DICOM -> 512-px model input, and MIAS listing.

Targets (issue 2, on the 2-core dev machine): read + preprocess <= 0.5 s; listing MIAS <= 1 s.
Run: python benchmarks/bench_preprocess.py [--data ../shared/data]
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
from core.preprocess.pipeline import Pipeline  # noqa: E402

PIPELINE = Pipeline([["limit_size", {"max_side": 1024}], ["breast_crop", {}], ["orient_left", {}], ["clahe", {"clip_limit": 2.0}], ["resize_pad", {"size": 512}], ["stack3", {}], ["normalize", {"mode": "imagenet"}]])


def timed(fn, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = ap.parse_args()
    print(f"pipeline: {PIPELINE.describe()}")
    worst = 0.0
    for rec in load_dataset("sample"):
        data = Path(rec.path).read_bytes()
        t_read = timed(lambda: read_image(data))
        image = read_image(data)
        t_prep = timed(lambda: PIPELINE.apply(image.pixels))
        worst = max(worst, t_read + t_prep)
        print(f"{rec.image_id:32s} {image.shape[0]}x{image.shape[1]}  read {t_read * 1000:6.0f} ms  preprocess {t_prep * 1000:6.0f} ms  total {1000 * (t_read + t_prep):6.0f} ms")
    print(f"worst sample DICOM -> 512-px input: {worst:.3f} s (target 0.5 s, ratio {worst / 0.5:.2f})")
    mias = Path(args.data) / "mini-mias"
    if mias.is_dir():
        t_list = timed(lambda: load_dataset("mias", mias))
        print(f"listing MIAS ({len(load_dataset('mias', mias))} records): {t_list * 1000:.1f} ms (target 1 s, ratio {t_list:.3f})")
    else:
        print(f"MIAS not found at {mias}: listing not measured")


if __name__ == "__main__":
    main()

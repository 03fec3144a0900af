"""`python -m core score` on a synthetic archive: throughput with 1 and 2 workers, peak memory
at two archive sizes, and the share of time spent decoding vs in the models.

    python benchmarks/bench_score.py                                   # 200 and 1,000 files, every shipped model
    python benchmarks/bench_score.py --sizes 200,1000 --model s1-mobilenetv2-torch s2-mobilenet-keras

The archive: copies of the eight embedded sample DICOMs with new UIDs, shrunk to varied
sizes, RLE re-encoded, one corrupt file in 50 (`core.score.synthetic`). Peak memory is the
largest summed PSS of this process and all its descendants (Ray's raylet, object store,
actors), sampled every 0.2 s; throughput is taken between 25 % and 75 % of the archive done. Targets: memory flat in the archive's size (1,000 files within
15 % of 200), 2 workers at least 1.6x one worker on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FLAT_MEMORY = 1.15  # peak(1,000 files) / peak(200 files) at most
SPEEDUP_2 = 1.6  # images/s with 2 workers over 1, at least (idle 2-core machine)


def _tree_memory(root: int) -> int:
    """Summed PSS (bytes: shared pages split between the processes that map them, so the
    frameworks' libraries count once) of `root` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            for line in open(f"/proc/{pid}/smaps_rollup"):
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class PeakSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self._done = 0, threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, _tree_memory(os.getpid()))
            time.sleep(0.2)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak


def _middle_rate(stamps: list[tuple[float, int]], total: int) -> float:
    """Images/s between 25 % and 75 % of the archive done: the pipeline full, start-up (actors
    loading their models) and the final drain left out."""
    lo = next((t, n) for t, n in stamps if n >= 0.25 * total)
    hi = next((t, n) for t, n in stamps if n >= 0.75 * total)
    return (hi[1] - lo[1]) / (hi[0] - lo[0]) if hi[0] > lo[0] else float("nan")


def one_run(archive: Path, models: list[str], workers: int, batch_size: int, out: Path) -> dict:
    """Score `archive` from scratch; wall time, images/s overall and at 25–75 % done, peak PSS, time shares."""
    import pandas as pd

    from core.score.run import score

    if out.exists():
        out.unlink()
    stamps: list[tuple[float, int]] = []
    sampler = PeakSampler()
    sampler.start()
    t0 = time.perf_counter()
    summary = score(archive, "folder", models, out, workers=workers, batch_size=batch_size, progress=lambda d, t: stamps.append((time.perf_counter(), d)))
    wall = time.perf_counter() - t0
    peak = sampler.stop()
    rows = pd.read_parquet(out, columns=["image_id", "model", "decode_seconds", "model_seconds", "error"])
    decode = rows.drop_duplicates("image_id")["decode_seconds"].sum()
    model = rows["model_seconds"].sum()
    steady = _middle_rate(stamps, summary.scored)
    t_first = stamps[0][0]
    return {"files": summary.images, "workers": workers, "wall_s": wall, "images_per_s": summary.images / wall, "steady_images_per_s": steady,
            "startup_s": t_first - t0, "peak_gb": peak / 2**30, "decode_s": decode, "model_s": model,
            "decode_share": decode / (decode + model), "error_rows": int(rows["error"].notna().sum()),
            "model_s_per_image": rows.groupby("model")["model_seconds"].mean().to_dict()}


def main(argv: list[str] | None = None) -> int:
    from core.score.synthetic import make_archive

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="200,1000", help="archive sizes (files); the first is also run with 2 workers")
    ap.add_argument("--model", nargs="+", default=["all"])
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--workers", default="1,2", help="worker counts tried on the first size (the others: 1)")
    ap.add_argument("--workdir", default=None, help="where the archives go (default: a temporary folder)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_score_"))
    results = []
    for i, n in enumerate(sizes):
        archive = work / f"archive_{n}"
        if not archive.exists():
            t = time.perf_counter()
            counts = make_archive(archive, n)
            print(f"archive of {n} files ({counts['corrupt']} corrupt) written in {time.perf_counter() - t:.1f} s", flush=True)
        for workers in ([int(w) for w in args.workers.split(",")] if i == 0 else [1]):
            r = one_run(archive, args.model, workers, args.batch_size, work / f"scores_{n}_{workers}.parquet")
            results.append(r)
            print(f"{n:5d} files, {workers} worker(s): {r['wall_s']:.1f} s wall ({r['startup_s']:.1f} s to the first batch), "
                  f"{r['images_per_s']:.2f} images/s overall, {r['steady_images_per_s']:.2f} steady (25–75 % done); peak memory (PSS) {r['peak_gb']:.2f} GB; "
                  f"decoding {r['decode_share']:.1%} of decode + model time; {r['error_rows']} error rows", flush=True)
            print("      model seconds per image: " + ", ".join(f"{k} {v:.3f}" for k, v in r["model_s_per_image"].items()), flush=True)
    one = next(r for r in results if r["files"] == sizes[0] and r["workers"] == 1)
    two = next((r for r in results if r["files"] == sizes[0] and r["workers"] == 2), None)
    if two:
        ratio = two["images_per_s"] / one["images_per_s"]
        print(f"2 workers / 1 worker (images/s over the whole run, {sizes[0]} files): {ratio:.2f}x (target ≥ {SPEEDUP_2}x on an idle 2-core machine)")
    if len(sizes) > 1:
        big = next(r for r in results if r["files"] == sizes[-1] and r["workers"] == 1)
        flat = big["peak_gb"] / one["peak_gb"]
        print(f"peak memory {sizes[-1]} / {sizes[0]} files: {flat:.2f} (target ≤ {FLAT_MEMORY})")
    per_image = one["decode_s"] / one["files"] + one["model_s"] / one["files"]
    print(f"CPU seconds per image (decode + every chosen model, {sizes[0]} files): {per_image:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Serving from the committed graphs: prints figures (not a test).

    python benchmarks/bench_serving.py [--runtime onnx|torch] [--repeats 3]

In a fresh process (so imports and peak RSS are its own): load every default model (the
sidebar's preselection: live, not on demand) and run one full-field sample DICOM through all
of them as the pages do (`core.serving.inference.run_models`, two at a time, maps included),
then again on fresh copies of the image (warm). Prints the cold time (imports, graph loads,
first run), the warm time per upload, each model's own time, the runtime floor (every graph
pass a warm upload makes, flipped views included, recorded with its input and replayed one
after another on the same sessions) and warm / floor, the peak RSS,
and which training-stack packages the process imported. `--runtime torch` serves the
framework models instead (`MAMMO_RUNTIME=torch`), for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "timm", "keras", "tensorflow", "sklearn", "ray", "pytorch_grad_cam")

CHILD = r"""
import json, resource, statistics, sys, time
sys.path.insert(0, {repo!r})
t0 = time.perf_counter()
from core.dashboard import cards as dcards
from core.datasets import load_dataset
from core.io.reader import read_image
from core.models import registry
from core.serving import inference
from core.types import Mammogram

image = read_image(load_dataset("sample")[0].path)
names = [c["name"] for c in registry.discover() if dcards.is_shipped(c) and registry.weights_available(c) and not dcards.on_demand(c)]
models = [registry.load(n) for n in names]
runs = [r for _, r in inference.run_models(models, image)]
cold = time.perf_counter() - t0
warm, own = [], {{}}
for _ in range({repeats}):
    fresh = Mammogram(image.pixels.copy(), image.meta)
    t = time.perf_counter()
    runs = [r for _, r in inference.run_models(models, fresh)]
    warm.append(time.perf_counter() - t)
    for r in runs:
        own.setdefault(r.name, []).append(r.seconds)
    inference.forget(fresh)
floor = None
if {floor}:  # every graph pass a warm upload makes (TTA views included), replayed one after another
    import numpy as np
    from core.models.backends import onnx_runtime
    seen, call = [], onnx_runtime.OnnxModel.__call__
    def recording(self, x):
        seen.append((self, np.array(x, np.float32, copy=True)))
        return call(self, x)
    onnx_runtime.OnnxModel.__call__ = recording
    fresh = Mammogram(image.pixels.copy(), image.meta)
    list(inference.run_models(models, fresh))
    onnx_runtime.OnnxModel.__call__ = call
    inference.forget(fresh)
    for g, x in seen:
        g(x)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        for g, x in seen:
            g(x)
        times.append(time.perf_counter() - t)
    floor = statistics.median(times)
    passes = len(seen)
print(json.dumps({{"models": len(names), "cold_s": cold, "warm_s": warm, "floor_s": floor, "passes": passes if floor else 0,
                  "own_s": {{k: statistics.median(v) for k, v in own.items()}},
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "imported": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", default="onnx", choices=["onnx", "torch"])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    env = dict(os.environ, MAMMO_RUNTIME=args.runtime)
    env.pop("KERAS_BACKEND", None)
    code = CHILD.format(repo=str(REPO), repeats=args.repeats, floor=args.runtime == "onnx", heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    if out.returncode:
        sys.exit(out.stderr[-3000:])
    r = json.loads(out.stdout.strip().splitlines()[-1])
    warm = statistics.median(r["warm_s"])
    print(f"runtime {args.runtime}: {r['models']} default models, one full-field sample DICOM (4,000+ px)")
    print(f"  cold (imports, loads, first run)   {r['cold_s']:.2f} s")
    print(f"  warm upload, every default model   {warm:.2f} s  (runs: {', '.join(f'{w:.2f}' for w in r['warm_s'])})")
    if r["floor_s"]:
        print(f"  runtime floor ({r['passes']} bare graph passes) {r['floor_s']:.2f} s  -> warm / floor {warm / r['floor_s']:.2f}x")
    print(f"  peak RSS                           {r['peak_rss_mb']:.0f} MB")
    print(f"  training stack imported            {', '.join(r['imported']) or 'none'}")
    print("  models' own times (two at a time, median):")
    for k, v in sorted(r["own_s"].items(), key=lambda kv: -kv[1]):
        print(f"    {k:34s} {v:.3f} s")


if __name__ == "__main__":
    main()

"""Training data path figures (issue 23): prints, asserts nothing.

    python benchmarks/bench_training.py [--films 64] [--workers 0 2]

1. film cache build on real mini-MIAS films: films/s decoding (a cold cache in a temporary
   folder) and the second build (every film a hit);
2. streamed patches: patches/s out of the DataLoader alone, and through one training step
   of the dense patch net (EfficientNet-Lite0, 128-px patches, batch 32) on CPU, and on CUDA
   when one is visible, for each number of loader workers;
3. peak RSS of planning and reading one epoch of patches for N and 4N films (the cache
   reads from memory maps, so the ratio should stay near 1);
4. `--synthetic 200 2000`: peak RSS of training on a synthetic CBIS-DDSM archive
   (`core.datasets.synthetic`) of each size, in a fresh process each: the records, the film
   cache build, one epoch's patch plan with every patch read through the DataLoader, a few
   optimiser steps of the dense patch net, the U-Net's inputs, and the classifiers'
   inputs (224-px whole films, 128-px lesion patches) written to disk and read row by row.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _records(n: int):
    from core.datasets import load_dataset

    recs = load_dataset("mias", REPO.parent / "shared" / "data" / "mini-mias")
    return [recs[i % len(recs)] for i in range(n)]


def cache_build(n: int, root: Path) -> None:
    from core.training.cache import FilmCache, FilmPipeline

    cache = FilmCache(FilmPipeline(long_side=1024), root=root)
    recs = _records(min(n, 322))
    _, cold = cache.build(recs)
    _, warm = cache.build(recs)
    print(f"film cache, {cold.films} mini-MIAS films: cold build {cold.films_per_s:.1f} films/s ({cold.decoded} decoded); second build {warm.films_per_s:.0f} films/s (hits)")


def patches_per_s(root: Path, workers: int, device: str, batches: int = 6) -> None:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from core.models.nets.patch_net import DensePatchNet, data_config
    from core.training.device import autocast, resolve_device
    from core.training.films import stream_films
    from core.training.cache import FilmCache, FilmPipeline
    from core.training.patches import PatchDataset, patch_loader, plan_patches

    recs = _records(64)
    data = stream_films(recs, cache=FilmCache(FilmPipeline(1024), root=root), log=lambda _: None)
    net = DensePatchNet()
    cfg = data_config(net.trunk)
    dev = resolve_device(device)
    net = net.to(dev).to(memory_format=torch.channels_last)
    plan = plan_patches(data.films, [r.label for r in recs], range(len(recs)), data.cache, 128, np.random.default_rng(0))
    ds = PatchDataset(plan, data.films, data.cache, 128, cfg["mean"], cfg["std"])
    loader = patch_loader(ds, 32, workers=workers)
    t0, n = time.perf_counter(), 0
    for i, (x, _) in enumerate(loader):
        n += len(x)
        if i + 1 >= batches:
            break
    read = n / (time.perf_counter() - t0)
    opt = torch.optim.Adam(net.parameters(), 1e-4)
    net.train()
    t0, n = time.perf_counter(), 0
    for i, (x, y) in enumerate(loader):
        x, y = x.to(dev).contiguous(memory_format=torch.channels_last), y.to(dev)
        with autocast(dev):
            loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += len(x)
        if i + 1 >= batches:
            break
    if dev.type == "cuda":
        torch.cuda.synchronize()
    step = n / (time.perf_counter() - t0)
    print(f"patches/s on {dev.type}, {workers} loader worker(s): {read:.0f} read from the cache; {step:.0f} through a training step")


def epoch_rss(n: int, root: str) -> float:
    """Peak RSS (VmHWM: ru_maxrss would carry this parent's peak over the exec) of a fresh
    process planning and cutting every patch of one epoch of `n` films."""
    code = (
        "import sys, numpy as np; sys.path.insert(0, %r);"
        "from core.training.cache import FilmCache, FilmPipeline;"
        "from core.training.films import stream_films;"
        "from core.training.patches import PatchDataset, plan_patches;"
        "from core.datasets import load_dataset;"
        "recs = load_dataset('mias', %r); recs = [recs[i %% len(recs)] for i in range(%d)];"
        "d = stream_films(recs, cache=FilmCache(FilmPipeline(1024), root=__import__('pathlib').Path(%r)), log=lambda _: None);"
        "p = plan_patches(d.films, [r.label for r in recs], range(len(recs)), d.cache, 128, np.random.default_rng(0));"
        "ds = PatchDataset(p, d.films, d.cache, 128, [0.5]*3, [0.5]*3);"
        "n = sum(1 for k in range(len(ds)) if ds[k] is not None);"
        "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0] / 1024)"
    ) % (str(REPO), str(REPO.parent / "shared" / "data" / "mini-mias"), n, root)
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()[-1])


def train_rss_child(archive: str, n: int, cache_root: str, steps: int = 4) -> None:
    """In a fresh process: train on the first `n` films of `archive`; prints VmHWM in MB."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from core.datasets import load_dataset
    from core.models.nets.patch_net import DensePatchNet, data_config
    from core.training.cache import FilmCache, FilmPipeline
    from core.training.films import stream_films
    from core.training.patches import PatchDataset, patch_loader, plan_patches
    from core.preprocess.pipeline import Pipeline
    from core.training.sample_store import stored_samples
    from core.training.unet_loop import build_seg_data

    recs = load_dataset("cbis", archive)[:n]
    data = stream_films(recs, cache=FilmCache(FilmPipeline(1024), root=Path(cache_root)), log=lambda _: None)
    net = DensePatchNet()
    cfg = data_config(net.trunk)
    side = net.stride * net.window
    plan = plan_patches(data.films, [r.label for r in recs], range(len(recs)), data.cache, side, np.random.default_rng(0))
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    read = 0
    for b, (x, y) in enumerate(patch_loader(PatchDataset(plan, data.films, data.cache, side, cfg["mean"], cfg["std"]), 32)):
        read += len(y)
        if b < steps:
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    seg = build_seg_data(data, 256, log=lambda _: None)
    masked = int(sum(seg.masks[i].any() for i in range(len(recs))))  # every row read once
    whole = Pipeline.from_json([["limit_size", {"max_side": 1024}], ["breast_crop", {}], ["orient_left", {}], ["resize_pad", {"size": 224}]])
    patch = Pipeline.from_json([["clahe", {"clip_limit": 2.0}], ["median", {"ksize": 3}], ["resize", {"size": 128}]])
    inputs = 0
    for task_input, front, jitter in (("whole", whole, 0), ("patch", patch, 3)):  # the classifier recipes' fronts
        samples = stored_samples(recs, "flat3", task_input, front, jitter=jitter, root=Path(cache_root), log=lambda _: None)
        inputs += sum(np.isfinite(samples.inputs[i]).all() for i in range(len(samples.labels)))
    hwm = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")][0] / 1024
    print(f"{len(recs)} {len(plan)} {read} {masked} {inputs} {hwm:.1f}")


def synthetic_rss(sizes: list[int], workers: int) -> None:
    from core.datasets.synthetic import write_cbis_archive
    from core.training.cache import FilmCache, FilmPipeline

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        archive = write_cbis_archive(Path(tmp) / "CBIS", max(sizes), seed=0, long_side=1024, workers=workers)
        print(f"synthetic CBIS-DDSM archive: {max(sizes)} films (1,024-px long side) written in {time.perf_counter() - t0:.0f} s")
        from core.datasets import load_dataset

        recs = load_dataset("cbis", archive)
        _, stats = FilmCache(FilmPipeline(1024), root=Path(tmp) / "cache").build(recs, workers=workers)
        print(f"film cache build, synthetic CBIS-DDSM (RLE DICOMs + ROI-mask DICOMs): {stats.films_per_s:.1f} films/s cold with {workers} process(es)")
        figures = {}
        for n in sizes:
            out = subprocess.run([sys.executable, __file__, "--child-rss", str(archive), str(n), str(Path(tmp) / "cache")], capture_output=True, text=True, check=True).stdout.split()
            films, planned, read, masked, inputs, mb = int(out[0]), int(out[1]), int(out[2]), int(out[3]), int(out[4]), float(out[5])
            figures[n] = mb
            print(f"training on {films} synthetic films: {planned} patches planned, {read} read, {masked} U-Net masks from ROI DICOMs, {inputs} classifier inputs; peak RSS {mb:.0f} MB")
        lo, hi = min(sizes), max(sizes)
        print(f"peak RSS ratio {hi} vs {lo} films: {figures[hi] / figures[lo]:.2f} (target <= 1.15)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--films", type=int, default=80)
    ap.add_argument("--workers", type=int, nargs="*", default=[0, 2])
    ap.add_argument("--synthetic", type=int, nargs="*", default=None, metavar="N", help="only the synthetic-archive RSS figures, e.g. 200 2000")
    ap.add_argument("--child-rss", nargs=3, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_rss:
        train_rss_child(args.child_rss[0], int(args.child_rss[1]), args.child_rss[2])
        return
    if args.synthetic:
        synthetic_rss(args.synthetic, max(args.workers))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cache_build(322, root)
        import torch

        for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
            for w in args.workers:
                patches_per_s(root, w, device)
        small, large = epoch_rss(args.films, tmp), epoch_rss(4 * args.films, tmp)
        print(f"peak RSS planning and reading one epoch's patches: {args.films} films {small:.0f} MB, {4 * args.films} films {large:.0f} MB, ratio {large / small:.2f} (target <= 1.15; films repeat MIAS's 322, so beyond 322 the cache holds no new ones)")


if __name__ == "__main__":
    main()

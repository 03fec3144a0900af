"""Serving runtimes side by side: every served network at its served input, batch 1, same threads.

Prints, per network: eager torch, torch channels_last, ONNX Runtime and OpenVINO (when
installed), median of N runs, max |difference| against eager; export / load time cold and
from the cache; then the "bare forward floor" of one upload (`forward_floor_seconds`), which
`benchmarks/bench_dashboard.py` sets the page's time against.

    python benchmarks/bench_runtimes.py [--repeats 9]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_preprocess import timed as median_s  # noqa: E402  (one timing helper for every benchmark)

TTA_VIEWS = ("none", "hflip", "vflip")  # what the shipped ensembles' cards list under `tta`


@dataclass
class Served:
    """One network as served: its torch module (eager reference), its ONNX session, a real input."""

    name: str
    module: Any  # torch module whose output is what the session returns first
    onnx: Any  # runtime.OnnxModel
    x: np.ndarray  # N x 3 x H x W float32
    openvino: Callable | None = None  # compiled by `export_times` where OpenVINO is installed


def _sample_image():
    from core.datasets import load_dataset
    from core.io.reader import read_image

    return read_image(load_dataset("sample")[0].path)


def _dense_input(model, image) -> np.ndarray:
    from core.models.nets.dense import breast_box
    from core.preprocess.geometry import pad_to_multiple
    from core.models.nets.patch_net import to_tensor
    from core.preprocess.pipeline import breast_mask

    work, _ = model.front.apply(image.pixels)
    x0, y0, x1, y1 = breast_box(breast_mask(work))
    crop = work[y0:y1, x0:x1]
    side = model.net.stride * model.net.window
    padded = pad_to_multiple(np.pad(crop, ((0, max(0, side - crop.shape[0])), (0, max(0, side - crop.shape[1])))), model.net.stride)
    return to_tensor(padded, model.cfg["mean"], model.cfg["std"]).numpy()


def _unet_input(model, image) -> np.ndarray:
    from core.models.nets.patch_net import to_tensor

    work, _ = model.front.apply(image.pixels)
    return to_tensor(model.pipeline.apply(work)[0], model.cfg["mean"], model.cfg["std"]).numpy()


def _wrap(net: Any, fn: Callable) -> Any:
    """`fn(net, x)` as a module that owns `net` (the exporter traces its weights as parameters)."""
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return fn(self.net, x)

    return Wrapped().eval()


def served_networks(image=None) -> list[Served]:
    """Each shipped torch classifier, the dense patch net and the U-Net, with real inputs."""
    import torch

    from core.models import registry
    from core.models.classifier import _channels

    image = image if image is not None else _sample_image()
    out = []
    for card in registry.discover():
        if card.get("framework") != "torch" or not card.get("cam_layer") or not registry.weights_available(card):
            continue
        model = registry.load(card["name"])
        x = _channels(model.prepare(image)[0]).transpose(2, 0, 1)[None].astype(np.float32)
        net = model.backend.net
        out.append(Served(card["name"], _wrap(net, lambda n, t: torch.softmax(n(t), 1)), model.backend.onnx, np.ascontiguousarray(x)))
    dense = registry.load("patch-lite0-dense")
    out.append(Served(dense.name, _wrap(dense.net, lambda n, t: torch.softmax(n.dense_logits(t), 1)), dense.onnx, _dense_input(dense, image)))
    unet = registry.load("unet-bcir-lite0")
    out.append(Served(unet.name, _wrap(unet.net, lambda n, t: torch.sigmoid(n(t))), unet.onnx, _unet_input(unet, image)))
    return out


def _openvino(onnx_bytes_path: str, threads: int):
    try:
        import openvino as ov
    except ImportError:
        return None
    core = ov.Core()
    compiled = core.compile_model(core.read_model(onnx_bytes_path), "CPU", {"INFERENCE_NUM_THREADS": threads})
    return lambda x: compiled(x)[0]


def compare(s: Served, repeats: int, threads: int) -> dict[str, Any]:
    import torch

    t = torch.from_numpy(s.x)
    with torch.inference_mode():
        ref = s.module(t).numpy()
        row: dict[str, Any] = {"network": s.name, "input": "x".join(map(str, s.x.shape[2:]))}
        row["eager"] = median_s(lambda: s.module(t), repeats)
        cl_module = s.module.to(memory_format=torch.channels_last)
        tcl = t.contiguous(memory_format=torch.channels_last)
        row["channels_last"] = median_s(lambda: cl_module(tcl), repeats)
        row["diff_channels_last"] = float(np.abs(cl_module(tcl).numpy() - ref).max())
        s.module.to(memory_format=torch.contiguous_format)
    if s.onnx is not None:
        row["onnx"] = median_s(lambda: s.onnx(s.x), repeats)
        row["diff_onnx"] = float(np.abs(s.onnx(s.x)[0] - ref).max())
    return row


def export_times(s: Served, threads: int) -> tuple[float, float]:
    """(cold export + load, load from the cache) into a fresh temporary cache."""
    import torch

    from core.models.backends import onnx_runtime as runtime

    with tempfile.TemporaryDirectory() as tmp:
        real = runtime.cache_dir
        runtime.cache_dir = lambda: Path(tmp)
        try:
            kwargs = dict(name=s.name, sha256="b" * 64, output_names=("y",), dynamic_axes={"x": {0: "b", 2: "h", 3: "w"}}, n_threads=threads)
            cold = runtime.build(s.module, torch.from_numpy(s.x), **kwargs)
            warm = runtime.build(s.module, torch.from_numpy(s.x), **kwargs)
            s.openvino = _openvino(str(next(Path(tmp).glob("*.onnx"))), threads)
        finally:
            runtime.cache_dir = real
    return cold.seconds, warm.seconds


def forward_floor_seconds(image=None, repeats: int = 3) -> float:
    """The sum of the bare forward passes of every network the dashboard runs for one upload,
    in the served runtime: dense patch net and U-Net on each TTA view (inputs flipped), each
    shipped torch classifier once (ONNX Runtime), each shipped Keras classifier once (Keras).
    Preprocessing, maps and the page are left out: it is the floor the page's time is set against."""
    from core.models import registry
    from core.models.classifier import _channels

    image = image if image is not None else _sample_image()
    total = 0.0
    for s in served_networks(image):
        run = s.onnx if s.onnx is not None else (lambda x, m=s.module: _torch_call(m, x))
        if s.name in ("patch-lite0-dense", "unet-bcir-lite0"):
            views = {"none": s.x, "hflip": s.x[..., ::-1], "vflip": s.x[..., ::-1, :]}
            total += sum(median_s(lambda v=np.ascontiguousarray(views[n]): run(v), repeats) for n in TTA_VIEWS)
        else:
            total += median_s(lambda: run(s.x), repeats)
    for card in registry.discover():
        if card.get("framework") == "keras" and registry.weights_available(card):
            model = registry.load(card["name"])
            x = _channels(model.prepare(image)[0])[None].astype(np.float32)
            total += median_s(lambda: model.backend.forward(x), repeats)
    return total


def _torch_call(module, x: np.ndarray):
    import torch

    with torch.inference_mode():
        return module(torch.from_numpy(x))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    import torch

    from core.models.backends import onnx_runtime as runtime

    threads = runtime.threads()
    torch.set_num_threads(threads)
    print(f"runtime served: {runtime.choice()}   threads per network: {threads} (torch and ONNX Runtime)")
    networks = served_networks()
    print(f"{'network':30s} {'input':>10s} {'eager':>9s} {'ch_last':>9s} {'ORT':>9s} {'OpenVINO':>10s} {'|d| ch_last':>12s} {'|d| ORT':>9s} {'export':>8s} {'cached':>8s}")
    for s in networks:
        cold, warm = export_times(s, threads)
        row = compare(s, args.repeats, threads)
        ov = s.openvino
        ov_txt = f"{1000 * median_s(lambda: ov(s.x), args.repeats):7.1f} ms" if ov else "not installed"
        ort = f"{1000 * row['onnx']:6.1f} ms" if "onnx" in row else "   eager"
        print(f"{s.name:30s} {row['input']:>10s} {1000 * row['eager']:6.1f} ms {1000 * row['channels_last']:6.1f} ms {ort:>9s} {ov_txt:>10s} {row['diff_channels_last']:12.1e} {row.get('diff_onnx', float('nan')):9.1e} {cold:7.2f}s {1000 * warm:6.0f}ms")
    floor = forward_floor_seconds(repeats=args.repeats)
    print(f"bare forward floor, one sample DICOM (dense + U-Net x {len(TTA_VIEWS)} views, each classifier once): {floor:.3f} s")


if __name__ == "__main__":
    main()

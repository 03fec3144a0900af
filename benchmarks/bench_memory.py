"""Peak memory of the dashboard: prints figures (not a test).

    python benchmarks/bench_memory.py [--sessions 4] [--uploads 3] [--skip-keras]

Each scenario runs in a fresh process, so its peak RSS (ru_maxrss) is its own:
1. Keras engines: torch + the shipped Keras models served by Keras on torch, and by Keras
   on TensorFlow; peak RSS, import + load time and the largest probability difference;
2. one session, every shipped model selected, one uploaded full-field DICOM (the Upload
   page through Streamlit's AppTest: the app's own code path, session caches included);
3. N concurrent sessions (AppTest sessions alive together in one process, sharing the
   process-wide model cache as browser sessions of one server do), each having analysed
   K different uploads with every shipped model.
Targets (issue 12): one session <= 1.5 GB, four sessions x three uploads <= 2.0 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --------------------------------------------------------------------------- children
def child_keras(engine: str) -> dict:
    os.environ["KERAS_BACKEND"] = engine
    from core import quiet  # noqa: F401
    import numpy as np

    t0 = time.perf_counter()
    import torch  # noqa: F401  (the torch models are there anyway)
    import timm  # noqa: F401

    from core.dashboard import cards as dcards
    from core.models import registry

    torch_mb = _rss_mb()
    names = [c["name"] for c in registry.discover() if c.get("framework") == "keras" and dcards.is_shipped(c) and registry.weights_available(c)]
    probs = {}
    for n in names:
        m = registry.load(n)
        x = np.random.default_rng(0).random((1,) + tuple(m.backend.model.inputs[0].shape[1:]), dtype=np.float32)
        probs[n] = m.backend.forward(x)[0].tolist()
    return {"engine": m.backend.engine if names else engine, "models": names, "seconds": time.perf_counter() - t0,
            "rss_torch_mb": torch_mb, "peak_mb": _peak_mb(), "probs": probs}


def child_sessions(sessions: int, uploads: int) -> dict:
    from streamlit.testing.v1 import AppTest

    from core import quiet  # noqa: F401
    from core.datasets import load_dataset
    from ui import model_loading

    # read each file when it is uploaded: the 8 samples' bytes (83 MB) held by the harness
    # itself would otherwise count towards the app's peak
    files = [Path(r.path) for r in load_dataset("sample") if r.path]
    models = model_loading.usable_model_names()
    apps, timings = [], []
    start_mb = _rss_mb()
    for s in range(sessions):
        at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=1800)
        at.session_state["chosen_models"] = models
        at.switch_page("pages/upload.py")
        at.run()
        for u in range(uploads):
            data = files[(s * uploads + u) % len(files)].read_bytes()
            t0 = time.perf_counter()
            at.file_uploader(key="upload_file").set_value((f"f{u}.dcm", data, "application/dicom")).run()
            timings.append(time.perf_counter() - t0)
            if at.exception:
                return {"error": str(at.exception[0].value)[:300]}
        held = sum(at.session_state[k].nbytes() for k in ("_session_images", "_session_runs") if k in at.session_state)
        apps.append((at, held))
    return {"frameworks": [m for m in ("torch", "tensorflow") if m in sys.modules], "models": models, "sessions": sessions, "uploads": uploads, "start_mb": start_mb, "rss_mb": _rss_mb(), "peak_mb": _peak_mb(),
            "seconds": timings, "session_cache_mb": [h / 2**20 for _, h in apps],
            "images_per_session": [len(a.session_state["_session_images"]) for a, _ in apps]}


def _child(args: list[str], env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], cwd=REPO, capture_output=True, text=True, timeout=3600,
                         env=dict(os.environ, **(env or {})))
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if not lines:
        return {"error": (out.stderr or out.stdout)[-600:]}
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- report
def keras_engines() -> None:
    res = {e: _child(["keras", e]) for e in ("torch", "tensorflow")}
    for e, r in res.items():
        if "error" in r:
            print(f"Keras on {e}: failed ({r['error'].splitlines()[-1] if r['error'] else '?'})")
            return
        print(f"Keras on {e:<10}: torch + timm {r['rss_torch_mb']:.0f} MB; + Keras and {len(r['models'])} Keras model(s) "
              f"-> peak RSS {r['peak_mb']:.0f} MB; imports + load {r['seconds']:.1f} s")
    a, b = res["torch"]["probs"], res["tensorflow"]["probs"]
    diff = max((abs(x - y) for n in a for x, y in zip(a[n], b[n])), default=float("nan"))
    print(f"Keras engines: torch saves {res['tensorflow']['peak_mb'] - res['torch']['peak_mb']:.0f} MB; largest probability difference {diff:.1e}")


def sessions(n: int, k: int, label: str) -> dict:
    r = _child(["sessions", str(n), str(k)])
    if "error" in r:
        print(f"{label}: failed: {r['error']}")
        return r
    warm = r["seconds"][1:] or r["seconds"]
    print(f"{label}: {n} session(s) x {k} upload(s), {len(r['models'])} models each: peak RSS {r['peak_mb']:.0f} MB "
          f"(RSS {r['rss_mb']:.0f} MB at the end, {r['start_mb']:.0f} MB before the first page); "
          f"session caches {', '.join(f'{m:.1f}' for m in r['session_cache_mb'])} MB holding {r['images_per_session']} images; "
          f"first upload {r['seconds'][0]:.1f} s (loads models), later ones {min(warm):.1f}-{max(warm):.1f} s per page run; "
          f"frameworks imported: {', '.join(r.get('frameworks', []))}")
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs="+")
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--uploads", type=int, default=3)
    ap.add_argument("--skip-keras", action="store_true")
    ap.add_argument("--skip-one", action="store_true")
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        out = child_keras(rest[0]) if kind == "keras" else child_sessions(int(rest[0]), int(rest[1]))
        print(json.dumps(out))
        return
    print(f"CPU cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}; Keras engine for serving: {os.environ.get('KERAS_BACKEND', 'torch (default)')}")
    if not args.skip_keras:
        keras_engines()
    if not args.skip_one:
        sessions(1, 1, "one session, every model")
    sessions(args.sessions, args.uploads, "concurrent sessions")


if __name__ == "__main__":
    main()

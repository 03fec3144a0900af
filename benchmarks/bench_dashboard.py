"""Dashboard speed and memory: prints the figures the issue asks for (not a test).

    python benchmarks/bench_dashboard.py [--no-browser] [--repeats 3] [--only-first-paint] [--paint-repeats 3]

1. first paint, in headless Chromium on a fresh server (when chromium + playwright are
   there), for `/` and a direct link to `/upload`: seconds after opening the URL until the
   app's own navigation and the page's title are drawn, until the Overview's leaderboard
   (Upload's file uploader) is, and whether Streamlit's automatic file-name menu appeared;
   beside it the floor (a one-line app on the same machine); then the overview script in a
   fresh process (AppTest), with a check that torch / TensorFlow were not imported;
2. one uploaded full-field DICOM (embedded sample, 4432 x 2864, RLE) -> what the Upload page
   does: read, the display and zoom pictures, every shipped model's prediction with its maps
   (side by side, as the page runs them; `--workers 1` for one at a time) and each card's
   default overlay, cold and warm (warm = models loaded, computation
   repeated on a newly read image; a Streamlit cache hit skips all of it);
3. peak RSS of this process with every shipped model loaded and run;
4. a Compare rerun (AppTest, fresh process): first draw, switching to the validation split,
   then a rerun with nothing changed (curves and intervals cached by model, task and split);
5. peak RSS of one app session with every model and of four concurrent sessions with three
   uploads each (`benchmarks/bench_memory.py`, which also compares the Keras engines).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        cur = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        cur = float("nan")
    return cur, peak


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Runs in the page before any of its own scripts: notes (performance.now(), seconds after the
# browser started opening the URL) when each thing is first in the DOM. The file-name menu is
# Streamlit's automatic pages/ menu, whose first entry is the entry script, "streamlit app".
PAINT_PROBE = """
(() => {
  const t = {};
  const seen = (k) => { if (!(k in t)) t[k] = performance.now() / 1000; };
  const check = () => {
    const nav = document.querySelector('[data-testid="stSidebarNav"]');
    const menu = nav ? nav.innerText.toLowerCase() : '';
    if (menu.includes('streamlit app')) seen('file_menu');
    if (menu.includes('upload a mammogram') && menu.includes('model cards')) seen('app_nav');
    for (const h of document.querySelectorAll('h1')) { if (h.innerText.trim() === window.__heading) seen('title'); }
    if ('app_nav' in t && 'title' in t) seen('first_paint');
    if (document.querySelector('[data-testid="stDataFrame"] canvas')) seen('leaderboard');
    if (document.querySelector('[data-testid="stFileUploader"]') && document.body.innerText.includes('Drop a mammogram above')) seen('uploader');
  };
  window.__paint = t;
  new MutationObserver(check).observe(document, {subtree: true, childList: true, characterData: true});
})();
"""
# URL -> (the page's heading, what "drawn" waits for, its label)
PAINT_PAGES = {"/": ("Mammography AI workbench", "leaderboard", "leaderboard drawn"),
               "/upload": ("Upload a mammogram or a study", "uploader", "page drawn (file uploader)")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _open_fresh(path: str, heading: str, done: str, cwd: Path = REPO, script: str = "streamlit_app.py") -> tuple[float, dict[str, float]]:
    """A new `streamlit run` server, then one headless Chromium opening `path` once it is healthy:
    (seconds from start to healthy, {what: seconds after opening the URL})."""
    from playwright.sync_api import sync_playwright

    port = _free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                    break
            except OSError:
                if time.perf_counter() - t0 > 90:
                    raise RuntimeError("server not healthy in 90 s") from None
                time.sleep(0.05)
        t_health = time.perf_counter() - t0
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            page = b.new_page(viewport={"width": 1440, "height": 1000})
            page.add_init_script(f"window.__heading = {json.dumps(heading)};" + PAINT_PROBE)
            page.goto(url + path)
            page.wait_for_function(f"() => window.__paint && {json.dumps(done)} in window.__paint", timeout=120_000)
            page.wait_for_timeout(1500)  # a late file-name menu would still be caught
            seen = page.evaluate("() => window.__paint")
            b.close()
        return t_health, seen
    finally:
        proc.terminate()
        proc.wait(10)


def _floor(repeats: int) -> list[float]:
    """What Streamlit itself needs on this machine: a fresh server of a one-line app (`st.title`),
    seconds from opening it until its heading is drawn (browser start-up, Streamlit's JavaScript,
    the websocket, one script run)."""
    import tempfile

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "app.py").write_text('import streamlit as st\nst.title("floor")\n')
        for _ in range(repeats):
            _, seen = _open_fresh("/", "floor", "title", cwd=Path(tmp), script="app.py")
            out.append(seen["title"])
    return out


def first_paint_browser(repeats: int = 3) -> None:
    """First paint on a fresh server, in headless Chromium, for `/` and a direct link (`/upload`):
    seconds after opening the URL until the app's own navigation and the page's heading are both
    drawn, until the page's main content is (the Overview's leaderboard; Upload's file uploader),
    and whether Streamlit's automatic file-name menu was ever in the page. Medians of `repeats`
    fresh servers; each one's figures in brackets."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("first paint (browser): skipped, playwright not installed")
        return
    if not Path(shutil.which("chromium") or "/usr/bin/chromium").is_file():
        print("first paint (browser): skipped, chromium not found")
        return

    def med(xs: list[float]) -> float:
        return sorted(xs)[len(xs) // 2] if xs else float("nan")

    def fmt(xs: list[float]) -> str:
        return f"{med(xs):.2f} s [{', '.join(f'{x:.2f}' for x in xs)}]"

    floor = _floor(repeats)
    print(f"first paint floor (a one-line `st.title` app, fresh server, same browser): heading drawn {fmt(floor)} after opening it")
    for path, (heading, done, label) in PAINT_PAGES.items():
        health, paint, drawn, menu = [], [], [], []
        for _ in range(repeats):
            t_health, seen = _open_fresh(path, heading, done)
            health.append(t_health)
            paint.append(seen.get("first_paint", float("nan")))
            drawn.append(seen.get(done, float("nan")))
            menu.append("file_menu" in seen)
        print(f"first paint (browser, fresh server, {path}): app navigation + title {fmt(paint)} after opening (target <= 1 s); "
              f"{label} {fmt(drawn)}" + (" (target <= 2 s)" if done == "leaderboard" else "") +
              f"; file-name menu appeared: {'yes' if any(menu) else 'no'} ({sum(menu)} of {repeats}); server healthy {med(health):.2f} s after `streamlit run`")


def first_page_apptest() -> None:
    code = (
        "import sys, time; t=time.perf_counter(); from streamlit.testing.v1 import AppTest;"
        "at = AppTest.from_file('streamlit_app.py', default_timeout=120); at.run();"
        "dt=time.perf_counter()-t; bad=[m for m in ('torch','tensorflow','keras') if m in sys.modules];"
        "print(f'{dt:.2f} {bool(at.exception)} {bad}')"
    )
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300).stdout.strip().splitlines()
    wall = time.perf_counter() - t0
    if out:
        dt, exc, bad = out[-1].split(" ", 2)
        print(f"first page (AppTest, fresh process): overview script incl. imports {float(dt):.2f} s (process {wall:.2f} s); exception: {exc}; frameworks imported: {bad}")


def _server(port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, **(env or {})))
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 90:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("server not healthy in 90 s")


def _until_drawn(page, label: str, action) -> float:
    """Seconds from `action()` until the viewer names `label` (this upload's results are drawn:
    the table, the viewer with its default map) and nothing is running, seen from inside the
    page (`browser_probe`: polling from here cost Chromium ~0.4 s of CPU a second)."""
    import browser_probe

    browser_probe.watch(page, f"{label}: original resolution")  # the viewer's caption
    t0 = time.time()
    action()
    return browser_probe.wait_drawn(page, t0, every_s=0.1)


class _Stages:
    """When the server's messages of one upload arrive in the browser (the websocket as Chromium
    receives it): the script's start, the first progress bar (the file read and its picture
    made), the comparison table (every model done), the script's end. With the time the page
    was drawn, they split an upload into transfer, reading, models, page building and drawing."""

    def __init__(self) -> None:
        self.t0: float | None = None
        self.seen: dict[str, float] = {}

    def start(self, t0: float) -> None:
        self.t0, self.seen = t0, {}

    def on_frame(self, payload: bytes | str) -> None:
        if self.t0 is None or not isinstance(payload, bytes):
            return
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg, now = ForwardMsg(), time.time()
        try:
            msg.ParseFromString(payload)
        except Exception:  # noqa: BLE001 - not a ForwardMsg: nothing to time
            return
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            kind = msg.delta.new_element.WhichOneof("type")
        name = {"new_session": "script started", "progress": "models started", "dataframe": "table sent", "script_finished": "script finished"}.get(kind)
        if name and name not in self.seen:
            self.seen[name] = now - self.t0

    def split(self, drawn: float) -> str:
        marks = [("script started", "upload + start"), ("models started", "read + picture"), ("table sent", "models"), ("script finished", "table, chart, viewer sent")]
        out, last = [], 0.0
        for key, label in marks:
            if key in self.seen:
                out.append(f"{label} {self.seen[key] - last:.2f}")
                last = self.seen[key]
        out.append(f"browser drawing {max(0.0, drawn - last):.2f}")
        return " | ".join(out) + " s (each mark when Playwright hands the message over: within ~0.1 s)"


def browser_upload(rounds: int = 3, wait_after_open_s: float = 0.0) -> dict[str, float]:
    """In headless Chromium on a fresh server: open Upload, (optionally wait, as a user picking a
    file does), upload one full-field sample DICOM, time until every model's result and the
    viewer's default map are drawn; then `rounds` more uploads of other DICOMs (warm: models
    loaded, a new image each time, nothing from the session cache)."""
    from playwright.sync_api import sync_playwright

    from core.datasets import load_dataset

    files = [r.path for r in load_dataset("sample")]
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    proc = _server(port)
    out: dict[str, float] = {}
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", headless=True,
                                  args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                        "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            page = b.new_page(viewport={"width": 1440, "height": 1000})
            stages = _Stages()
            page.on("websocket", lambda ws: ws.on("framereceived", stages.on_frame))
            page.goto(f"http://127.0.0.1:{port}/upload")
            page.get_by_text("Drop a mammogram above").first.wait_for(timeout=120_000)
            if wait_after_open_s:
                page.wait_for_timeout(int(wait_after_open_s * 1000))
            for i in range(rounds + 1):
                if i:  # the uploader holds up to four files (a study): remove the last one, as a user replacing it does
                    remove = page.locator('[data-testid="stFileChipDeleteBtn"] button')
                    if not remove.count():
                        remove = page.locator('[data-testid="stFileChipDeleteBtn"]')
                    while remove.count():
                        remove.first.click()
                        page.wait_for_timeout(100)
                    page.get_by_text("Drop a mammogram above").first.wait_for(timeout=120_000)
                file = files[i % len(files)]
                name = "cold" if i == 0 else f"warm{i}"
                out[name] = _until_drawn(page, f"upload {i + 1}", lambda: (stages.start(time.time()), page.locator('input[type="file"]').set_input_files(file)))
                print(f"  {'first' if i == 0 else 'warm'} upload {out[name]:.2f} s: {stages.split(out[name])}")
            b.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return out


def report_browser_upload(rounds: int) -> None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("upload in the browser: skipped, playwright not installed")
        return
    right_away = browser_upload(rounds)
    warm = sorted(v for k, v in right_away.items() if k.startswith("warm"))
    median = warm[len(warm) // 2] if warm else float("nan")
    after_wait = browser_upload(0, wait_after_open_s=20.0)["cold"]
    print(f"upload in the browser (headless Chromium, fresh server, a 4432x2864 RLE DICOM of the sample, every preselected model): "
          f"first upload right after opening the page {right_away['cold']:.2f} s (target <= 3 s); first upload 20 s after opening it "
          f"(models warmed up meanwhile) {after_wait:.2f} s; warm uploads {', '.join(f'{v:.2f}' for v in warm)} s, median {median:.2f} s (target <= 1.0 s)")
    floor = runtime_floor()
    if floor is not None:
        print(f"runtime floor: the bare forward passes of the same networks in the fastest runtime, timed now: {floor:.2f} s; "
              f"warm upload / floor = {median / floor:.2f}x (target <= 1.5x)")


def runtime_floor() -> float | None:
    """`bench_runtimes.forward_floor_seconds` in a fresh process on the framework models
    (`MAMMO_RUNTIME=torch`: it reads each network from its framework model and times it in the
    fastest runtime; the graph-served models do not hold one)."""
    code = "import sys; sys.path.insert(0, 'benchmarks'); from bench_runtimes import forward_floor_seconds; print(forward_floor_seconds())"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=900, env=dict(os.environ, MAMMO_RUNTIME="torch"))
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        print("runtime floor: failed: " + (out.stderr.strip().splitlines() or ["no output"])[-1])
        return None


def upload_path(repeats: int, workers: int | None = None) -> None:
    from core.dashboard import cards as dcards
    from core.serving import inference
    from core.dashboard import overlays
    from core.datasets import load_dataset
    from core.models import registry

    cards = [c for c in registry.discover() if dcards.is_shipped(c) and registry.weights_available(c)]
    print(f"shipped models: {len(cards)} ({', '.join(c['name'] for c in cards) or 'none'})")
    print(f"RSS before loading: {rss_mb()[0]:.0f} MB")
    if not cards:
        return
    data = Path(load_dataset("sample")[0].path).read_bytes()
    t = time.perf_counter()
    models = []
    for c in cards:
        t1 = time.perf_counter()
        models.append(registry.load(c["name"]))
        print(f"  load {c['name']:<28} {time.perf_counter() - t1:6.2f} s")
    print(f"load every shipped model (cold, incl. torch/TF import): {time.perf_counter() - t:.2f} s; RSS now {rss_mb()[0]:.0f} MB")

    from core.dashboard.viewer import image_view, layer_grid

    def once() -> tuple[float, dict[str, float], float, float]:
        """What the Upload page does with a new file: read it, make its view (display picture
        and the zoom viewer's full-resolution JPEG), run every model with its maps, and draw
        each card's default layer and the zoom viewer's first layer."""
        t0 = time.perf_counter()
        image = inference.read_upload(data, "sample.dcm")
        view = image_view(image, inference.safe_meta_table(image))
        t_read = time.perf_counter() - t0
        per, first_card = {}, None
        results = []
        for _, r in inference.run_models(models, image, workers=workers, with_input=True):
            per[r.name] = r.seconds
            results.append(r)
            layer = next(iter(r.maps.values()), None)
            overlays.overlay_image(view.base8, layer, 0.45, (), view.scale, None if layer is None else layer.threshold)
            first_card = first_card or time.perf_counter() - t0
        first = next((layer for r in results for layer in r.maps.values()), None)
        if first is not None:
            layer_grid(first)
        return time.perf_counter() - t0, per, t_read, first_card or 0.0

    n_workers = inference.model_workers() if workers is None else workers
    for i in range(repeats + 1):
        total, per, t_read, first_card = once()
        label = "cold (first run)" if i == 0 else f"warm #{i}"
        print(f"one DICOM -> read + view + {len(models)} models with maps ({n_workers} at a time) + each card's overlay, {label}: {total:.2f} s "
              f"(read + view {t_read:.2f} s; first card {first_card:.2f} s; models' own times add up to {sum(per.values()):.2f} s: "
              + ", ".join(f"{k} {v:.2f} s" for k, v in per.items()) + ")")
    cur, peak = rss_mb()
    print(f"memory with every shipped model loaded and run: RSS {cur:.0f} MB, peak RSS {peak:.0f} MB")


def compare_rerun() -> None:
    code = (
        "import time; from streamlit.testing.v1 import AppTest;"
        "at = AppTest.from_file('streamlit_app.py', default_timeout=600); at.switch_page('pages/compare.py');"
        "t=time.perf_counter(); at.run(); t1=time.perf_counter()-t;"
        "at.radio(key='compare_split').set_value('val'); t=time.perf_counter(); at.run(); t2=time.perf_counter()-t;"
        "t=time.perf_counter(); at.run(); t3=time.perf_counter()-t;"
        "ms=[m for m in at.multiselect if m.key and m.key.startswith('compare_models')];"
        "print(f'{t1:.2f} {t2:.2f} {t3:.2f} {len(ms[0].value) if ms else 0} {bool(at.exception)}')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=900).stdout.strip().splitlines()
    if out:
        t1, t2, t3, n, exc = out[-1].split()
        print(f"Compare ({n} models): first draw {float(t1):.2f} s; switch to the validation split (bootstraps computed) {float(t2):.2f} s; "
              f"rerun {float(t3):.2f} s (target <= 1 s); exception: {exc}")


def memory() -> None:
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_memory.py"), "--skip-keras"], cwd=REPO, capture_output=True, text=True, timeout=3600).stdout
    for line in out.splitlines()[1:]:
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only-upload", action="store_true", help="skip the first-page figures")
    ap.add_argument("--only-first-paint", action="store_true", help="the first-paint figures only (browser, fresh servers)")
    ap.add_argument("--paint-repeats", type=int, default=3, help="fresh servers per URL for the first-paint figures")
    ap.add_argument("--workers", type=int, default=None, help="models run side by side (default: the pages' own, inference.model_workers())")
    ap.add_argument("--no-sessions", action="store_true", help="skip the Compare rerun and the session memory figures")
    ap.add_argument("--only-floor", action="store_true", help="the runtime floor only")
    args = ap.parse_args()
    print(f"CPU cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f} (other work on the machine slows every figure)")
    if args.only_floor:
        print(f"runtime floor: {runtime_floor()} s")
        return
    if args.only_first_paint:
        first_paint_browser(args.paint_repeats)
        return
    if not args.only_upload:
        if not args.no_browser:
            first_paint_browser(args.paint_repeats)
        first_page_apptest()
    if not args.no_browser:
        report_browser_upload(args.repeats)
    upload_path(args.repeats, args.workers)
    print("cache hit: in the app, a rerun with the same image and models is served from the session's own cache and skips all of the above")
    if not args.no_sessions:
        compare_rerun()
        memory()


if __name__ == "__main__":
    main()

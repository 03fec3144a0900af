"""Visitors at once: prints figures (not a test).

    python benchmarks/bench_load.py [--visitors 6 12] [--slots N] [--timeout 240]

For each N in `--visitors`: one fresh `streamlit run streamlit_app.py` server on loopback,
one headless Chromium with N separate contexts (N visitors, N sessions), each opening Upload;
once every page is drawn, each clicks "Try a sample image" at once (one after another in a
few milliseconds). Prints, per visitor, the seconds from its click until its results are
drawn (the viewer's caption for the sample, nothing running), the last of them, errors
(a Streamlit exception on the page, or not drawn within `--timeout`), whether the queue
message ("… ahead of you") was seen, and the server's peak RSS (its process tree, sampled
every 0.1 s, and the kernel's high-water mark of the server process). Bounded: at most 16
visitors, each N at most `--timeout` seconds.

`--slots` sets `MAMMO_RUN_SLOTS` for the server (the number of visitors whose models run at
a time; the app's default is 1). Targets (issue 34): last drawn <= 6 s for 6 visitors and
<= 12 s for 12, server peak <= 1.2 GB, no error. The browser shares the machine's cores
with the server, as it does in the issue's own figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import browser_probe

REPO = Path(__file__).resolve().parents[1]
MAX_VISITORS = 16
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUEUE_TEXT = "ahead of you"


def _tree(pid: int) -> list[int]:
    """The process and its descendants (from /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakRss:
    """Samples the RSS of a process tree every `every_s` in a thread; `peak_mb` is the largest sum
    seen or the kernel's high-water mark of the root process, whichever is larger."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        self.pid, self.every_s, self.peak_kb = pid, every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, sum(_status_kb(p, "VmRSS") for p in _tree(self.pid)))
            self._stop.wait(self.every_s)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    @property
    def peak_mb(self) -> float:
        return max(self.peak_kb, _status_kb(self.pid, "VmHWM")) / 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_load(n: int, timeout_s: float, slots: int | None) -> dict:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if slots is not None:
        env["MAMMO_RUN_SLOTS"] = str(slots)
    t_start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                    break
            except OSError:
                if time.perf_counter() - t_start > 90:
                    raise RuntimeError("server not healthy in 90 s") from None
                time.sleep(0.1)
        with PeakRss(proc.pid) as rss, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", headless=True, args=ARGS)
            pages = []
            for _ in range(n):
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                page.goto(url + "/upload")
                pages.append(page)
            for page in pages:
                page.get_by_role("button", name="Try a sample image").wait_for(timeout=120_000)
            t_open = time.perf_counter() - t_start
            clicked, drawn, errors, queued = [0.0] * n, [None] * n, [None] * n, [False] * n
            for page in pages:  # each page watches itself (`browser_probe`), not polled from here
                browser_probe.watch(page, ": original resolution", QUEUE_TEXT)
            for i, page in enumerate(pages):  # at once: no waiting for one visitor's run before the next clicks
                clicked[i] = time.time()
                page.get_by_role("button", name="Try a sample image").click(no_wait_after=True)
            waiting = set(range(n))
            while waiting and time.time() - min(clicked) < timeout_s:
                for i in sorted(waiting):
                    seen = browser_probe.read(pages[i])
                    queued[i] = seen["queuedAt"] is not None
                    if seen["errorAt"] is not None:
                        errors[i] = "exception on the page"
                        waiting.discard(i)
                    elif seen["drawnAt"] is not None:
                        drawn[i] = seen["drawnAt"] - clicked[i]
                        waiting.discard(i)
                time.sleep(0.25)
            for i in waiting:
                errors[i] = f"not drawn in {timeout_s:.0f} s"
            browser.close()
        return {"n": n, "drawn": drawn, "errors": errors, "queued": queued, "peak_mb": rss.peak_mb, "open_s": t_open}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--visitors", type=int, nargs="+", default=[6, 12])
    ap.add_argument("--slots", type=int, default=None, help="MAMMO_RUN_SLOTS for the server (default: the app's own)")
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds each load may take after the clicks")
    args = ap.parse_args()
    print(f"CPU cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f} (other work on the machine slows every figure); "
          f"MAMMO_RUN_SLOTS={args.slots if args.slots is not None else os.environ.get('MAMMO_RUN_SLOTS', 'default')}")
    for n in args.visitors:
        n = max(1, min(n, MAX_VISITORS))
        r = one_load(n, args.timeout, args.slots)
        times = [t for t in r["drawn"] if t is not None]
        errs = [e for e in r["errors"] if e]
        target = {6: 6.0, 12: 12.0}.get(n)
        print(f"{n} visitors at once (fresh server, pages opened in {r['open_s']:.1f} s, then each clicks \"Try a sample image\"): "
              f"drawn {len(times)} of {n}; per visitor " + ", ".join("—" if t is None else f"{t:.1f}" for t in r["drawn"]) + " s; "
              f"last {max(times) if times else float('nan'):.1f} s" + (f" (target <= {target:.0f} s)" if target else "") + "; "
              f"errors {len(errs)}" + (f" ({'; '.join(sorted(set(errs)))})" if errs else "") + "; "
              f"queue message seen by {sum(r['queued'])} of {n}; server peak RSS {r['peak_mb']:.0f} MB (target <= 1,200 MB)")


if __name__ == "__main__":
    main()

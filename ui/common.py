"""Streamlit glue shared by the pages: cached access to cards, predictions, models and results.

Only caching and widgets live here; the numbers and pictures come from `core.dashboard`.

Privacy rules kept here for every page: data folders can only be browsed under the roots
configured at start-up, and an error never echoes a path or lists a folder; user-given
names become neutral labels ("upload 1"); messages are shown without markdown; a model
that fails (missing weights, SHA-256 mismatch, load error) is remembered per process and
not re-hashed or re-loaded on every rerun.
"""

from __future__ import annotations

from core import quiet  # noqa: F401  (first: library noise off before any framework import)

import os
import sys
import threading
from pathlib import Path
from typing import Any, Sequence

import streamlit as st

from core.dashboard import cards as dcards
from core.reports import curves as dcurves
from core.dashboard import records as drecords
from core import privacy
from core.errors import DatasetError, MammoError, ModelError, model_reason

REPO = Path(__file__).resolve().parents[1]
_LOADED: set[tuple[str, str]] = set()  # models already in st.cache_resource in this process
_FAILED: dict[tuple[str, str], tuple[tuple, str]] = {}  # (root, name) -> (files' stamp, reason)
_CHECKED: dict[tuple[str, str], tuple[tuple, str | None]] = {}  # (root, name) -> (stamp, SHA-256 problem)


def _use_entry_navigation() -> None:
    """Direct links on a fresh server: make every page run through streamlit_app.py.

    Streamlit treats an app with a pages/ folder as a v1 multipage app until the entry
    script has called `st.navigation` once: a first request for `/upload` would run
    pages/upload.py alone, with Streamlit's automatic menu and without the sidebar. Every
    page imports this module first, so this (1) switches that mode off and reruns, which
    sends the request through the entry script, whose `st.navigation` resolves `/upload`,
    and (2) replaces the v1 runner by "run the entry script", for a session that starts
    in v1 mode later (a second session racing the first; AppTest, which resets the mode
    before every run).
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.runtime.scriptrunner import get_script_run_ctx
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:  # pragma: no cover - other streamlit versions
        return
    if callable(getattr(script_runner, "_mpa_v1", None)) and not getattr(script_runner._mpa_v1, "_entry_script", False):
        script_runner._mpa_v1 = _run_entry_script
    was_v1 = PagesManager.uses_pages_directory
    PagesManager.uses_pages_directory = False
    if was_v1 and get_script_run_ctx(suppress_warning=True) is not None:
        st.rerun()


def _run_entry_script(main_script_path: str) -> None:
    """Stands in for Streamlit's v1 pages-folder runner: the entry script, as in v2 mode."""
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    path = Path(main_script_path)
    code = compile(path.read_bytes(), str(path), "exec")
    exec(code, sys.modules["__main__"].__dict__)  # noqa: S102 - the app's own entry script


_run_entry_script._entry_script = True  # type: ignore[attr-defined]
_use_entry_navigation()


def table_height(rows: int) -> int:
    """A dataframe's height that shows every row with no blank ones (Streamlit's 35 px rows)."""
    return 35 * (rows + 1) + 3


def models_dir() -> str:
    """`$MAMMO_MODELS_DIR`, else the repository's models/ folder."""
    return os.environ.get("MAMMO_MODELS_DIR") or str(REPO / "models")


# --------------------------------------------------------------------------- data folders
def _startup_roots() -> list[str]:
    """Roots given at start-up: `streamlit run streamlit_app.py -- --data DIR [--data DIR2]`
    and `$MAMMO_DATA_ROOTS` (os.pathsep-separated)."""
    out: list[str] = []
    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg == "--data" and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith("--data="):
            out.append(arg.split("=", 1)[1])
    out += [p for p in os.environ.get("MAMMO_DATA_ROOTS", "").split(os.pathsep) if p]
    return out


def data_roots() -> list[tuple[str, Path]]:
    """(neutral label, resolved folder) for every data root this server offers.

    The shared data folder (`$MAMMO_SHARED_DATA`, else ../shared/data) and the start-up
    roots; folders that do not exist are left out. Labels never show the path.
    """
    roots: list[tuple[str, Path]] = []
    shared = os.environ.get("MAMMO_SHARED_DATA") or str(REPO.parent / "shared" / "data")
    candidates = [("shared data folder", shared)] + [(f"start-up data folder {i}", p) for i, p in enumerate(_startup_roots(), 1)]
    seen: set[Path] = set()
    for label, raw in candidates:
        try:
            path = Path(raw).expanduser().resolve()
        except (OSError, RuntimeError):
            continue
        if path.is_dir() and path not in seen:
            seen.add(path)
            roots.append((label, path))
    return roots


def allowed_data_dir(folder: str | os.PathLike[str] | None) -> Path | None:
    """The resolved folder when it is an existing folder under a configured root, else None."""
    if not folder:
        return None
    try:
        path = Path(folder).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    for _, root in data_roots():
        if path == root or root in path.parents:
            return path if path.is_dir() else None
    return None


def choose_data_dir(root_label: str | None, subfolder: str = "") -> Path | None:
    """The folder picked in the sidebar (a root and an optional relative subfolder), or None."""
    roots = dict(data_roots())
    if root_label not in roots:
        return None
    sub = (subfolder or "").strip().strip("/\\")
    if sub and (Path(sub).is_absolute() or sub.startswith("~")):
        return None
    return allowed_data_dir(roots[root_label] / sub if sub else roots[root_label])


def default_data_dir() -> str:
    """The first configured data root (the shared data folder when present), else ""."""
    roots = data_roots()
    return str(roots[0][1]) if roots else ""


def _folder_stamp(root: str) -> tuple:
    """Changes whenever a model folder gains or updates a file (models arrive while the app runs)."""
    p = Path(root)
    if not p.is_dir():
        return ()
    out = []
    for f in sorted(p.glob("*/*")):
        if f.name in ("card.json", "predictions.csv", "history.csv", "oof_predictions.csv"):
            try:
                out.append((str(f), f.stat().st_mtime_ns))
            except OSError:
                pass
    return tuple(out)


@st.cache_data(show_spinner=False, max_entries=8)
def _cards(root: str, stamp: tuple) -> list[dict[str, Any]]:
    from core.models import registry

    try:
        return registry.discover(root)
    except MammoError:
        return []


def cards() -> list[dict[str, Any]]:
    """Every model card (JSON only; no framework import)."""
    root = models_dir()
    return _cards(root, _folder_stamp(root))


def card_by_name() -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in cards()}


def colors() -> dict[str, str]:
    return dcards.model_colors([c["name"] for c in cards()])


@st.cache_data(show_spinner=False, max_entries=64)
def _predictions(folder: str, mtime: float, _card: dict[str, Any]):
    return dcards.read_predictions(_card)


def predictions(card: dict[str, Any]):
    """The card's predictions.csv as a DataFrame (cached), or None."""
    path = Path(card["_folder"]) / "predictions.csv"
    mtime = path.stat().st_mtime if path.is_file() else 0.0
    return _predictions(card["_folder"], mtime, card)


@st.cache_data(show_spinner=False, max_entries=64)
def _history(folder: str, mtime: float, _card: dict[str, Any]):
    return dcards.read_history(_card)


def history(card: dict[str, Any]):
    path = Path(card["_folder"]) / "history.csv"
    mtime = path.stat().st_mtime if path.is_file() else 0.0
    return _history(card["_folder"], mtime, card)


@st.cache_resource(show_spinner=False, max_entries=16)
def _load(name: str, root: str):
    from core.models import registry

    return registry.load(name, root)


def _stamp(root: str, name: str, depth: int = 0) -> tuple:
    """(file, size, mtime) of every file in the model's folder and its parts' folders: cheap to
    take, and it changes when a weights file is replaced (so a fixed model is tried again)."""
    folder = Path(root) / name
    out: list[tuple] = []
    try:
        for f in sorted(folder.iterdir()):
            if f.is_file():
                st_ = f.stat()
                out.append((name, f.name, st_.st_size, st_.st_mtime_ns))
    except OSError:
        return ((name, "missing"),)
    if depth < 3:
        for member in _members(card_by_name().get(name, {})):
            out.extend(_stamp(root, member, depth + 1))
    return tuple(out)


def _members(card: dict[str, Any]) -> list[str]:
    """The models a composite card is built from (none for a plain one)."""
    try:
        from core.models import kinds

        return [m for m in kinds.members(card) if isinstance(m, str)] if kinds.is_composite(card) else []
    except Exception:
        return [card[k] for k in ("stage1", "stage2") if isinstance(card.get(k), str)]


def load_model(name: str):
    """A cached model; a failure is remembered (per process, until the model's files change) and
    raised again as a `ModelError` without re-hashing or re-loading."""
    root = models_dir()
    key, stamp = (root, name), _stamp(root, name)
    failed = _FAILED.get(key)
    if failed and failed[0] == stamp:
        raise ModelError(failed[1])
    try:
        model = _load(name, root)
    except MammoError as exc:
        _FAILED[key] = (stamp, model_reason(name, exc))
        raise ModelError(_FAILED[key][1]) from None
    except Exception as exc:  # a library failure while rebuilding: remembered too
        _FAILED[key] = (stamp, f"could not be loaded ({type(exc).__name__})")
        raise ModelError(_FAILED[key][1]) from None
    _FAILED.pop(key, None)
    _LOADED.add(key)
    return model


def model_problem(name: str) -> str | None:
    """Why a model cannot predict (a remembered load failure, or weights failing their SHA-256
    check), or None. The check hashes each weights file once per process and file change."""
    from core.models import registry

    root = models_dir()
    key, stamp = (root, name), _stamp(root, name)
    failed = _FAILED.get(key)
    if failed and failed[0] == stamp:
        return failed[1]
    if key in _LOADED:
        return None
    checked = _CHECKED.get(key)
    if checked and checked[0] == stamp:
        return checked[1]
    problem: str | None = None
    card = card_by_name().get(name)
    try:
        if card is None:
            problem = "no model card"
        elif _members(card):
            for member in _members(card):
                sub = model_problem(member)
                if sub:
                    problem = f"its part {member} failed: {sub}"
                    break
        else:
            registry.verify(card)
    except MammoError as exc:
        problem = model_reason(name, exc)
    except Exception as exc:
        problem = f"could not be checked ({type(exc).__name__})"
    _CHECKED[key] = (stamp, problem)
    return problem


def failed_models(names: Sequence[str]) -> dict[str, str]:
    """{name: reason} for the models among `names` that cannot predict."""
    out = {}
    for n in names:
        problem = model_problem(n)
        if problem:
            out[n] = problem
    return out


def live_model_names() -> list[str]:
    """Models of any kind whose weights are in this checkout (the ones that can predict live)."""
    from core.models import registry

    out = []
    for c in cards():
        try:
            if dcards.is_shipped(c) and registry.weights_available(c):
                out.append(c["name"])
        except (KeyError, TypeError, MammoError):
            continue
    return out


def usable_model_names() -> list[str]:
    """Live models that do not fail their checks: the ones the sidebar offers."""
    live = live_model_names()
    bad = failed_models(live)
    return [n for n in live if n not in bad]


def chosen_models() -> list[str]:
    """The models picked in the sidebar (only live ones that passed their checks)."""
    usable = usable_model_names()
    picked = st.session_state.get("chosen_models")
    if picked is None:
        return usable
    return [n for n in picked if n in usable]


def ensure_models(names: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Load the models (showing a status box the first time: importing torch / TensorFlow is slow).

    Returns (loaded names, {name: friendly error}).
    """
    root = models_dir()
    errors: dict[str, str] = {}
    for n in names:  # remembered failures: no status box, no re-hash
        failed = _FAILED.get((root, n))
        if failed and failed[0] == _stamp(root, n):
            errors[n] = f"{n}: {failed[1]}"
    todo = [n for n in names if (root, n) not in _LOADED and n not in errors]
    if todo:
        frameworks = sorted({card_by_name().get(n, {}).get("framework") or "composite" for n in todo})
        with st.status(f"Loading {len(todo)} model(s) — first use imports {', '.join(frameworks)}…", expanded=False) as status:
            for n in todo:
                status.write(f"loading {privacy.md_escape(n)} (SHA-256 checked)")
                try:
                    load_model(n)
                except MammoError as exc:
                    errors[n] = f"{n}: {exc}"
                except Exception as exc:  # never let a library traceback reach the page
                    errors[n] = f"{n}: could not be loaded ({type(exc).__name__})"
            status.update(label=f"{len(todo) - len(errors)} model(s) ready", state="error" if errors else "complete")
    return [n for n in names if n not in errors], errors


# Results derived from an image (an upload above all) are cached per session in
# ui/analysis.py, never in st.cache_data, which every session of the process shares.


@st.cache_data(show_spinner=False, max_entries=400)  # dataset thumbnails only (~30 kB each), not uploads
def thumbnail(path: str | None) -> Any:
    return drecords.thumbnail(path)


# --------------------------------------------------------------------------- rankings and curves
@st.cache_data(show_spinner=False, max_entries=8)
def _leaderboard_rows(root: str, stamp: tuple) -> list[dict[str, Any]]:
    from core.reports import leaderboard

    return leaderboard.rows(root)


def leaderboard_rows() -> list[dict[str, Any]]:
    """`core.reports.leaderboard.rows` of every task (numbers, ranked out of fold first), cached per card change."""
    root = models_dir()
    return _leaderboard_rows(root, _folder_stamp(root))


def _file_mtime(card: dict[str, Any], name: str) -> float:
    path = Path(card["_folder"]) / name
    return path.stat().st_mtime if path.is_file() else 0.0


@st.cache_data(show_spinner=False, max_entries=128)
def _task_data(name: str, task: str, mtime: float, _card: dict[str, Any]):
    pred = predictions(_card)
    return None if pred is None else dcurves.task_data(_card, pred, task)


def task_data(card: dict[str, Any], task: str):
    """The model's committed predictions read in `task` (`core.reports.curves.TaskData`), or None."""
    return _task_data(card["name"], task, _file_mtime(card, "predictions.csv") + _file_mtime(card, "card.json"), card)


@st.cache_data(show_spinner=False, max_entries=256)
def _task_curves(name: str, task: str, event: str, split: str, mtime: float, _card: dict[str, Any]):
    td = task_data(_card, task)
    return (None, None, None) if td is None else dcurves.task_curves(td, event, split)


def task_curves(card: dict[str, Any], task: str, event: str, split: str):
    """(ROC, PR, calibration) of one model in one task, event and split; cached (bootstrap CIs are slow)."""
    return _task_curves(card["name"], task, event, split, _file_mtime(card, "predictions.csv") + _file_mtime(card, "card.json"), card)


@st.cache_data(show_spinner=False, max_entries=64)
def _paired_oof(name_a: str, name_b: str, task: str, stamp: tuple, _a: dict[str, Any], _b: dict[str, Any]):
    return dcurves.paired_oof(_a, _b, task)


def paired_oof(card_a: dict[str, Any], card_b: dict[str, Any], task: str):
    """Paired patient-level bootstrap of two models' out-of-fold AUC difference, cached by names and task."""
    stamp = (_file_mtime(card_a, "oof_predictions.csv"), _file_mtime(card_b, "oof_predictions.csv"))
    return _paired_oof(card_a["name"], card_b["name"], task, stamp, card_a, card_b)


@st.cache_data(show_spinner=False, max_entries=64)
def _distinct_rival(name_a: str, names: tuple[str, ...], task: str, stamp: tuple, _a: dict[str, Any], _rivals: list[dict[str, Any]]) -> int | None:
    return dcurves.distinct_rival(_a, _rivals, task)


def distinct_rival(card_a: dict[str, Any], rivals: Sequence[dict[str, Any]], task: str) -> int | None:
    """The first rival whose out-of-fold scores differ from A's (`dcurves.distinct_rival`), cached like `paired_oof`."""
    stamp = tuple(_file_mtime(c, "oof_predictions.csv") for c in (card_a, *rivals))
    return _distinct_rival(card_a["name"], tuple(c["name"] for c in rivals), task, stamp, card_a, list(rivals))


DATASET_NAMES = {"mias": "mini-MIAS", "cbis": "CBIS-DDSM", "minidds": "Mini-DDSM", "folder": "class-folder", "sample": "embedded sample"}


def records(dataset: str, root: str | None):
    """A dataset's records; only under a configured data root. Errors name neither the folder
    nor its contents (a typed path could be anything on the server)."""
    if dataset == "sample":
        return _records(dataset, None)
    folder = allowed_data_dir(root)
    if folder is None:
        raise DatasetError("this data folder is not available: only folders under the data folders configured "
                           "at start-up can be browsed")
    return _records(dataset, str(folder))


@st.cache_data(show_spinner=False, max_entries=16)
def _records(dataset: str, root: str | None):
    from core.datasets import load_dataset

    try:
        return load_dataset(dataset, root or None)
    except DatasetError:
        raise DatasetError(f"no readable {DATASET_NAMES.get(dataset, 'dataset')} data in the chosen data folder") from None


def notice() -> None:
    st.caption(f":material/info: {dcards.NOTICE}")


def show_error(text: object, **kwargs: Any) -> None:
    """st.error with the text shown literally: no markdown, no server path, one line."""
    st.error(privacy.md_escape(privacy.one_line(text)), **kwargs)


def friendly_error(exc: BaseException, what: str = "That did not work") -> None:
    """A one-line message for the user, never a traceback, a path or markdown from the message."""
    if isinstance(exc, MammoError):
        show_error(f"{what}: {exc}", icon=":material/error:")
    else:
        show_error(f"{what} ({type(exc).__name__}). Please try another file or model.", icon=":material/error:")


def upload_label(upload: Any) -> str:
    """"upload 1", "upload 2", ...: the name every output uses instead of the uploaded file's name."""
    labels = st.session_state.setdefault("_upload_labels", {})
    key = getattr(upload, "file_id", None) or id(upload)
    if key not in labels:
        labels[key] = privacy.neutral_label("upload", len(labels) + 1)
    return labels[key]


def membership_badge(state: str) -> str:
    return drecords.MEMBERSHIP_TEXT.get(state, state)


_WARMING: set[tuple[str, tuple[str, ...]]] = set()  # (models root, names) warm-ups started in this process
_VISITOR_RAN = threading.Event()  # a visitor's own model run began: warm-ups stop running the sample


def visitor_run_started() -> None:
    """A page is about to run models for a visitor: a warm-up still running the sample would
    only compete with it for the two cores (measured: a first upload right after opening the
    page waited for the warm-up's whole run), so it stops after its current model."""
    _VISITOR_RAN.set()


def warm_up(names: Sequence[str]) -> None:
    """Load the chosen models and run each once on the embedded sample, in a background thread,
    while the visitor is still picking a file: a server's first upload then costs what a later
    one does instead of the framework imports and first-call allocations (measured in
    `benchmarks/bench_dashboard.py`). Once per process and model set; nothing is kept but the
    loaded models (the sample's results are dropped). Loading always finishes (the upload
    needs the models too); running the sample stops once a visitor's run has begun."""
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    key = (models_dir(), tuple(names))
    if not names or key in _WARMING or os.environ.get("MAMMO_WARM_UP", "1") == "0":
        return
    _WARMING.add(key)
    ctx = get_script_run_ctx()

    def work() -> None:
        from core.serving import inference
        from core.datasets.sample import warm_up_image

        try:
            models = []
            for n in names:
                try:
                    models.append(load_model(n))
                except MammoError:
                    continue
            image = None if _VISITOR_RAN.is_set() else warm_up_image()
            if image is not None:
                for _ in inference.run_models(models, image):
                    if _VISITOR_RAN.is_set():
                        break
                inference.forget(image)
        except Exception:  # a warm-up never breaks a page; the upload reports real failures
            pass

    thread = threading.Thread(target=work, name="model-warm-up", daemon=True)
    if ctx is not None:
        add_script_run_ctx(thread, ctx)
    thread.start()

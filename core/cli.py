"""`python -m core ...`: the command-line contract of design.md.

Exit codes: 0 ok, 2 usage, 3 unreadable or invalid input, 4 model missing or failing its
integrity check. Errors are one line on stderr starting with `error:`; `--debug` shows
the traceback. No output names a file given on the command line (files are "file 1",
"file 2", ... in the order given), quotes a header value or shows a server path.
"""

from __future__ import annotations

from core import quiet  # noqa: F401  (first: TensorFlow / absl / CUDA noise off before any import)

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.errors import MammoError, StudyError, UsageError


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _error_line(text: str) -> None:
    """One `error:` line on stderr, with anything that looks like a server path redacted."""
    from core.privacy import one_line

    print(f"error: {one_line(text)}", file=sys.stderr)


def cmd_read(args: argparse.Namespace) -> int:
    from core.io.reader import read_image

    m = read_image(args.file)  # messages never repeat the file's name or path
    meta = m.meta.to_dict()  # allow-listed fields in fixed vocabularies only
    if args.json:
        _print_json(meta)
    else:
        for k, v in meta.items():
            if isinstance(v, (tuple, list)):
                v = " x ".join(f"{x:g}" for x in v)
            print(f"{k:20s} {'—' if v is None else v}")
    return 0


def _records_table(records) -> list[dict[str, Any]]:
    return [{"image_id": r.image_id, "patient_id": r.patient_id, "side": r.side, "view": r.view, "label": r.label, "abnormality": r.abnormality, "lesions": [{"kind": l.kind, "severity": l.severity, "center": l.center, "radius": l.radius} for l in r.lesions], "density": r.density, "split": r.split} for r in records]


def _print_records(records, as_json: bool) -> None:
    from core.datasets import label_counts

    rows = _records_table(records)
    if as_json:
        _print_json({"count": len(rows), "labels": label_counts(records), "records": rows})
        return
    print(f"{'image_id':34s} {'patient':14s} side view label      abnormality        lesions")
    for r in rows:
        print(f"{r['image_id']:34s} {r['patient_id']:14s} {str(r['side']):4s} {str(r['view']):4s} {r['label']:10s} {str(r['abnormality']):18s} {len(r['lesions'])}")
    print(f"{len(rows)} images: " + ", ".join(f"{k} {v}" for k, v in label_counts(records).items()))


def cmd_samples(args: argparse.Namespace) -> int:
    from core.datasets import load_dataset

    _print_records(load_dataset("sample"), args.json)
    return 0


def cmd_dataset(args: argparse.Namespace) -> int:
    from core.datasets import load_dataset

    if args.dataset != "sample" and not args.data:
        raise UsageError(f"--data DIR is required for --dataset {args.dataset}")
    _print_records(load_dataset(args.dataset, args.data), args.json)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    import pandas as pd

    from core.labels import tasks_for
    from core.models.card import backbone
    from core.models import kinds, registry

    rows = [{"model": c["name"], "kind": kinds.kind_of(c), "task": c["task"], "judged_as": ", ".join(tasks_for(c["classes"])), "framework": c.get("framework"), "seed": c.get("seed_system"), "backbone": backbone(c),
             "members": ", ".join(kinds.members(c)) or None, "weights_here": registry.weights_available(c), "out_of_fold": bool(c.get("oof"))} for c in registry.discover(args.models_dir)]
    if args.json:
        _print_json(rows)
    elif not rows:
        print("no models found")
    else:
        print(pd.DataFrame(rows).drop(columns=["members"]).to_string(index=False))
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from core.reports.leaderboard import check, headline, json_safe, leaderboard, rows, to_markdown

    if args.check:
        results = check(args.models_dir)
        bad = [r for r in results if not r["same"]]
        if args.format == "json":
            _print_json(json_safe(results))
        else:
            for r in results:
                print(f"{'ok ' if r['same'] else 'DIFF'} {r['model']:34s} {r['figure']:38s} card {r['card']:.4f} recomputed {r['recomputed']:.4f}")
            print(f"{len(results) - len(bad)} of {len(results)} figures reproduced from committed files")
        return 0 if not bad else 1
    if args.headline:
        print(headline(args.models_dir))
        return 0
    if args.slices or args.operating_points or args.write:
        return _judging(args)
    if args.format == "json":
        _print_json(json_safe(rows(args.models_dir, args.task)))
        return 0
    table = leaderboard(args.models_dir, args.task, brief=args.brief, level=args.level)
    if args.format == "md":
        print(to_markdown(table))
    else:
        print(table.to_csv(index=False), end="")
    return 0


def _judging(args: argparse.Namespace) -> int:
    """`leaderboard --slices / --operating-points / --write`: the supervisor's tables (issue 35)."""
    from core.errors import DatasetError
    from core.labels import space
    from core.reports import supervisor as sv
    from core.reports.leaderboard import json_safe, to_markdown

    if args.write:
        sv.write(args.models_dir, args.data)
        print(f"wrote {sv.FIGURES_FILE} in the models folder (python -m core leaderboard --check recomputes it)")
        if not (args.slices or args.operating_points):
            return 0
    if args.task and not space(args.task).binary:
        raise UsageError("--slices and --operating-points are per binary task: --task stage1 or stage2")
    for name, v in (("--specificity", args.specificity), ("--sensitivity", args.sensitivity)):
        if not 0 < v < 1:
            raise UsageError(f"{name} must lie between 0 and 1")
    names = [n for n in args.models.split(",") if n] if args.models else None
    out: dict[str, Any] = {}
    for task in [args.task] if args.task else list(sv.TASKS):
        cards = sv.judged_cards(args.models_dir, task, names)
        if not cards:
            continue
        named = sv.views(cards, task)
        entry: dict[str, Any] = {"models": list(named)}
        if args.slices:
            members = sv.membership(cards, args.models_dir, args.data)
            if members is None:
                raise DatasetError("the slices need the models' data set: give --data DIR (a folder holding it)")
            entry["slices"] = sv.slice_figures(named, members)
        if args.operating_points:
            entry["operating_points"] = sv.operating_figures(named, args.specificity, args.sensitivity)
        out[task] = entry
    if not out:
        raise UsageError("no model with a complete out-of-fold run matches" + (" --models" if names else ""))
    if args.format == "json":
        _print_json(json_safe(out))
        return 0
    frames = []
    for task, entry in out.items():
        parts = []
        if "slices" in entry:
            f = entry["slices"]
            parts.append((f"{space(task).title}: out-of-fold figures per slice (patient-bootstrap 95 % CI; sensitivity and specificity at each film's "
                          "fold threshold; a lesion-class slice is that class's films against every normal film)", sv.slice_table(f)))
            if f.get("paired"):
                parts.append((f"Paired difference per slice, {f['paired']['a']} − {f['paired']['b']} (same films, same patient resamples)", sv.paired_slice_table(f)))
        if "operating_points" in entry:
            f = entry["operating_points"]
            parts.append((f"{space(task).title}: operating points out of fold (each fold's threshold from the other folds' rows)", sv.operating_table(f)))
            if f.get("paired"):
                parts.append((f"Paired difference at the operating points, A = {f['paired']['a']}, B = {f['paired']['b']}", sv.paired_operating_table(f)))
        for title, table in parts:
            if args.format == "md":
                frames.append(f"**{title}**\n\n{to_markdown(table)}")
            else:
                frames.append(table.assign(task=task, table=title.split(":")[-1].strip().split(" (")[0]).to_csv(index=False))
    print(("\n\n" if args.format == "md" else "\n").join(frames).rstrip("\n"))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """`report`: Compare's self-contained HTML report of the chosen models of one task (issue 35),
    or one part's numbers as JSON (`--part`): the command each part of the report names."""
    from core.dashboard import html_report as hr
    from core.labels import tasks_for
    from core.models import registry

    names = [n for n in (args.models or "").split(",") if n]
    if not names:
        raise UsageError("--models a,b,... names the report's models")
    cards = [registry.card(n, args.models_dir) for n in names]
    unread = [c["name"] for c in cards if args.task not in tasks_for(c.get("classes") or ())]
    if unread:
        raise UsageError(f"{', '.join(unread)} cannot be read in {args.task}")
    pair = tuple(n for n in args.pair.split(",") if n) if args.pair else None
    if pair is not None and (len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= set(names)):
        raise UsageError("--pair A,B: two different models of --models")
    for name, v in (("--specificity", args.specificity), ("--sensitivity", args.sensitivity)):
        if not 0 < v < 1:
            raise UsageError(f"{name} must lie between 0 and 1")
    members, source = hr.membership(cards, args.models_dir, args.data)
    figs = hr.figures(cards, args.task, models_dir=args.models_dir, members=members, members_source=source, pair=pair,
                      specificity=args.specificity, sensitivity=args.sensitivity, split=args.split, event=args.event)
    if args.part:
        keys = {"disagreements": ("disagreements", "confidently_wrong"), "leaderboard": ("leaderboard", "leaderboard_table")}.get(args.part, (args.part,))
        _print_json({k: figs[k] for k in keys} if len(keys) > 1 else figs[args.part])
        return 0
    doc = hr.render(figs)
    if args.out:
        Path(args.out).write_text(doc, encoding="utf-8")
        print(f"wrote the report ({len(doc.encode()):,} bytes; plotly.js inline, it opens offline)")
    else:
        sys.stdout.write(doc)
    return 0


def cmd_graphs(args: argparse.Namespace) -> int:
    """Export the served networks to committed ONNX graphs, each checked against its framework model."""
    from core.models import registry
    from core.models.card import default_models_dir
    from core.training import graphs

    root = Path(args.models_dir) if args.models_dir else default_models_dir()
    if not args.list:
        names = args.names or [c["name"] for c in registry.discover(root)]
        data = Path(args.data) if args.data else root.parent.parent / "shared" / "data"
        done = graphs.export(names, root, graphs.check_images(data), log=print)
        print(f"exported {len(done)} model(s)")
    rows = graphs.summary(root)
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            share = r["max_map_share_of_peak"]
            print(f"{r['model']:32s} {r['role']:10s} {r['mb']:6.2f} MB  {r['outputs']:16s} {r['images']:3d} images  max |dp| {r['max_abs_probability']:.1e}" + ("" if share is None else f"  map {share:.1e} of peak"))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from core.training import TrainOptions, train_recipe
    from core.training.options import parse_folds

    if args.workers < 0:
        raise UsageError("--workers must be 0 or more")
    options = TrainOptions(data=Path(args.data) if args.data else None, dataset=args.dataset, folds=parse_folds(args.folds), device=args.device, workers=args.workers,
                           address=args.address, smoke=args.smoke, restart=args.restart, oof=args.oof, models_dir=Path(args.models_dir) if args.models_dir else None)
    for folder in train_recipe(args.recipe, options):
        print(f"wrote {folder}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.predictions:  # a score file of any labelled dataset (python -m core score)
        from core.score.cli import cmd_evaluate_scores

        return cmd_evaluate_scores(args)
    if not args.model or not args.data:
        raise UsageError("evaluate needs --model NAME and --data DIR, or --predictions FILE.parquet")
    args.split = args.split or "test"
    from core.datasets import load_dataset
    from core.evaluation.metrics import evaluate_predictions
    from core.models import registry
    from core.serving.records import predict_records
    from core.datasets.splits import split_patients

    model = registry.load(args.model, args.models_dir)
    card = model.card
    records = load_dataset(args.dataset, args.data)
    if args.split == "all":
        assignment = {r.image_id: "all" for r in records}
    else:
        split_seed = int(card.get("data", {}).get("split_seed", 0))
        assignment = split_patients(records, seed=split_seed)
        records = [r for r in records if assignment[r.image_id] == args.split]
    pred = predict_records(model, records, assignment, progress=not args.json)
    classes = list(model.classes)
    if len(classes) > 2 and "pred" not in pred:
        pred["pred"] = [classes[i] for i in pred[[f"p_{c}" for c in classes]].to_numpy().argmax(1)]
    threshold = card.get("threshold") if card.get("threshold") is not None else (card.get("test") or {}).get("threshold")
    if len(classes) == 2 and threshold is not None:
        pred["pred"] = [classes[1] if p >= threshold else classes[0] for p in pred[f"p_{classes[1]}"]]
    result = evaluate_predictions(pred, classes, args.split, threshold=threshold, n_boot=args.bootstrap)
    card_metrics = (card.get("test") or {}).get("metrics", {}) if args.split == "test" else {}
    if args.json:
        _print_json({"model": args.model, **result, "card_test_metrics": card_metrics})
        return 0
    print(f"{args.model} on {args.dataset} ({args.split}): {result['n_images']} images, {result['n_patients']} patients, threshold {result['threshold']}")
    for k, m in result["metrics"].items():
        ref = card_metrics.get(k, {}).get("value")
        same = "" if ref is None else ("  = card" if abs(ref - m["value"]) < 1e-3 else f"  (card {ref:.4f})")
        print(f"  {k:18s} {m['value']:.4f}  95% CI {m['ci95'][0]:.3f}–{m['ci95'][1]:.3f}{same}")
    print(f"  confusion ({', '.join(result['confusion_labels'])}): {result['confusion']}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Every model that loads predicts every file that reads; each failure is one stderr line.

    Exit status: 4 when no model could predict anything (every model missing, failing its
    SHA-256 check or failing to run), else 3 when a file could not be read, else 0 — a
    model that fails while others work is reported but does not change the status.
    """
    from core.evaluation import conformal
    from core.errors import model_reason
    from core.io.reader import read_image
    from core.models import registry
    from core.privacy import neutral_label
    from core.studies.combine import reads_study

    if args.model == "all":
        names = []
        for c in registry.discover(args.models_dir):
            try:
                available = registry.weights_available(c)
            except MammoError:
                available = True  # let loading say what is wrong with it
            if available:
                names.append(c["name"])
    else:
        names = [args.model]
    models = []
    for n in names:
        try:
            models.append(registry.load(n, args.models_dir))
        except MammoError as exc:
            _error_line(f"{n}: {model_reason(n, exc)}")
        except Exception as exc:  # a library failure while loading one model must not stop the others
            _error_line(f"{n}: could not be loaded ({type(exc).__name__})")
    slots = _study_slots(args.study, len(args.files)) if args.study else None
    study_models = [m for m in models if reads_study(m)] if slots else []
    if slots:  # a study model reads the study below, not film by film
        models = [m for m in models if not reads_study(m)]
    images: list[tuple[str, Any]] = []
    out: list[dict[str, Any]] = []
    unreadable = False
    for i, f in enumerate(args.files, start=1):
        label = neutral_label("file", i)  # a file name can identify a person: never printed
        if not models and not study_models:
            break
        try:
            image = read_image(f, name=label)
        except MammoError as exc:
            _error_line(str(exc))
            unreadable = True
            continue
        images.append((label, image, *(slots[i - 1] if slots else (None, None))))
        for m in models:
            try:
                pred = m.predict(image, with_maps=not args.no_maps)
            except MammoError as exc:
                _error_line(f"{m.name}: {label}: {model_reason(m.name, exc)}")
                continue
            except Exception as exc:
                _error_line(f"{m.name}: {label}: prediction failed ({type(exc).__name__})")
                continue
            row = {"file": label, **pred.to_dict()}
            calibration = conformal.for_card(registry.card(m.name, args.models_dir), pred.task) if len(pred.classes) == 2 else None
            if calibration is not None:  # split-conformal, calibrated on the model's out-of-fold rows
                row["prediction_set"] = list(calibration.prediction_set(pred.positive_probability, conformal.DEFAULT_COVERAGE))
                row["coverage"], row["uncertain"] = conformal.DEFAULT_COVERAGE, len(row["prediction_set"]) > 1
            if args.save_maps:
                row["map_files"] = _save_maps(pred, label, Path(args.save_maps))
            if m.looks_at_roi:
                row["note"] = "patch model: no lesion location given, looked at the breast centre"
            out.append(row)
    readings = _study_readings(study_models, images) if slots and images else []
    if args.json:
        _print_json({"images": out, "studies": [r.to_dict() for r in readings]} if slots else out)
    else:
        for r in out:
            probs = "  ".join(f"{c} {v:.3f}" for c, v in r["probabilities"].items())
            maps = ", ".join(f"{k} ({m['kind']}{'' if m['score'] is None else ', score ' + format(m['score'], '.3f')})" for k, m in r["maps"].items())
            print(f"{r['file']:8s} {r['model']:34s} {probs}  → {r['decision']}{'  maps: ' + maps if maps else ''}")
        for reading in readings:
            _print_study(reading)
    if not (models or study_models) or (not out and not readings and not unreadable):
        return 4  # nothing could be predicted because of the models
    return 3 if unreadable else 0


def _study_slots(spec: str, n: int) -> list[tuple[str | None, str | None]]:
    """`--study auto` -> every side / view from the files' DICOM fields; `--study R-MLO,L-MLO`
    -> one SIDE[-VIEW] per file, in order (`-` or `auto`: that file's own fields)."""
    if spec == "auto":
        return [(None, None)] * n
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) != n:
        raise UsageError(f"--study gives {len(parts)} side-view entries for {n} files")
    out = []
    for p in parts:
        if p in ("-", "auto", ""):
            out.append((None, None))
            continue
        side, _, view = p.partition("-")
        out.append((side, view or None))
    return out


def _study_readings(study_models: list, images: list) -> list:
    """Each study model's reading of the files as one woman's study (one combine: core.studies.combine)."""
    from core.errors import model_reason
    from core.studies.combine import read_images

    readings = []
    items = [(image, side, view) for _, image, side, view in images]
    labels = [label for label, *_ in images]
    for m in study_models:
        try:
            readings.append(read_images(m, items, labels))
        except StudyError:
            raise
        except MammoError as exc:
            _error_line(f"{m.name}: {model_reason(m.name, exc)}")
        except Exception as exc:
            _error_line(f"{m.name}: study reading failed ({type(exc).__name__})")
    return readings


def _print_study(r) -> None:
    t = "—" if r.threshold is None else f"{r.threshold:.3f}"
    print(f"\nstudy: {r.model} (member {r.member}; views combined by {r.rule}; bilateral: score − {r.weight:g} × other breast; threshold {t})")
    for i in r.images:
        print(f"  image   {i.label:8s} {i.side}-{i.view or '?':4s} member {i.score:.3f}  study {i.study_score:.3f}  → {i.decision}")
    for b in r.breasts:
        print(f"  breast  {b.side:8s} {'+'.join(b.views):6s} member {b.score:.3f}  study {b.study_score:.3f}  → {b.decision}")
    print("  bilateral: " + ("both breasts, each read against the other" if r.paired else "; ".join(r.notes)))


def _save_maps(pred, label: str, folder: Path) -> list[str]:
    """Each map as an 8-bit PNG on the original image grid (long side at most 1,024 px)."""
    import cv2
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for key, layer in pred.maps.items():
        grid = layer.on_grid()
        scale = min(1.0, 1024 / max(grid.shape))
        if scale < 1:
            grid = cv2.resize(grid, (max(1, round(grid.shape[1] * scale)), max(1, round(grid.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        name = f"{label.replace(' ', '-')}_{pred.model}_{key}.png"
        cv2.imwrite(str(folder / name), np.clip(grid * 255, 0, 255).astype(np.uint8))
        names.append(name)
    return names


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="Mammography workbench: read images, list datasets, train, evaluate and compare models.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--models-dir", default=None, help="model folders (default: the repo's models/)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("read", help="safe metadata of one image")
    s.add_argument("file")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_read)

    s = sub.add_parser("samples", help="the embedded sample images with their truth")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_samples)

    s = sub.add_parser("dataset", help="records of a dataset folder")
    s.add_argument("--dataset", required=True, choices=["mias", "cbis", "minidds", "folder", "sample"])
    s.add_argument("--data", default=None)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_dataset)

    s = sub.add_parser("models", help="registered models")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_models)

    s = sub.add_parser("train", help="train a recipe of any kind into models/<name>/")
    s.add_argument("recipe")
    s.add_argument("--data", default=None, help="dataset folder (default ../shared/data)")
    s.add_argument("--dataset", default=None, choices=["mias", "cbis", "minidds", "folder"], help="train on this data set instead of the recipe's")
    s.add_argument("--smoke", action="store_true", help="one tiny fold on the first 40 films")
    s.add_argument("--restart", action="store_true", help="ignore earlier fold runs and checkpoints")
    s.add_argument("--oof", action="store_true", help="classifiers: also train folds 1-4 and write oof_predictions.csv (lesion models always do)")
    s.add_argument("--folds", default=None, help="folds to run, e.g. 0,1 (default all 5)")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA when torch sees one (bf16 autocast there)")
    s.add_argument("--workers", type=int, default=0, help="DataLoader workers and film-cache processes (0: in process)")
    s.add_argument("--address", default=None, metavar="local|HOST:PORT", help="the dense patch net's epochs on Ray Train with --workers workers: 'local' starts Ray here, else a cluster's address")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate", help="recompute a model's metrics from its weights, or judge a score file")
    s.add_argument("--model", default=None)
    s.add_argument("--dataset", default="mias", choices=["mias"])
    s.add_argument("--data", default=None)
    s.add_argument("--predictions", default=None, metavar="FILE.parquet", help="a score file (python -m core score): every model in every task")
    s.add_argument("--split", default=None, choices=["test", "val", "train", "all"], help="default: test (--model), all (--predictions)")
    s.add_argument("--bootstrap", type=int, default=1000)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_evaluate)

    from core.score.cli import add_score_parser

    add_score_parser(sub)

    s = sub.add_parser("predict", help="class probabilities per model per file")
    s.add_argument("files", nargs="+")
    s.add_argument("--model", default="all")
    s.add_argument("--json", action="store_true")
    s.add_argument("--no-maps", action="store_true", help="probabilities only (no Grad-CAM / patch / segmentation maps)")
    s.add_argument("--save-maps", default=None, metavar="DIR", help="write every map as a PNG into DIR")
    s.add_argument("--study", nargs="?", const="auto", default=None, metavar="SIDE-VIEW,...",
                   help="the files are one woman's study: sides / views from the DICOM fields (no value or 'auto'), or one R|L[-CC|MLO] per file; study models print per image, per breast and bilateral")
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("graphs", help="export the served networks to committed ONNX graphs (checked against the framework models)")
    s.add_argument("names", nargs="*", help="models to export (default: every served leaf model)")
    s.add_argument("--data", default=None, help="data folder with mini-mias/ for the equality check (default ../shared/data)")
    s.add_argument("--list", action="store_true", help="only list the committed graphs and their recorded checks")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_graphs)

    s = sub.add_parser("leaderboard", help="the comparison table from committed cards, ranked out of fold")
    s.add_argument("--format", default="md", choices=["md", "csv", "json"])
    s.add_argument("--task", default=None, choices=["stage1", "stage2", "flat3"])
    s.add_argument("--brief", action="store_true", help="the main columns only (model, seed, kind, out-of-fold and test ROC-AUC, operating point, external check)")
    s.add_argument("--level", default="image", choices=["image", "breast"], help="out-of-fold figures per film (default) or per breast (abnormal when any of its views is)")
    s.add_argument("--check", action="store_true", help="recompute every card and out-of-fold figure from committed files")
    s.add_argument("--headline", action="store_true", help="the README's table: complete five-fold runs, stage 1 and stage 2, markdown")
    s.add_argument("--slices", action="store_true", help="out-of-fold ROC-AUC, sensitivity and specificity per slice (density, lesion class, side, view) with patient-bootstrap intervals")
    s.add_argument("--operating-points", action="store_true", help="out of fold: sensitivity at --specificity and specificity at --sensitivity, thresholds from the other folds")
    s.add_argument("--specificity", type=float, default=0.90, help="the specificity held for --operating-points (default 0.90)")
    s.add_argument("--sensitivity", type=float, default=0.90, help="the sensitivity held for --operating-points (default 0.90)")
    s.add_argument("--models", default=None, help="comma-separated models for --slices / --operating-points (default: every complete out-of-fold run, best first; the first two are paired)")
    s.add_argument("--data", default=None, help="data folder with the models' data set, for the slices (default ../shared/data; else the committed slice facts)")
    s.add_argument("--write", action="store_true", help="recompute models/supervisor_figures.json (what --check holds the slices and operating points to)")
    s.set_defaults(func=cmd_leaderboard)

    s = sub.add_parser("report", help="Compare's self-contained HTML report of the chosen models of one task (or one part's numbers as JSON)")
    s.add_argument("--task", default="stage1", choices=["stage1", "stage2", "flat3"])
    s.add_argument("--models", required=True, help="comma-separated models, in the page's order")
    s.add_argument("--pair", default=None, help="A,B: the paired comparisons' models (default: the first model and the first other whose scores differ)")
    s.add_argument("--specificity", type=float, default=0.90, help="the specificity held for the operating points (default 0.90)")
    s.add_argument("--sensitivity", type=float, default=0.90, help="the sensitivity held for the operating points (default 0.90)")
    s.add_argument("--split", default="test", choices=["test", "val"], help="the split of the ROC / PR / calibration curves (default test)")
    s.add_argument("--event", default=None, choices=["lesion", "malignant"], help="the curves' positive event (default: the task's positive class)")
    s.add_argument("--data", default=None, help="data folder with the models' data set, for the slices (default ../shared/data; else the committed slice facts)")
    s.add_argument("--part", default=None, choices=["leaderboard", "paired_oof", "curves", "slices", "operating_points", "decision_curves", "disagreements", "provenance"],
                   help="print this part's numbers as JSON instead of the report")
    s.add_argument("--out", default=None, help="write the HTML here (default: standard output)")
    s.set_defaults(func=cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MammoError as exc:
        if args.debug:
            raise
        _error_line(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except Exception as exc:  # never a traceback (it could quote a file's contents); --debug shows it
        if args.debug:
            raise
        _error_line(f"unexpected {type(exc).__name__}; run again with --debug for details")
        return 1

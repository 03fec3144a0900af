"""`python -m core score` and `python -m core evaluate --predictions`: argument parsing and printing.

Output names no file given on the command line and no server path; errors are typed
(`core.errors`) and become one `error:` line in `core.cli`.
"""

from __future__ import annotations

import argparse
import json
import sys

from core.errors import UsageError
from core.labels import space

DATASETS = ["folder", "cbis", "mias", "minidds", "sample"]


def add_score_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("score", help="every image of an archive through every chosen model (Ray Data), into one parquet file; resumable")
    s.add_argument("--data", default=None, help="dataset folder (not needed for --dataset sample)")
    s.add_argument("--dataset", required=True, choices=DATASETS)
    s.add_argument("--model", nargs="+", default=["all"], metavar="all|NAME", help="models to score (default: all whose weights are here)")
    s.add_argument("--out", required=True, metavar="FILE.parquet", help="output; rows already in it are skipped (resume)")
    s.add_argument("--address", default=None, help="a running Ray cluster: auto, or ray://HOST:PORT (default: Ray on this machine)")
    s.add_argument("--workers", type=int, default=1, help="actors per model (locally: CPUs used; default 1)")
    s.add_argument("--batch-size", type=int, default=2, help="images per batch handed to an actor (default 2)")
    s.add_argument("--limit", type=int, default=None, help="score only the first N images (a trial run)")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=cmd_score)


def cmd_score(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from core.score.run import score

    if args.dataset != "sample" and not args.data:
        raise UsageError(f"--data DIR is required for --dataset {args.dataset}")
    bar = tqdm(total=0, unit="image", desc="score", disable=args.json or not sys.stderr.isatty(), file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        summary = score(args.data, args.dataset, args.model, args.out, address=args.address, workers=args.workers, batch_size=args.batch_size,
                        models_dir=args.models_dir, limit=args.limit, progress=progress)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(vars(summary), indent=2))
    else:
        print(f"{summary.images} images × {len(summary.models)} models: {summary.scored} scored now, {summary.skipped} already in the output"
              f"{f', {summary.no_file} records without an image file' if summary.no_file else ''}")
        print(f"{summary.error_rows} new rows with an error (unreadable file or failing model); the output holds {summary.rows} rows")
        if summary.study_rows:
            print(f"{summary.study_rows} study rows (each film against the other breast, and one per breast, grouped by patient) "
                  "in the file beside it named like the output with .study.parquet")
    return 0


def cmd_evaluate_scores(args: argparse.Namespace) -> int:
    """The cards' metrics for every model and task in a score file."""
    from core.score.metrics import evaluate_scores, json_safe, leaderboard, read_scores

    frame = read_scores(args.predictions)
    split = args.split or "all"
    results = evaluate_scores(frame, split=split, n_boot=args.bootstrap)
    if args.json:
        print(json.dumps(json_safe(results), indent=2))
        return 0
    table = leaderboard(results)
    print(f"{frame['image_id'].nunique()} images, {frame['model'].nunique()} models, split {split}; "
          f"{int(frame['error'].notna().sum())} rows with an error are left out")
    for task, part in table.groupby("task", sort=False):
        print(f"\n{task}")
        for _, r in part.iterrows():
            auc = "—" if r["ROC AUC"] != r["ROC AUC"] else f"{r['ROC AUC']:.3f} ({r['AUC low']:.2f}–{r['AUC high']:.2f})"
            pairs = (("sens", "sensitivity"), ("spec", "specificity")) if space(task).binary else (("macro-F1", "macro F1"), ("bal.acc", "balanced acc."))
            rest = "  ".join(f"{k} {'—' if r[c] != r[c] else format(r[c], '.3f')}" for k, c in pairs)
            print(f"  {r['model']:34s} n={int(r['images']):<5d} ROC AUC {auc:22s} {rest}{'  (' + r['note'] + ')' if r['note'] else ''}")
    for r in results:
        if r.get("confusion"):
            print(f"confusion {r['model']} {r['task']} ({', '.join(r['confusion_labels'])}; rows = truth): {r['confusion']}")
    return 0

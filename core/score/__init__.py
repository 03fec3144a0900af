"""Score whole archives with every model (Ray Data) and evaluate any labelled score file.

- `plan`: which actor pools score which models (one framework per process)
- `steps`: decode once, then one model per step (run by Ray actors or in-process)
- `rows`: the long rows of a score file (one per image and model)
- `store`: part files while running, one parquet file at the end, resume
- `run`: the Ray Data pipeline behind `python -m core score`
- `local`: the same steps in this process, model by model (the dashboard)
- `metrics`: the cards' metrics, CIs and curves for a score file
- `synthetic`: a synthetic archive from the embedded sample (tests, benchmark)
"""

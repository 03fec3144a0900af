"""Reports over committed model folders: the leaderboard (ranked out of fold, `--check`
recomputes every figure), a card's derived views, an own recipe against the seeds, the
ROC / PR / calibration curves and paired bootstraps the pages draw.
"""

"""One epoch loop for every trainer: the classifier, the dense patch net, the map top, the U-Net.

Why: the four trainers differ in what an epoch fits and how it is judged, not in the loop
around that: epochs in order, the best epoch's weights and the patience kept by one
`BestEpoch`, one history row and one log line per epoch, early stopping, the best weights
back at the end. A trainer subclasses `EpochLoop` and fills its hooks (as pytorch-grad-cam's
`BaseCAM` and MONAI's `Trainer` keep one loop for their many methods and networks):

    epochs()                      the epochs to run, in order (default: 0 .. total - 1)
    on_epoch_start(epoch)         freezing, the optimiser, the learning rate
    fit_epoch(epoch)              -> the row's training columns (required)
    validate(epoch)               -> (the monitored score, the row's validation columns) (required)
    counts_toward_patience(epoch) False for epochs that never end a run (a head-only epoch)
    row(...) / timing(seconds)    the history row: epoch, training, validation, seconds, best
    describe(epoch, row, improved)  the epoch's log line (None: no line)
    on_epoch_end(epoch, row, improved)  checkpoints and run state (a resumable run)
    on_stop()                     after patience ran out: True ends the run, False a phase only
    finish()                      the best weights back (the keeper's `restore`)

A hook draws no random number the loop does not: a subclass keeps its trainer's seeds and
the order of its random draws, so a run trains as it did before the loop was shared.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

from core.training.best_epoch import BestEpoch

Log = Callable[[str], None]


class EpochLoop:
    """Epochs in order; each fits, is judged on validation, may become the best, and writes a row."""

    stop_message = "early stop"

    def __init__(self, module: Any, total: int, keeper: BestEpoch, log: Log = print) -> None:
        self.module = module
        self.total = total
        self.keeper = keeper
        self.log = log
        self.history: list[dict[str, Any]] = []

    # -- hooks ---------------------------------------------------------------------------
    def epochs(self) -> Iterable[Any]:
        return range(self.total)

    def on_epoch_start(self, epoch: Any) -> None:
        pass

    def fit_epoch(self, epoch: Any) -> dict[str, Any]:
        raise NotImplementedError

    def validate(self, epoch: Any) -> tuple[float, dict[str, Any]]:
        raise NotImplementedError

    def counts_toward_patience(self, epoch: Any) -> bool:
        return True

    def row(self, epoch: Any, fit: dict[str, Any], val: dict[str, Any], seconds: float, improved: bool) -> dict[str, Any]:
        return {"epoch": epoch + 1, **fit, **val, **self.timing(seconds), "best": bool(improved)}

    def timing(self, seconds: float) -> dict[str, Any]:
        return {"seconds": round(seconds, 1)}

    def describe(self, epoch: Any, row: dict[str, Any], improved: bool) -> str | None:
        return None

    def on_epoch_end(self, epoch: Any, row: dict[str, Any], improved: bool) -> None:
        pass

    def on_stop(self) -> bool:
        return True

    def finish(self) -> None:
        self.keeper.restore(self.module)

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        for epoch in self.epochs():
            self.on_epoch_start(epoch)
            t0 = time.time()
            fit = self.fit_epoch(epoch)
            score, val = self.validate(epoch)
            improved = self.keeper.update(score, self.module, counts_toward_patience=self.counts_toward_patience(epoch))
            row = self.row(epoch, fit, val, time.time() - t0, improved)
            self.history.append(row)
            line = self.describe(epoch, row, improved)
            if line is not None:
                self.log(line + (" *" if improved else ""))
            self.on_epoch_end(epoch, row, improved)
            if self.keeper.should_stop:
                self.log(self.stop_message)
                if self.on_stop():
                    break
        self.finish()
        return self.history

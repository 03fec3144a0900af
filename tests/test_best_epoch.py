"""The shared best-epoch keeper: the best weights come back, patience stops a run."""
import torch

from core.training.best_epoch import BestEpoch


def _set(net: torch.nn.Linear, value: float) -> None:
    with torch.no_grad():
        net.weight.fill_(value)


def test_the_best_epochs_weights_come_back_and_patience_stops_the_run():
    net = torch.nn.Linear(2, 1)
    keeper = BestEpoch(net, patience=2)
    stops = []
    for value, score in [(1.0, 0.5), (2.0, 0.7), (3.0, 0.6), (4.0, 0.7 + 1e-9), (5.0, 0.1)]:
        _set(net, value)
        keeper.update(score, net)
        stops.append(keeper.should_stop)
    assert stops == [False, False, False, True, True]
    keeper.restore(net)
    assert torch.all(net.weight == 2.0) and not net.training
    assert keeper.score == 0.7


def test_epochs_that_do_not_count_toward_patience_never_stop_the_run():
    net = torch.nn.Linear(2, 1)
    keeper = BestEpoch(net, patience=1)
    assert keeper.update(0.5, net, counts_toward_patience=False)
    assert not keeper.update(0.4, net, counts_toward_patience=False)
    assert not keeper.should_stop
    assert not keeper.update(0.4, net)
    assert keeper.should_stop

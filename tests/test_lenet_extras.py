"""LeNet-5 runs for chapters 06-08 (descent.lab.extras, descent.demos.lenet_extras and
scripts/lenet_extras.py), with chapter 09's model answers on small data."""

from __future__ import annotations

import runpy

import labtools
import pytest
import torch
from labtools import one_thread  # noqa: F401  (a fixture)
from matplotlib.figure import Figure
from torch import nn

from descent.answers import load
from descent.demos import lenet_extras as demo
from descent.lab import extras
from descent.lab.experiment import load_results
from descent.paths import repo_root

lenet5, train_one_epoch, evaluate = load("09_lenet_lab", "lenet5", "train_one_epoch",
                                         "evaluate")
CACHE = repo_root() / "book" / "_data" / "lenet_extras.json"


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(n_train=128, n_val=48, seed=0):
    return labtools.tiny(n_train, n_val, seed)


def test_batchnorm_goes_after_every_conv_and_hidden_linear_layer():
    plain = lenet5()
    normed = extras.with_batchnorm(plain)
    kinds = [type(layer).__name__ for layer in normed]
    assert kinds.count("BatchNorm2d") == 2 and kinds.count("BatchNorm1d") == 2
    for index, layer in enumerate(normed):
        if isinstance(layer, nn.BatchNorm2d | nn.BatchNorm1d):
            assert isinstance(normed[index - 1], nn.Conv2d | nn.Linear)
            assert isinstance(normed[index + 1], nn.ReLU)  # before the activation
    assert isinstance(normed[-1], nn.Linear)  # none after the output layer
    assert normed(torch.zeros(4, 1, 28, 28)).shape == (4, 10)


@pytest.mark.parametrize("name", extras.SCHEDULES)
def test_schedules_step_per_batch(name):
    param = nn.Parameter(torch.zeros(1))
    sgd = torch.optim.SGD([param], lr=0.1)
    schedule = extras.scheduler(name, sgd, total_steps=30)
    rates = [sgd.param_groups[0]["lr"]]
    for _ in range(30):
        sgd.step()
        schedule.step()
        rates.append(sgd.param_groups[0]["lr"])
    assert rates[0] == pytest.approx(0.1)
    if name == "constant":
        assert rates == pytest.approx([0.1] * 31)
    elif name == "step":  # × 0.1 from step 20 = 2/3 of 30 on
        assert rates[19] == pytest.approx(0.1) and rates[20] == pytest.approx(0.01)
    else:  # half a cosine down to 0: η₀/2 in the middle
        assert rates[15] == pytest.approx(0.05) and rates[30] == pytest.approx(0.0, abs=1e-12)


def test_a_run_with_averages_repeats_and_records_its_curves():
    first, again = (extras.run(lenet5, tiny(), train_one_epoch, evaluate, seed=2, epochs=2,
                               lr=0.05, batch_size=32, ema_decay=0.9, swa_start=2)
                    for _ in range(2))
    first.pop("seconds"), again.pop("seconds")  # wall-clock time: the one curve that varies
    assert first == again
    for curve in ("train_loss", "val_loss", "val_acc", "ema_val_loss", "ema_val_acc"):
        assert len(first[curve]) == 2
    assert first["swa_epochs"] == [2] and len(first["swa_val_loss"]) == 1
    # SWA holds one snapshot, the weights at the end of epoch 2: the last iterate itself
    assert first["swa_val_loss"][0] == pytest.approx(first["val_loss"][1], rel=1e-6)
    assert first["ema_val_loss"][1] != first["val_loss"][1]
    # four mini-batches per epoch: η sampled at every step, from step 0 to 8
    assert first["lr_epoch"] == pytest.approx([k / 4 for k in range(9)])


def test_a_diverged_run_is_stored_as_none():
    history = extras.run(lenet5, tiny(), train_one_epoch, evaluate, seed=0, epochs=1,
                         lr=1e3, batch_size=32)
    assert history["val_loss"][0] is None and history["train_loss"][0] is None
    assert extras._finite(float("nan")) is None and extras._finite(1.5) == 1.5


def test_the_script_writes_a_cache_the_figures_draw(tmp_path):
    main = runpy.run_path(str(repo_root() / "scripts" / "lenet_extras.py"))["main"]
    out = tmp_path / "extras.json"
    assert main(["--out", str(out), "--seeds", "1", "--epochs", "1", "--swa-start", "1",
                 "--train-size", "256", "--val-size", "96"]) == 0
    results = load_results(out)
    assert results["meta"]["train_size"] == 256 and results["meta"]["val_size"] == 96
    assert set(results["schedules"]) == set(extras.SCHEDULES)
    assert set(results["batchnorm"]["batchnorm"]) == {"base", "high"}
    assert results["settings"]["lrs"]["high"] == pytest.approx(
        5 * results["settings"]["lrs"]["base"])
    _draws(results)


def _draws(results):
    figures = [demo.schedule_figure(results), demo.averaging_figure(results),
               demo.batchnorm_figure(results), demo.batchnorm_figure(results, "train_loss")]
    assert all(isinstance(f, Figure) for f in figures)
    table = demo.final_accuracies(results)
    assert set(table) == {*extras.SCHEDULES, "ema", "swa", "plain@base", "plain@high",
                          "batchnorm@base", "batchnorm@high"}


def test_the_committed_cache():
    results = load_results(CACHE)
    meta, settings = results["meta"], results["settings"]
    assert meta["source"].startswith("mnist"), "the committed cache must be measured on MNIST"
    epochs = meta["epochs"]
    for runs in (*results["schedules"].values(), *results["batchnorm"]["plain"].values(),
                 *results["batchnorm"]["batchnorm"].values()):
        assert len(runs) == meta["seeds"]
        assert all(len(h["val_acc"]) == epochs for h in runs)
    constant = results["schedules"]["constant"]
    assert all(len(h["swa_val_acc"]) == epochs - settings["swa_start"] + 1 for h in constant)
    assert results["lr_schedules"]["cosine"]["lr"][0] == pytest.approx(settings["lr"])
    _draws(results)

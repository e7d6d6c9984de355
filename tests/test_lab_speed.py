"""The lab's speed (descent.lab.speed) and its throughput benchmark (descent.lab.throughput):
every faster way trains the same network, the lab says which it picked, and the benchmark's
loops draw the same batches."""

from __future__ import annotations

import json
import os
import runpy

import pytest
import torch
from labtools import one_thread, tiny  # noqa: F401  (one_thread: a fixture)

from descent.answers import load
from descent.lab import experiment, speed, throughput
from descent.paths import repo_root

lenet5, train_one_epoch, evaluate, CourseAdam = load(
    "09_lenet_lab", "lenet5", "train_one_epoch", "evaluate", "CourseAdam")
CPU = torch.device("cpu")
available_cores = speed.available_cores  # the fixture one_thread stands in one for it
#: Runs that differ only in rounding (float32's 2⁻²⁴ a step, over 2 epochs of 6 steps) stay
#: far inside this relative gap; another seed lands about 10⁻³ away on this data.
SAME_RUN_RTOL = 1e-5

pytestmark = pytest.mark.usefixtures("one_thread")


def test_lenet5_costs_what_its_layers_say():
    costs = throughput.layer_costs(lenet5())
    # Output values and multiply-adds of each: C_in·5·5 per convolution value (C1 pads its
    # 28×28 input to keep 28×28), the fan-in per linear output.
    by_hand = [(6 * 28 * 28, 1 * 5 * 5), (16 * 10 * 10, 6 * 5 * 5), (120, 400), (84, 120),
               (10, 84)]
    assert list(costs.values()) == by_hand
    forward = [values * per_value for values, per_value in by_hand]
    assert sum(forward) == 416_520
    # Training: the forward, the weight gradients (as many), the input gradients (all but C1).
    assert throughput.training_multiply_adds(costs) == 3 * sum(forward) - forward[0]


def test_fused_kernels_where_torch_has_them():
    fast = speed.Settings()
    assert speed.optimizer_options(torch.optim.Adam, CPU, fast) == {"fused": True}
    assert speed.optimizer_options(torch.optim.RMSprop, CPU, fast) == {"foreach": True}
    assert speed.optimizer_options(CourseAdam, CPU, fast) == {}  # a student's: as written
    assert speed.optimizer_options(torch.optim.Adam, CPU, speed.PLAIN) == {}
    model = speed.prepared_model(lenet5(), fast)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    images = speed.laid_out(torch.rand(2, 3, 8, 8), fast)
    assert images.is_contiguous(memory_format=torch.channels_last)


def test_every_setting_trains_the_same_network():
    tensors = tiny(192, 64)
    settings = [speed.PLAIN, speed.Settings(channels_last=False), speed.Settings()]
    runs = [experiment.run(lenet5, "adam", tensors, train_one_epoch, evaluate, seed=0,
                           epochs=2, batch_size=32, settings=s) for s in settings]
    other_seed = experiment.run(lenet5, "adam", tensors, train_one_epoch, evaluate, seed=1,
                                epochs=2, batch_size=32, settings=speed.PLAIN)
    for curve in ("train_loss", "val_loss"):
        for run in runs[1:]:
            assert run[curve] == pytest.approx(runs[0][curve], rel=SAME_RUN_RTOL)
        assert other_seed[curve] != pytest.approx(runs[0][curve], rel=SAME_RUN_RTOL)


def test_the_lab_picks_its_settings_once_and_says_which(capsys, monkeypatch):
    monkeypatch.setattr(speed, "_CHOSEN", {})
    x, y, *_ = tiny(64, 8)
    state = torch.get_rng_state()
    best, speeds = speed.choose(lenet5, train_one_epoch, x, y, batch_size=16, batches=2,
                                rounds=1, threads=(2, 1))
    assert torch.equal(torch.get_rng_state(), state)  # a seeded run after it is unchanged
    assert torch.get_num_threads() == 1  # as the fixture left it
    options = speed.candidates(CPU, threads=(1, 2))
    assert list(speeds) == options and [s.threads for s in options] == [1, 1, 2, 2]
    # The first option within 15 % of the fastest: one thread and channels_last by preference.
    assert best == next(s for s in options if 1.15 * speeds[s] >= max(speeds.values()))

    monkeypatch.setattr(speed, "available_cores", lambda: 2)
    picked = speed.lab_settings(lenet5, train_one_epoch, x, y, batch_size=16)
    said = capsys.readouterr().out
    assert f"The lab trains on cpu with {picked.describe()}. Images per second" in said
    assert picked.threads in (1, 2) and torch.get_num_threads() == picked.threads
    assert speed.lab_settings(lenet5, train_one_epoch, x, y, batch_size=16) == picked
    assert capsys.readouterr().out == ""  # chosen once
    assert speed.lab_settings(lenet5, train_one_epoch, x, y, batch_size=16,
                              threads=1, say=False).threads == 1


def test_the_lab_never_tries_more_threads_than_it_may_use(monkeypatch, tmp_path):
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = tmp_path / "cpu.max"
    monkeypatch.setattr(speed, "CGROUP_CPU_MAX", quota)
    assert available_cores() == allowed  # no cgroup file: the affinity
    quota.write_text("max 100000\n")
    assert available_cores() == allowed  # no quota
    quota.write_text("150000 100000\n")  # one and a half CPUs: one thread's worth
    assert available_cores() == 1
    quota.write_text("50000 100000\n")  # half a CPU still runs one thread
    assert available_cores() == 1
    # A GPU's speed does not hang on the CPU's threads: none are tried there.
    assert [s.threads for s in speed.candidates(torch.device("cuda"), threads=(1, 4))] == [
        None, None]


def test_the_benchmark_compares_loops_that_draw_the_same_batches(tmp_path, capsys):
    main = runpy.run_path(str(repo_root() / "benchmarks" / "lenet_throughput.py"))["main"]
    out = tmp_path / "t.json"
    assert main(["--loops", "plain,one_tensor,lab", "--threads", "1", "--images", "256",
                 "--epochs", "1", "--batch-size", "32", "--json", str(out)]) == 0
    assert "the lab's loop over the plain loop: ×" in capsys.readouterr().out
    rows = json.loads(out.read_text())["rows"]
    plain, one_tensor, lab = rows
    assert [r["loop"] for r in rows] == ["plain", "one_tensor", "lab"]
    # The seeded DataLoader draws train_one_epoch's batches: the same kernels on the same
    # batches in the same order give the very same network.
    assert one_tensor["val_loss"] == plain["val_loss"]
    assert lab["loss"] == pytest.approx(plain["loss"], rel=SAME_RUN_RTOL)
    assert lab["ratio"] == pytest.approx(plain["median_epoch_s"] / lab["median_epoch_s"])
    assert lab["settings"]["fused"] and lab["device"] == "cpu (1 thread)"


def test_a_loop_that_fails_is_reported_with_its_error():
    with pytest.raises(RuntimeError, match="'lab' loop's process exited"):
        throughput.compare(("lab",), device="no-such-device", images=32, epochs=1)

"""Schedules, weight averaging and batch normalization on LeNet-5, cached for chapters 06-08.

    DESCENT_DATA=../shared/data/mnist .venv/bin/python scripts/lenet_extras.py [--seeds 2]

(``DESCENT_DATA``: a folder with the MNIST IDX files; without it ``data/mnist/``, and without
those the scikit-learn fallback, which the committed cache must not come from.)

Trains chapter 09's LeNet-5 (the model answer of its notebook, with its epoch and its
evaluation) on MNIST, or what ``descent.data.load_mnist`` finds, with SGD and momentum μ:

1. **schedules**: constant η₀, step decay (× 0.1 after 2/3 of the steps) and cosine
   annealing from η₀ to 0, all stepped after every mini-batch;
2. **averaging**: along the constant-η₀ run, the EMA of the weights (decay ρ, updated after
   every step) and SWA (the equal average of the weights at the end of each epoch from
   ``--swa-start`` on), each evaluated after every epoch;
3. **batch normalization**: LeNet-5 with a batch norm after every convolution and hidden
   linear layer, against the plain network, at η₀ and at ``--high-lr`` × η₀.

Writes the curves, the settings and where they were measured to ``--out`` (by default
``book/_data/lenet_extras.json``), which the chapters plot with
``descent.demos.lenet_extras``: ``schedules`` (the constant runs also hold the ``ema_*`` and
``swa_*`` curves), ``batchnorm`` (the plain network at η₀ is the constant run), and
``lr_schedules``, η per fifth of an epoch for each schedule. About 4 minutes on one CPU
thread (two seeds, eight epochs, 8 000 training images).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from descent.answers import load
from descent.data import load_mnist
from descent.lab import extras
from descent.lab.experiment import run_meta, save_results
from descent.lab.training import pick_device, prepare, to_device

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path,
                        default=ROOT / "book" / "_data" / "lenet_extras.json")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or mps")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.03, help="η₀ of every run")
    parser.add_argument("--momentum", type=float, default=0.9, help="μ of every run")
    parser.add_argument("--high-lr", type=float, default=5.0,
                        help="the batch-norm comparison's second η, as a multiple of η₀")
    parser.add_argument("--ema-decay", type=float, default=0.99, help="ρ of the weight EMA")
    parser.add_argument("--swa-start", type=int, default=None,
                        help="first epoch (from 1) SWA averages (default: the second half)")
    parser.add_argument("--train-size", type=int, default=None,
                        help="use only this many training images (default: all)")
    parser.add_argument("--val-size", type=int, default=None,
                        help="use only this many validation images (default: all)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    swa_start = args.swa_start or args.epochs // 2 + 1

    lenet5, train_one_epoch, evaluate = load(
        "09_lenet_lab", "lenet5", "train_one_epoch", "evaluate")
    device = pick_device(args.device)
    prepare(device, 0, args.threads)
    data = load_mnist(download=False)
    tensors = list(to_device(data, device))
    if args.train_size:
        tensors[0], tensors[1] = tensors[0][:args.train_size], tensors[1][:args.train_size]
    if args.val_size:
        tensors[2], tensors[3] = tensors[2][:args.val_size], tensors[3][:args.val_size]
    seeds = range(args.seeds)
    high = args.lr * args.high_lr
    common = {"train_one_epoch": train_one_epoch, "evaluate": evaluate, "epochs": args.epochs,
              "batch_size": args.batch_size, "momentum": args.momentum,
              "threads": args.threads}

    def runs(label: str, **options) -> list[dict]:
        started = time.perf_counter()
        histories = [extras.run(lenet5, tensors, seed=seed, **common, **options)
                     for seed in seeds]
        accuracy = [h["val_acc"][-1] for h in histories]
        shown = ", ".join("diverged" if a is None else f"{a:.4f}" for a in accuracy)
        print(f"{label:24s} final validation accuracy {shown} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
        return histories

    started = time.perf_counter()
    constant = runs("constant (+ EMA, SWA)", lr=args.lr, ema_decay=args.ema_decay,
                    swa_start=swa_start)
    schedules = {"constant": constant}
    for name in extras.SCHEDULES[1:]:
        schedules[name] = runs(name, lr=args.lr, schedule=name)
    batchnorm = {  # the plain network at η₀ is the constant schedule's run
        "plain": {"high": runs("plain, high η", lr=high)},
        "batchnorm": {"base": runs("batch norm", lr=args.lr, batchnorm=True),
                      "high": runs("batch norm, high η", lr=high, batchnorm=True)},
    }
    rates = {name: {"epoch": histories[0]["lr_epoch"], "lr": histories[0]["lr"]}
             for name, histories in schedules.items()}
    for group in (*schedules.values(), *batchnorm["plain"].values(),
                  *batchnorm["batchnorm"].values()):
        for history in group:  # the same in every run of a schedule: stored once, above
            del history["lr"], history["lr_epoch"]

    results = {
        "meta": run_meta(device, "scripts/lenet_extras.py", argv or sys.argv[1:], data, tensors,
                         args, started),
        "settings": {
            "model": "LeNet-5 (chapter 09)", "optimizer": "SGD", "lr": args.lr,
            "momentum": args.momentum,
            "steps_per_epoch": -(-len(tensors[1]) // args.batch_size),
            "step_decay": {"factor": extras.STEP_FACTOR, "after_fraction": extras.STEP_AT},
            "cosine": {"lr_min": 0.0},
            "ema_decay": args.ema_decay, "swa_start": swa_start,
            "lrs": {"base": args.lr, "high": high},
        },
        "lr_schedules": rates,
        "schedules": schedules,  # "constant" also holds the EMA and SWA curves
        "batchnorm": batchnorm,
    }
    save_results(args.out, results)
    print(f"wrote {args.out} ({results['meta']['minutes']:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The full optimizer comparison of chapter 09, cached for the book: ``make lab-full``.

    .venv/bin/python scripts/lenet_full.py [--device cuda] [--seeds 3] [--epochs 10]

Trains LeNet-5, a 2×500 perceptron and a logistic regression on MNIST (or what
``descent.data.load_mnist`` finds) with every optimizer of ``descent.lab.experiment`` and
the course's ``CourseAdam``, each over several seeds, then LeNet-5 again with each
optimizer's learning rate scaled by 0.1 … 10 (one seed, fewer epochs). The model, the
epoch, the evaluation and CourseAdam are the model answers of the chapter's notebook.
Writes the curves, the settings and where they were measured to ``--out``: by default
``book/_data/lenet_lab.json`` on the CPU, which the chapter page plots, and
``book/_data/lenet_lab_cuda.json`` (``…_mps.json``) on a GPU, which the page sets beside it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from descent.answers import load
from descent.data import load_mnist
from descent.lab.experiment import (
    COURSE_ADAM,
    OPTIMIZERS,
    logistic_regression,
    mlp,
    run,
    run_meta,
    save_results,
)
from descent.lab.speed import lab_settings
from descent.lab.training import pick_device, prepare, to_device

ROOT = Path(__file__).resolve().parents[1]
SCALES = (0.1, 0.3, 1.0, 3.0, 10.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="the cache to write (default: by device, see above)")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--sweep-epochs", type=int, default=4,
                        help="epochs of the learning-rate sweep (0: no sweep)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-size", type=int, default=None,
                        help="use only this many training images (default: all)")
    parser.add_argument("--models", default="lenet5,mlp,logistic")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (one is fastest for these small models)")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast on a GPU")
    args = parser.parse_args(argv)

    lenet5, train_one_epoch, evaluate, course_adam = load(
        "09_lenet_lab", "lenet5", "train_one_epoch", "evaluate", "CourseAdam")
    builders = {"lenet5": lenet5, "mlp": mlp, "logistic": logistic_regression}
    models = [m for m in args.models.split(",") if m]
    device = pick_device(args.device)
    out = args.out or cache_path(device)
    prepare(device, 0, args.threads)
    data = load_mnist()
    tensors = list(to_device(data, device))
    if args.train_size:
        tensors[0], tensors[1] = tensors[0][:args.train_size], tensors[1][:args.train_size]
    custom = {COURSE_ADAM: (course_adam, {"lr": 1e-3})}
    settings = lab_settings(lenet5, train_one_epoch, tensors[0], tensors[1],
                            batch_size=args.batch_size, threads=args.threads)
    names = [*OPTIMIZERS, COURSE_ADAM]
    common = {"train_one_epoch": train_one_epoch, "evaluate": evaluate,
              "batch_size": args.batch_size, "custom": custom, "threads": args.threads,
              "amp": args.amp, "settings": settings, "progress": True}

    started = time.perf_counter()
    runs: dict = {}
    for model in models:
        runs[model] = {}
        for name in names:
            runs[model][name] = [run(builders[model], name, tensors, seed=seed,
                                     epochs=args.epochs, **common)
                                 for seed in range(args.seeds)]
            accuracy = [h["val_acc"][-1] for h in runs[model][name]]
            print(f"{model:8s} {name:12s} final validation accuracy "
                  f"{sum(accuracy) / len(accuracy):.4f}", flush=True)
    sweep = {}
    if args.sweep_epochs and "lenet5" in models:
        for name in OPTIMIZERS:
            sweep[name] = {}
            for scale in SCALES:
                if scale == 1.0 and args.sweep_epochs <= args.epochs:  # the main run, seed 0
                    main_run = runs["lenet5"][name][0]
                    sweep[name]["1"] = {k: v[:args.sweep_epochs] for k, v in main_run.items()}
                    continue
                sweep[name][f"{scale:g}"] = run(lenet5, name, tensors, seed=0,
                                                epochs=args.sweep_epochs, lr_scale=scale,
                                                **common)
            print(f"sweep    {name:12s} done", flush=True)

    results = {
        "meta": run_meta(device, "scripts/lenet_full.py", argv or sys.argv[1:], data, tensors,
                         args, started, amp=args.amp, settings=settings.describe()),
        "optimizers": {name: {"class": cls, **hyper} for name, (cls, hyper) in
                       OPTIMIZERS.items()} | {COURSE_ADAM: {"class": "CourseAdam", "lr": 1e-3}},
        "runs": runs,
        "sweep": {"model": "lenet5", "epochs": args.sweep_epochs, "seed": 0,
                  "scales": list(SCALES), "runs": sweep},
    }
    save_results(out, results)
    print(f"wrote {out} ({results['meta']['minutes']:.1f} min)")
    return 0


def cache_path(device) -> Path:
    """Where the comparison on ``device`` is cached for the page."""
    suffix = "" if device.type == "cpu" else f"_{device.type}"
    return ROOT / "book" / "_data" / f"lenet_lab{suffix}.json"


if __name__ == "__main__":
    sys.exit(main())

"""The optimizer comparison of the lab: which runs, their settings, and the cached results.

The experiment of the comparison blog (see chapter 05): eight ``torch.optim`` optimizers
(and the course's own Adam, a student's ``torch.optim.Optimizer``) train three models on
MNIST, each over several seeds; the figures show the mean and the spread over seeds. The
full run takes long, so ``scripts/lenet_full.py`` (``make lab-full``) stores its curves in
a small JSON file that the book reads (:func:`load_results`).
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path

import numpy as np
import torch
from torch import nn

from descent.lab import speed
from descent.lab.training import describe, fit, prepare

#: name -> (torch.optim class name, hyper-parameters): common defaults, none tuned here.
OPTIMIZERS: dict[str, tuple[str, dict]] = {
    "sgd": ("SGD", {"lr": 0.1}),
    "momentum": ("SGD", {"lr": 0.01, "momentum": 0.9}),
    "nesterov": ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    "adagrad": ("Adagrad", {"lr": 0.01}),
    "adadelta": ("Adadelta", {"lr": 1.0}),
    "rmsprop": ("RMSprop", {"lr": 1e-3}),
    "adam": ("Adam", {"lr": 1e-3}),
    "adamw": ("AdamW", {"lr": 1e-3, "weight_decay": 1e-2}),
}
#: The label of the student's own optimizer (a ``torch.optim.Optimizer`` subclass).
COURSE_ADAM = "course_adam"
#: How the figures name each model.
MODEL_TITLES = {"lenet5": "LeNet-5", "mlp": "MLP 2×500", "logistic": "logistic regression"}


def logistic_regression(inputs: int = 784, classes: int = 10) -> nn.Module:
    """Softmax regression: one linear layer on the flattened image (the loss adds softmax)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(inputs, classes))


def mlp(inputs: int = 784, hidden: int = 500, depth: int = 2, classes: int = 10) -> nn.Module:
    """The blog's multilayer perceptron: ``depth`` hidden layers of ``hidden`` ReLU units."""
    layers: list[nn.Module] = [nn.Flatten()]
    for fan_in in [inputs] + [hidden] * (depth - 1):
        layers += [nn.Linear(fan_in, hidden), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(hidden, classes))


def make_optimizer(name: str, params, lr_scale: float = 1.0, custom: Mapping | None = None,
                   settings: speed.Settings = speed.PLAIN, device: torch.device | None = None):
    """The optimizer ``name`` of :data:`OPTIMIZERS` (or of ``custom``: name -> (class, hyper)),
    its learning rate multiplied by ``lr_scale``; fused on ``device`` if ``settings`` say so."""
    if custom and name in custom:
        cls, hyper = custom[name]
    else:
        class_name, hyper = OPTIMIZERS[name]
        cls = getattr(torch.optim, class_name)
    fused = speed.optimizer_options(cls, device or torch.device("cpu"), settings)
    return cls(params, **{**hyper, "lr": hyper["lr"] * lr_scale, **fused})


def run(build: Callable, optimizer: str, tensors, train_one_epoch: Callable,
        evaluate: Callable, *, seed: int, epochs: int, batch_size: int = 64,
        lr_scale: float = 1.0, custom: Mapping | None = None, threads: int | None = None,
        amp: bool = False, settings: speed.Settings | None = None,
        progress: bool = False) -> dict[str, list[float]]:
    """One seeded run: a fresh model from ``build()``, trained by ``optimizer``; its curves.

    ``settings`` (:mod:`descent.lab.speed`) say how the loop runs; by default the fastest
    here, which :func:`descent.lab.speed.lab_settings` finds on the first run and prints
    (with ``threads`` None, the thread count too).
    """
    device = tensors[0].device
    prepare(device, seed, threads)
    if settings is None:
        settings = speed.lab_settings(build, train_one_epoch, tensors[0], tensors[1],
                                      batch_size=batch_size, threads=threads)
    settings.use_threads()
    model = speed.prepared_model(build().to(device), settings)
    opt = make_optimizer(optimizer, model.parameters(), lr_scale, custom, settings, device)
    tensors = [speed.laid_out(t, settings) for t in tensors]
    return fit(model, tensors, opt, train_one_epoch, evaluate, epochs=epochs,
               batch_size=batch_size, seed=1000 * seed, amp=amp, progress=progress,
               label=f"{optimizer} seed {seed}")


# ------------------------------------------------------------------ the cache


def environment(device: torch.device) -> dict:
    """Where a result was measured, for the page to say."""
    return {"device": describe(device), "torch": torch.__version__,
            "machine": platform.machine(), "python": platform.python_version()}


def run_meta(device: torch.device, script: str, argv: list[str], data, tensors, args,
             started: float, **extra) -> dict:
    """The ``meta`` of a cached experiment: where, when, with what command and data, and how
    long it took (``started``: its ``time.perf_counter()``)."""
    return {
        **environment(device), "date": date.today().isoformat(),
        "command": " ".join([script, *argv]),
        "data": data.note, "source": data.source,
        "train_size": len(tensors[1]), "val_size": len(tensors[3]),
        "epochs": args.epochs, "seeds": args.seeds, "batch_size": args.batch_size,
        "threads": torch.get_num_threads(), **extra,
        "minutes": (time.perf_counter() - started) / 60,
    }


def save_results(path: Path, results: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_rounded(results), indent=1) + "\n")


def load_results(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def _rounded(value):
    """Floats to 5 significant digits: the cache stays small and diffs stay readable."""
    if isinstance(value, float):
        return float(f"{value:.5g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def band(histories: list[dict], curve: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, lowest, highest) of ``curve`` over the runs (seeds), epoch by epoch."""
    values = np.array([h[curve] for h in histories], dtype=float)
    return values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def final(histories: list[dict], curve: str) -> tuple[float, float]:
    """Mean and standard deviation over seeds of ``curve``'s last value."""
    last = np.array([h[curve][-1] for h in histories], dtype=float)
    return float(last.mean()), float(last.std())

"""Training throughput of LeNet-5: the lab's loop against a plain loop, each in its own process.

The loops (:data:`LOOPS`), each step adding one technique to the one before:

* ``plain``: ``DataLoader(TensorDataset(x, y), shuffle=True)`` with its defaults, each batch
  copied to the device, ``loss.item()`` after every step, ``torch.optim.Adam`` as it comes:
  what one writes first. Its loader is seeded per epoch, so it draws exactly the batches of
  the chapter's ``train_one_epoch``;
* ``one_tensor``: the chapter's ``train_one_epoch`` on data moved to the device once, batches
  indexed there, losses summed there;
* ``fused``, ``channels_last``: the settings of :mod:`descent.lab.speed` added one by one;
* ``lab``: the lab's loop, with the settings :func:`descent.lab.speed.lab_settings` picks on
  this machine;
* ``compiled``: the lab's loop under ``torch.compile`` (optional: its first epoch compiles).

Each loop runs in a process of its own (``python -m descent.lab.throughput``), as a script of
its own would: a loop's speed depends on what ran before it in its process (the allocator's
state, caches, the thread pool). The parent interleaves them: every loop trains its warm-up epoch,
then epoch 1 of every loop runs, then epoch 2, … , so a slow spell of a shared machine touches
all loops alike; images per second come from each loop's median epoch. Every loop trains the
same model from the same seed on the same batches, so their losses agree up to rounding, which
:func:`compare` reports. Used by ``benchmarks/lenet_throughput.py`` and the chapter page.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from descent.lab import speed
from descent.lab.experiment import make_optimizer
from descent.lab.training import autocast, describe, prepare, synchronize

#: name -> (what the figures call it, its settings; None: the plain DataLoader loop).
LOOPS: dict[str, tuple[str, speed.Settings | None]] = {
    "plain": ("plain DataLoader loop", None),
    "one_tensor": ("data as one tensor, batches indexed", speed.PLAIN),
    "fused": ("+ fused optimizer", replace(speed.PLAIN, fused=True)),
    "channels_last": ("+ channels_last", replace(speed.PLAIN, fused=True,
                                                 channels_last=True)),
    "lab": ("the lab's loop", speed.Settings()),  # its layout: what lab_settings picks
    "compiled": ("the lab's loop, compiled", speed.Settings(compile=True)),
}
#: Every loop but the compiled one: torch.compile is slower for LeNet-5 on the CPUs measured.
DEFAULT_LOOPS = ("plain", "one_tensor", "fused", "channels_last", "lab")


def plain_loader(x, y, batch_size: int, seed: int) -> DataLoader:
    """A shuffling DataLoader with its defaults, seeded to draw ``train_one_epoch``'s batches.

    ``shuffle=True`` means a ``RandomSampler``, which draws ``torch.randperm(n, generator)``:
    the permutation the chapter's epoch makes from the same seed. The sampler gets the
    generator of its own: a DataLoader's ``generator=`` would first draw the loader's base
    seed from it, and the permutation would differ.
    """
    dataset = TensorDataset(x, y)
    sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler)


def plain_epoch(model, loader, optimizer, device) -> float:
    """The reference loop: one epoch over a DataLoader, as first written; its mean loss."""
    model.train()
    total, count = 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)
        count += len(labels)
    return total / count


def layer_costs(model: nn.Module, shape: tuple[int, ...] = (1, 28, 28)
                ) -> dict[str, tuple[int, int]]:
    """Per weight layer of ``model``, for one input of ``shape``: (output values, multiply-adds
    per output value) of the forward pass.

    A convolution makes (C_in/groups)·k_h·k_w multiply-adds per output value; a linear layer
    ``in_features``. Biases, activations and pooling are left out: one operation per value, a
    few thousand in all against hundreds of thousands.
    """
    costs: dict[str, tuple[int, int]] = {}

    def hook(name):
        def record(module, inputs, output):
            if isinstance(module, nn.Conv2d):
                kh, kw = module.kernel_size
                per_value = module.in_channels // module.groups * kh * kw
            else:
                per_value = module.in_features
            costs[name] = (output[0].numel(), per_value)

        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in model.named_modules()
               if isinstance(m, nn.Conv2d | nn.Linear)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, *shape))
    finally:
        for handle in handles:
            handle.remove()
    return costs


def training_multiply_adds(costs: dict[str, tuple[int, int]]) -> int:
    """Multiply-adds of one training step per image, from :func:`layer_costs`.

    Backpropagation through a weight layer costs two products of the forward's size: the
    gradient with respect to the weights, and the one with respect to the layer's input. The
    first layer's input is the image, which needs no gradient.
    """
    forward = [values * per_value for values, per_value in costs.values()]
    return 3 * sum(forward) - forward[0]


def step_times(model: nn.Sequential, x, y, optimizer, *, steps: int = 50) -> dict[str, float]:
    """Milliseconds per training step spent in each layer's forward, the backward pass and the
    optimizer's step, on one batch ``(x, y)`` (CPU: every call returns when its work is done).

    The first ten steps warm up. The layers are timed one by one, so the figures add up to a
    little more than an untimed step.
    """
    names = [f"{i} {type(layer).__name__}" for i, layer in enumerate(model)]
    spent = dict.fromkeys([*names, "backward", "optimizer step"], 0.0)
    model.train()
    for step in range(steps + 10):
        clock = time.perf_counter()
        ticks = {}
        optimizer.zero_grad()
        h = x
        for name, layer in zip(names, model, strict=True):
            h = layer(h)
            ticks[name], clock = time.perf_counter() - clock, time.perf_counter()
        F.cross_entropy(h, y).backward()
        ticks["backward"], clock = time.perf_counter() - clock, time.perf_counter()
        optimizer.step()
        ticks["optimizer step"] = time.perf_counter() - clock
        if step >= 10:
            for name, seconds in ticks.items():
                spent[name] += seconds
    return {name: 1e3 * seconds / steps for name, seconds in spent.items()}


# ------------------------------------------------------------------ the parent


def compare(loops: Sequence[str] = DEFAULT_LOOPS, *, device: str = "cpu", threads: int = 1,
            images: int | None = None, epochs: int = 5, batch_size: int = 64, seed: int = 0,
            amp: bool = False) -> list[dict]:
    """Train each loop in its own process, epochs interleaved; one row per loop.

    Each process trains a warm-up epoch (seed ``1000·seed``), then ``epochs`` timed epochs
    (seeds ``1000·seed + 1``, …), then evaluates on the validation images. A row has the
    loop's name and label, ``device`` (with the threads), its ``settings``, the ``epoch_s``
    of the timed epochs, ``images_per_s`` from their median, the mean training ``loss`` of
    every epoch, ``val_loss`` and ``val_acc``, and ``ratio``: the plain loop's median epoch
    over this loop's (when the plain loop is among ``loops``).
    """
    workers = [_Worker(loop, {"loop": loop, "device": device, "threads": threads,
                              "images": images, "batch_size": batch_size, "seed": seed,
                              "amp": amp}) for loop in loops]
    try:
        for worker in workers:
            worker.ready()
        for epoch in range(epochs + 1):  # epoch 0 warms up
            turn = epoch % len(workers)  # who goes first rotates
            for worker in workers[turn:] + workers[:turn]:
                worker.epoch(epoch)
        rows = [worker.finish() for worker in workers]
    finally:
        for worker in workers:
            worker.close()
    plain = next((r for r in rows if r["loop"] == "plain"), None)
    for row in rows:
        row["ratio"] = plain["median_epoch_s"] / row["median_epoch_s"] if plain else None
    return rows


class _Worker:
    """One loop's process: a JSON request per line on its stdin, a JSON reply per line out."""

    def __init__(self, loop: str, spec: dict):
        self.loop, self.spec = loop, spec
        self.log = tempfile.TemporaryFile("w+")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "descent.lab.throughput"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.log, text=True, env=env)
        self._send(spec)
        self.epochs: list[dict] = []

    def _send(self, message: dict) -> None:
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def _reply(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            self.log.seek(0)
            tail = self.log.read()[-2000:]
            raise RuntimeError(f"the {self.loop!r} loop's process exited (code "
                               f"{self.process.returncode}) before replying:\n{tail}")
        return json.loads(line)

    def ready(self) -> None:
        self.info = self._reply()

    def epoch(self, epoch: int) -> None:
        self._send({"epoch": epoch})
        self.epochs.append(self._reply())

    def finish(self) -> dict:
        self._send({"evaluate": True})
        evaluation = self._reply()
        timed = self.epochs[1:]
        seconds = [e["seconds"] for e in timed]
        median = statistics.median(seconds)
        return {"loop": self.loop, "label": LOOPS[self.loop][0], **self.info,
                "batch_size": self.spec["batch_size"], "seed": self.spec["seed"],
                "epoch_s": seconds, "median_epoch_s": median,
                "images_per_s": self.info["images"] / median,
                "loss": [e["loss"] for e in self.epochs], **evaluation}

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


# ------------------------------------------------------------------ one loop's process


def _serve() -> None:
    """Answer one parent (see :class:`_Worker`): the spec, then epochs, then an evaluation."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever else prints (data notices, warnings) goes to the log
    spec = json.loads(sys.stdin.readline())
    loop = _Loop(spec)

    def reply(message: dict) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    reply(loop.info)
    for line in sys.stdin:
        request = json.loads(line)
        reply(loop.epoch(request["epoch"]) if "epoch" in request else loop.validate())


class _Loop:
    """The loop a spec names, on the chapter's model answers and the lab's data."""

    def __init__(self, spec: dict):
        from descent.answers import load
        from descent.data import load_mnist

        build, self.train_one_epoch, self.evaluate_answer = load(
            "09_lenet_lab", "lenet5", "train_one_epoch", "evaluate")
        torch.set_num_threads(spec["threads"])  # after load: the setup cell sets one
        self.device = device = torch.device(spec["device"])
        self.batch_size, self.seed, self.amp = spec["batch_size"], spec["seed"], spec["amp"]
        data = load_mnist(download=False)
        x, y = data.x_train[:spec["images"]], data.y_train[:spec["images"]]
        chosen = LOOPS[spec["loop"]][1]
        prepare(device, self.seed)
        if spec["loop"] in ("lab", "compiled"):  # the lab's own choice of layout
            best = speed.lab_settings(build, self.train_one_epoch, x.to(device), y.to(device),
                                      batch_size=self.batch_size, threads=spec["threads"],
                                      say=False)
            chosen = replace(chosen, channels_last=best.channels_last)
        layout = chosen or speed.PLAIN  # the plain loop: torch's defaults
        self.model = speed.prepared_model(build().to(device), layout)
        self.optimizer = make_optimizer("adam", self.model.parameters(), settings=layout,
                                        device=device)
        if chosen is None:
            self.x, self.y = x, y  # the plain loop copies each batch itself
        else:
            self.x, self.y = speed.laid_out(x.to(device), layout), y.to(device)
        self.settings = chosen
        self.x_val = speed.laid_out(data.x_val.to(device), layout)
        self.y_val = data.y_val.to(device)
        precision = "bfloat16 autocast" if self.amp and device.type == "cuda" else "float32"
        self.info = {"device": describe(device), "images": len(y), "data": data.note,
                     "precision": precision,
                     "settings": None if chosen is None else asdict(chosen),
                     "settings_text": "" if chosen is None else chosen.describe()}

    def epoch(self, epoch: int) -> dict:
        seed = 1000 * self.seed + epoch
        synchronize(self.device)
        started = time.perf_counter()
        with autocast(self.device, self.amp):  # every loop of a row group: one precision
            if self.settings is None:
                loss = plain_epoch(self.model,
                                   plain_loader(self.x, self.y, self.batch_size, seed),
                                   self.optimizer, self.device)
            else:
                loss, _ = self.train_one_epoch(self.model, self.x, self.y, self.optimizer,
                                               batch_size=self.batch_size, seed=seed)
        synchronize(self.device)
        return {"seconds": time.perf_counter() - started, "loss": float(loss)}

    def validate(self) -> dict:
        with torch.inference_mode(), autocast(self.device, self.amp):
            loss, accuracy = self.evaluate_answer(self.model, self.x_val, self.y_val)
        return {"val_loss": float(loss), "val_acc": float(accuracy)}


if __name__ == "__main__":
    _serve()

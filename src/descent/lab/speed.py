"""How the lab trains fast without changing what it computes, and which way is fastest here.

Every setting below keeps the mathematics: the same model, the same mini-batches in the same
order, the same update rule. Each changes only how the work is laid out or scheduled, so a
run differs from the plain one by float32 rounding alone (``descent.lab.throughput`` measures
by how much):

* ``channels_last``: activations stored pixel by pixel with their channels side by side
  (N·H·W·C), the layout that oneDNN's convolutions and PyTorch's pooling kernels vectorize
  on a CPU, and that Tensor Cores read on a GPU;
* ``fused``: the optimizer updates every parameter in one kernel (``fused=True`` of
  ``torch.optim``, else ``foreach=True``), instead of a few small operations per tensor;
* ``compile``: ``torch.compile`` (on a CPU it needs a C compiler; its first epoch compiles);
* ``threads``: how many CPU threads torch's kernels use (None: leave torch's setting).

The data are always kept as one tensor on the device and indexed by batch (the chapter's
``train_one_epoch``), and :func:`descent.lab.training.fit` evaluates under
``torch.inference_mode``. :func:`choose` times the candidate settings on a few batches and
keeps the fastest; :func:`lab_settings` does it once per model and machine, and says which.
More threads than the process may use (its CPU affinity, a container's CPU quota) are
never tried: on a shared JupyterHub, threads that wait for each other's cores are slower
than one.
"""

from __future__ import annotations

import inspect
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from descent.lab.training import synchronize


@dataclass(frozen=True)
class Settings:
    """How a training loop runs (see the module's docstring); none changes the results."""

    channels_last: bool = True
    fused: bool = True
    compile: bool = False
    threads: int | None = None

    def describe(self) -> str:
        """The settings in words, e.g. "channels_last, fused optimizer, 2 threads"."""
        words = ["channels_last" if self.channels_last else "contiguous (N·C·H·W)"]
        words += ["fused optimizer"] * self.fused
        words += ["torch.compile"] * self.compile
        if self.threads:
            words.append(f"{self.threads} thread{'s' * (self.threads != 1)}")
        return ", ".join(words)

    def use_threads(self) -> None:
        """Set torch's CPU threads to the settings' count (if they name one)."""
        if self.threads:
            torch.set_num_threads(self.threads)


#: The plain settings: what a loop gets when nobody asks for more.
PLAIN = Settings(channels_last=False, fused=False)


#: A container's CPU quota (cgroup v2): "max 100000", or e.g. "200000 100000" for two CPUs.
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cores() -> int:
    """The CPUs this process may run on: its affinity, capped by its cgroup's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()
        if quota != "max":
            cores = min(cores, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return cores


def can_compile(device: torch.device) -> bool:
    """Whether torch.compile can generate code here (a C compiler for the CPU backend)."""
    return device.type != "cpu" or any(shutil.which(cc) for cc in ("cc", "gcc", "clang"))


def laid_out(tensor: torch.Tensor, settings: Settings) -> torch.Tensor:
    """``tensor`` in the settings' memory layout (images only: 4-D tensors)."""
    if settings.channels_last and tensor.dim() == 4:
        return tensor.contiguous(memory_format=torch.channels_last)
    return tensor


def prepared_model(model: torch.nn.Module, settings: Settings) -> torch.nn.Module:
    """``model`` laid out as the settings say, compiled if asked; parameters shared."""
    if settings.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return torch.compile(model) if settings.compile else model


def optimizer_options(cls: type, device: torch.device, settings: Settings) -> dict:
    """The keyword that makes ``cls`` update all its tensors at once, if it has one."""
    if not settings.fused:
        return {}
    accepts = inspect.signature(cls).parameters
    if "fused" in accepts and _fused_on(device):
        return {"fused": True}
    return {"foreach": True} if "foreach" in accepts else {}


def _fused_on(device: torch.device) -> bool:
    from torch.optim.optimizer import _get_fused_kernels_supported_devices

    return device.type in _get_fused_kernels_supported_devices()


# ------------------------------------------------------------------ the choice


def candidates(device: torch.device, *, threads: tuple[int, ...] = (),
               compile: bool = False) -> list[Settings]:
    """The settings :func:`choose` times, in the order it prefers them: for each thread count
    (fewest first; none given: torch's), both layouts, then compiled ones when asked."""
    layouts = [Settings(channels_last=True), Settings(channels_last=False)]
    if compile and can_compile(device):
        layouts += [replace(s, compile=True) for s in layouts]
    counts = sorted(set(threads)) if device.type == "cpu" and threads else [None]
    return [replace(s, threads=count) for count in counts for s in layouts]


def choose(build: Callable, train_one_epoch: Callable, x: torch.Tensor, y: torch.Tensor, *,
           batch_size: int = 64, batches: int = 6, rounds: int = 3,
           threads: tuple[int, ...] = (), compile: bool = False,
           options: list[Settings] | None = None, margin: float = 0.15
           ) -> tuple[Settings, dict[Settings, float]]:
    """The fastest of ``options`` (default :func:`candidates`) for this model on this machine.

    The first option within ``margin`` of the fastest wins: timings of a few batches vary by
    some percent from run to run, and a choice that flipped with them would make the same
    script round differently from one run to the next (and use more threads for nothing).

    Each option trains its own fresh ``build()`` with Adam on the first ``batches``
    mini-batches of ``x`` (already on the device): once to warm up (and compile), then once
    per round, the options taking turns so that a slow spell of the machine touches them
    alike. Returns the fastest and every option's images per second (its best round). The
    random numbers are left as they were, so a seeded run that follows is unchanged.
    """
    from descent.lab.experiment import make_optimizer  # (which imports this module)

    device = x.device
    options = options or candidates(device, threads=threads, compile=compile)
    n = min(len(x), batches * batch_size)
    rng, threads_before = torch.get_rng_state(), torch.get_num_threads()
    trials = []
    for settings in options:
        model = prepared_model(build().to(device), settings)
        optimizer = make_optimizer("adam", model.parameters(), settings=settings, device=device)
        trials.append((settings, model, optimizer, laid_out(x[:n], settings)))
    speeds = dict.fromkeys(options, 0.0)
    for round_ in range(rounds + 1):  # round 0 warms up
        for settings, model, optimizer, inputs in trials:
            settings.use_threads()
            synchronize(device)
            started = time.perf_counter()
            train_one_epoch(model, inputs, y[:n], optimizer, batch_size=batch_size,
                            seed=round_)
            synchronize(device)
            if round_:
                speeds[settings] = max(speeds[settings], n / (time.perf_counter() - started))
    torch.set_rng_state(rng)
    torch.set_num_threads(threads_before)
    fastest = max(speeds.values())
    return next(s for s in options if speeds[s] * (1 + margin) >= fastest), speeds


_CHOSEN: dict[tuple, Settings] = {}


def lab_settings(build: Callable, train_one_epoch: Callable, x: torch.Tensor,
                 y: torch.Tensor, *, batch_size: int = 64, threads: int | None = None,
                 say: bool = True) -> Settings:
    """The lab's settings for ``build``'s model on ``x``'s device, in use: :func:`choose`'s
    pick, made once per model, device, thread count and batch size in a process, and said
    when made. On a CPU, ``threads`` fixes the count; None tries 1 and every available core.
    """
    device = x.device
    counts = (threads,) if threads else (1, available_cores())
    key = (build, device.type, counts, batch_size)
    if key not in _CHOSEN:
        best, speeds = choose(build, train_one_epoch, x, y, batch_size=batch_size,
                              threads=counts)
        _CHOSEN[key] = best
        if say:
            timings = "; ".join(f"{v:,.0f} with {s.describe()}" for s, v in speeds.items())
            print(f"The lab trains on {device.type} with {best.describe()}. Images per second "
                  f"on a few batches here: {timings}.")
    _CHOSEN[key].use_threads()
    return _CHOSEN[key]

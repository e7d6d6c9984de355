"""Figures of LeNet-5 runs for chapters 06, 07 and 08: schedules, weight averages and batch
normalization on MNIST, drawn from the cache of ``scripts/lenet_extras.py``
(``book/_data/lenet_extras.json``, read with :func:`descent.lab.experiment.load_results`).

Every curve is the mean over the cached seeds, with a band from the lowest to the highest
seed; a run that diverged has no value (None in the cache) from that epoch on.
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

from descent.lab.experiment import band
from descent.plots import figure, major_ticks_only

#: How the figures name and colour each variant.
STYLES = {
    "constant": ("constant η", "#7f7f7f"),
    "step": ("step decay", "#1f77b4"),
    "cosine": ("cosine", "#d62728"),
    "raw": ("last iterate", "#7f7f7f"),
    "ema": ("EMA", "#ff7f0e"),
    "swa": ("SWA", "#2ca02c"),
    "plain": ("plain", "#7f7f7f"),
    "batchnorm": ("batch norm", "#9467bd"),
}


def _log_axis(ax) -> None:
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    major_ticks_only(ax)


def _epochs_axis(*axes) -> None:
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")


def _draw(ax, epochs, histories: list[dict], curve: str, key: str, label: str | None = None,
          **style) -> None:
    """Mean of ``curve`` over the seeds, with its lowest-to-highest band."""
    mean, low, high = band(histories, curve)
    name, colour = STYLES[key]
    ax.fill_between(epochs, low, high, color=colour, alpha=0.2, lw=0)
    ax.plot(epochs, mean, marker="o", ms=3, color=colour, label=label or name, **style)


def _setting(results: dict) -> str:
    s = results["settings"]
    seeds = results["meta"]["seeds"]
    return (f"LeNet-5, SGD, μ = {s['momentum']:g}, batch {results['meta']['batch_size']}, "
            f"{seeds} seed{'s' * (seeds != 1)}")


def batchnorm_runs(results: dict) -> dict[str, dict[str, list[dict]]]:
    """{"plain" | "batchnorm": {"base" | "high": runs}}; the plain network at η₀ is the
    constant schedule's run, stored once in the cache."""
    runs = {kind: dict(by_lr) for kind, by_lr in results["batchnorm"].items()}
    runs["plain"].setdefault("base", results["schedules"]["constant"])
    return runs


def final_accuracies(results: dict) -> dict[str, tuple[float, float, float]]:
    """Final validation accuracy of every variant: (mean, lowest, highest) over the seeds
    (NaN where a seed diverged). Keys: the schedules, "ema", "swa", and "plain@base",
    "plain@high", "batchnorm@base", "batchnorm@high"."""
    def summary(histories, curve="val_acc"):
        last = np.array([h[curve][-1] for h in histories], dtype=float)
        return float(last.mean()), float(last.min()), float(last.max())

    schedules = results["schedules"]
    table = {name: summary(runs) for name, runs in schedules.items()}
    table["ema"] = summary(schedules["constant"], "ema_val_acc")
    table["swa"] = summary(schedules["constant"], "swa_val_acc")
    for kind, by_lr in batchnorm_runs(results).items():
        for which, runs in by_lr.items():
            table[f"{kind}@{which}"] = summary(runs)
    return table


def schedule_figure(results: dict):
    """The three schedules from the same η₀: η_t (left), training loss (middle, log scale)
    and validation loss (right, log scale) per epoch; the legend gives the final validation
    accuracy."""
    fig, (rate, train, val) = figure(3, figsize=(8.4, 3.0))
    final = final_accuracies(results)
    for name, runs in results["schedules"].items():
        label, colour = STYLES[name]
        schedule = results["lr_schedules"][name]
        rate.plot(schedule["epoch"], schedule["lr"], color=colour, label=label)
        epochs = np.arange(1, len(runs[0]["val_loss"]) + 1)
        _draw(train, epochs, runs, "train_loss", name)
        _draw(val, epochs, runs, "val_loss", name, label=f"{label}: {final[name][0]:.4f}")
    rate.set(ylabel="learning rate η", ylim=(0, None), title=f"η₀ = {results['settings']['lr']:g}")
    train.set(ylabel="training loss", title=_setting(results))
    val.set(ylabel="validation loss")
    train.title.set_fontsize(8)
    _log_axis(train)
    _log_axis(val)
    _epochs_axis(rate, train, val)
    rate.legend(fontsize=8)
    val.legend(fontsize=8, title="final validation accuracy", title_fontsize=8)
    return fig


def averaging_figure(results: dict):
    """Along the constant-η run: validation loss (left, log scale) and accuracy (right) per
    epoch of the last iterate, of the EMA of the weights and of SWA."""
    settings = results["settings"]
    runs = results["schedules"]["constant"]
    final = final_accuracies(results)
    fig, (loss, accuracy) = figure(2, figsize=(7.6, 3.1))
    epochs = np.arange(1, len(runs[0]["val_loss"]) + 1)
    swa_epochs = np.array(runs[0]["swa_epochs"])
    labels = {"raw": "last iterate", "ema": f"EMA, ρ = {settings['ema_decay']:g}",
              "swa": f"SWA from epoch {settings['swa_start']}"}
    for key, prefix, x in (("raw", "", epochs), ("ema", "ema_", epochs),
                           ("swa", "swa_", swa_epochs)):
        _draw(loss, x, runs, f"{prefix}val_loss", key, label=labels[key])
        _draw(accuracy, x, runs, f"{prefix}val_acc", key,
              label=f"{labels[key]}: {final['constant' if key == 'raw' else key][0]:.4f}")
    loss.set(ylabel="validation loss",
             title=f"constant η = {settings['lr']:g}, μ = {settings['momentum']:g}")
    accuracy.set(ylabel="validation accuracy", title="zoomed in")
    skip = 1 if len(epochs) > 1 else 0  # the zoom leaves out the first epoch's lag
    low = min(np.nanmin(band(runs, curve)[0][skip:]) for curve in ("val_acc", "ema_val_acc"))
    accuracy.set_ylim(max(0.0, low - 0.01), 1.0)
    _log_axis(loss)
    _epochs_axis(loss, accuracy)
    loss.legend(fontsize=8)
    accuracy.legend(fontsize=8, loc="lower right", title="final validation accuracy",
                    title_fontsize=8)
    return fig


def batchnorm_figure(results: dict, curve: str = "val_loss"):
    """LeNet-5 with and without batch normalization, at η₀ (left) and at the higher η
    (right): ``curve`` per epoch (a loss on a log scale); a cross at the top marks the
    epochs where a seed's loss was not finite (diverged)."""
    runs = batchnorm_runs(results)
    lrs = results["settings"]["lrs"]
    final = final_accuracies(results)
    fig, axes = figure(2, figsize=(7.6, 3.1))
    axes[1].sharey(axes[0])
    for ax, which in zip(axes, ("base", "high"), strict=True):
        for kind in ("plain", "batchnorm"):
            histories = runs[kind][which]
            epochs = np.arange(1, len(histories[0][curve]) + 1)
            accuracy = final[f"{kind}@{which}"][0]
            shown = "diverged" if np.isnan(accuracy) else f"{accuracy:.4f}"
            _draw(ax, epochs, histories, curve, kind, label=f"{STYLES[kind][0]}: {shown}")
            broken = [e for e, *values in zip(epochs, *(h[curve] for h in histories),
                                              strict=True) if None in values]
            if broken:
                ax.plot(broken, [1.0] * len(broken), "x", color=STYLES[kind][1],
                        transform=ax.get_xaxis_transform(), clip_on=False)
        ax.set_title(f"η = {lrs[which]:g}" + (" (η₀)" if which == "base" else
                                              f" ({lrs['high'] / lrs['base']:g} η₀)"))
        ax.legend(fontsize=8, title="final validation accuracy", title_fontsize=8)
    axes[0].set_ylabel(curve.replace("_", " ").replace("val", "validation"))
    _log_axis(axes[0])
    _log_axis(axes[1])
    _epochs_axis(*axes)
    fig.suptitle(_setting(results), fontsize=9)
    return fig

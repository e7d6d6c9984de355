"""Figures of chapter 09: MNIST samples, training curves, the optimizer comparison (mean and
spread over seeds), the learning-rate sweep and the CPU/GPU throughput.

The curves come from :func:`descent.lab.training.fit` (a live run on the page) or from the
cache of the full experiment (:func:`descent.lab.experiment.load_results`); this module
only draws.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

from descent.lab.experiment import COURSE_ADAM, MODEL_TITLES, band, final
from descent.plots import PALETTE, figure, major_ticks_only

#: How the figures name each optimizer.
LABELS = {"sgd": "SGD", "momentum": "momentum", "nesterov": "Nesterov", "adagrad": "Adagrad",
          "adadelta": "Adadelta", "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW",
          COURSE_ADAM: "CourseAdam (yours)"}


def color(name: str) -> str:
    return PALETTE.get(name, "#000000")


def _style(name: str) -> dict:
    """The course's own Adam is drawn dashed in black, over torch's Adam."""
    return {"color": color(name), "ls": "--" if name == COURSE_ADAM else "-"}


def _axes(loss_ax, *epoch_axes) -> None:
    """Loss on a log scale labelled 0.05, 0.1, 0.2, 0.5, …; whole epochs on the x axes."""
    loss_ax.set_yscale("log")
    loss_ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    loss_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    major_ticks_only(loss_ax)
    for ax in (loss_ax, *epoch_axes):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def samples_figure(images, labels, count: int = 16):
    """The first ``count`` images with their labels: what the networks see."""
    fig, axes = figure(count, figsize=(7.0, 0.9))
    for ax, image, label in zip(axes, images[:count], labels[:count], strict=False):
        ax.imshow(np.asarray(image).reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(str(int(label)), fontsize=9)
        ax.set_axis_off()
    return fig


def curves_figure(histories: Mapping[str, dict], title: str = ""):
    """Per-epoch training loss (left, log scale) and validation accuracy (right) of runs."""
    fig, (left, right) = figure(2, figsize=(7.6, 3.1))
    for name, history in histories.items():
        epochs = np.arange(1, len(history["train_loss"]) + 1)
        left.plot(epochs, history["train_loss"], marker="o", ms=3, label=LABELS.get(name, name),
                  **_style(name))
        right.plot(epochs, history["val_acc"], marker="o", ms=3, **_style(name))
    left.set(xlabel="epoch", ylabel="training loss")
    right.set(xlabel="epoch", ylabel="validation accuracy")
    _axes(left, right)
    left.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def comparison_figure(results: dict, model: str = "lenet5", optimizer: str = "adam"):
    """Every optimizer on ``model`` in grey, ``optimizer`` in colour with its spread over seeds:
    mean training loss (left, log scale) and validation accuracy (right) per epoch; the band
    runs from the lowest to the highest seed."""
    runs = results["runs"][model]
    fig, (left, right) = figure(2, figsize=(7.6, 3.2))
    for name, histories in runs.items():
        chosen = name == optimizer
        for ax, curve in ((left, "train_loss"), (right, "val_acc")):
            mean, low, high = band(histories, curve)
            epochs = np.arange(1, len(mean) + 1)
            if chosen:
                ax.fill_between(epochs, low, high, color=color(name), alpha=0.25, lw=0)
                ax.plot(epochs, mean, lw=2, zorder=5, label=LABELS[name], **_style(name))
            else:
                ax.plot(epochs, mean, lw=0.9, color="#c8c8c8", zorder=1)
    accuracy, spread = final(runs[optimizer], "val_acc")
    left.set(xlabel="epoch", ylabel="training loss")
    _axes(left, right)
    right.set(xlabel="epoch", ylabel="validation accuracy",
              title=f"final {accuracy:.4f} ± {spread:.4f}")
    right.set_ylim(max(0.0, min(band(h, "val_acc")[0].min() for h in runs.values()) - 0.02),
                   1.0)
    left.legend(fontsize=8, loc="upper right")
    seeds = len(runs[optimizer])
    left.set_title(f"{MODEL_TITLES[model]}, {seeds} seed{'s' * (seeds != 1)}")
    return fig


def sweep_figure(results: dict, scale: float = 1.0):
    """LeNet-5 with every learning rate multiplied by ``scale``: validation accuracy per epoch
    (left) and, for every scale, after the last epoch (right; the dotted line marks ``scale``)."""
    sweep = results["sweep"]
    fig, (left, right) = figure(2, figsize=(7.6, 3.2))
    scales = sweep["scales"]
    for name, by_scale in sweep["runs"].items():
        history = by_scale[f"{scale:g}"]
        epochs = np.arange(1, len(history["val_acc"]) + 1)
        left.plot(epochs, history["val_acc"], marker="o", ms=3, label=LABELS[name],
                  **_style(name))
        right.plot(scales, [by_scale[f"{s:g}"]["val_acc"][-1] for s in scales], marker="o",
                   ms=3, **_style(name))
    right.axvline(scale, color="black", ls=":", lw=1)
    left.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0.0, 1.0),
             title=f"learning rates × {scale:g}")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set(xscale="log", xlabel="learning rate ÷ its default",
              ylabel=f"accuracy after {sweep['epochs']} epochs", ylim=(0.0, 1.0))
    left.legend(fontsize=7, ncol=2, loc="lower right")
    major_ticks_only(right)
    return fig


def throughput_figure(rows: list[dict]):
    """Images per second of each loop of ``descent.lab.throughput``, one panel per device
    (threads, batch size), each bar labelled with its ratio to the plain loop."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        key = (row["device"], row["batch_size"], row["precision"])
        groups.setdefault(key, []).append(row)
    longest = max(len(g) for g in groups.values())
    fig, axes = figure(nrows=len(groups), figsize=(7.0, len(groups) * (0.6 + 0.32 * longest)))
    axes = np.atleast_1d(axes)
    top = max(r["images_per_s"] for r in rows)
    for ax, ((device, batch, precision), group) in zip(axes, groups.items(), strict=True):
        y = np.arange(len(group))[::-1]
        speeds = [r["images_per_s"] for r in group]
        colors = [color("sgd") if r["loop"] == "plain" else
                  color("adam") if r["loop"] == "lab" else "#9aa5b1" for r in group]
        ax.barh(y, speeds, height=0.7, color=colors)
        for yi, r in zip(y, group, strict=True):
            ratio = f"  ×{r['ratio']:.2f}" if r["ratio"] else ""
            ax.text(r["images_per_s"], yi, f" {r['images_per_s']:,.0f}{ratio}", va="center",
                    fontsize=8)
        ax.set_yticks(y, [r["label"] for r in group], fontsize=8)
        ax.set_title(f"{device}, batch {batch}, {precision}", fontsize=9, loc="left")
        ax.set_xlim(0, top * 1.35)  # room for the labels
        major_ticks_only(ax)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    axes[-1].set_xlabel("training images per second (median epoch)")
    return fig


def throughput_table(rows: list[dict]) -> str:
    """The rows as a Markdown table: loop, images/s, s/epoch, ratio, final training loss and
    validation accuracy."""
    lines = ["| device | loop | images/s | s/epoch | × plain | final loss | val. accuracy |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] else ""
        speed = f"{r['images_per_s']:,.0f}".replace(",", "\u2009")  # the book's thin spaces
        where = f"{r['device']}, batch {r['batch_size']}, {r['precision']}"
        lines.append(f"| {where} | {r['label']} | {speed} | "
                     f"{r['median_epoch_s']:.2f} | {ratio} | {r['loss'][-1]:.4f} | "
                     f"{100 * r['val_acc']:.2f} % |")
    return "\n".join(lines)


def summary_table(results: dict, curve: str = "val_acc") -> str:
    """Markdown table: the final ``curve`` per model and optimizer, mean ± std over seeds;
    the best mean of each model in bold."""
    models = list(results["runs"])
    names = list(results["runs"][models[0]])
    header = "| optimizer | " + " | ".join(MODEL_TITLES[m] for m in models) + " |"
    lines = [header, "|---" * (len(models) + 1) + "|"]
    best = {m: max(final(h, curve)[0] for h in results["runs"][m].values()) for m in models}
    for name in names:
        cells = []
        for m in models:
            mean, std = final(results["runs"][m][name], curve)
            text = f"{mean:.4f} ± {std:.4f}"
            cells.append(f"**{text}**" if mean == best[m] else text)
        lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

"""LeNet-5 training throughput: the lab's loop against a plain DataLoader loop, in one run.

    .venv/bin/python benchmarks/lenet_throughput.py [--threads 1,2] [--epochs 5]
        [--loops plain,one_tensor,fused,channels_last,lab] [--compile]
        [--device cpu,cuda] [--batch-size 64,1024] [--amp]
        [--json book/_data/lenet_throughput.json]

On the same training images (what ``descent.data.load_mnist`` finds), with the same model
(the chapter's LeNet-5), optimizer (Adam, lr 10⁻³), batch size, seed and batches: each loop of
``descent.lab.throughput`` in a process of its own, their epochs interleaved (one warm-up
epoch each, then ``--epochs`` timed ones), on each CPU thread count and each device present.
Prints images/s and seconds per epoch of every loop and its ratio to the plain loop, how far
its losses are from the plain loop's, and the ratio of the lab's loop at every thread count in
one line. ``--json`` also saves the rows (the chapter page shows that file).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import date
from pathlib import Path

import torch

from descent.lab.throughput import DEFAULT_LOOPS, LOOPS, compare
from descent.lab.training import devices


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2", help="CPU thread counts, e.g. 1,2")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per loop")
    parser.add_argument("--images", type=int, default=None, help="training images (all)")
    parser.add_argument("--loops", default=",".join(DEFAULT_LOOPS),
                        help=f"which loops, in order (of {', '.join(LOOPS)})")
    parser.add_argument("--compile", action="store_true",
                        help="also the lab's loop under torch.compile")
    parser.add_argument("--device", default=None, help="cpu, cuda, … (default: all present)")
    parser.add_argument("--batch-size", default="64", help="batch sizes, e.g. 64,1024")
    parser.add_argument("--amp", action="store_true",
                        help="on a GPU, also every loop under bfloat16 autocast")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)

    loops = [name for name in args.loops.split(",") if name]
    unknown = [name for name in loops if name not in LOOPS]
    if unknown:
        parser.error(f"unknown loop(s) {', '.join(unknown)}: choose from {', '.join(LOOPS)}")
    loops += ["compiled"] * (args.compile and "compiled" not in loops)
    names = args.device.split(",") if args.device else [d.type for d in devices()]
    threads = [int(t) for t in args.threads.split(",")]
    batch_sizes = [int(b) for b in args.batch_size.split(",")]

    rows = []
    for device in names:
        # Thread counts matter on the CPU; on a GPU they only feed the plain loop's loader.
        for count in threads if device == "cpu" else threads[:1]:
            for batch_size in batch_sizes:
                for amp in [False, True] if args.amp and device != "cpu" else [False]:
                    group = compare(loops, device=device, threads=count, images=args.images,
                                    epochs=args.epochs, batch_size=batch_size, amp=amp)
                    _print(group)
                    rows += group
    lab = [r for r in rows if r["loop"] == "lab" and r["ratio"]]
    if lab:
        print("the lab's loop over the plain loop: " + ", ".join(
            f"×{r['ratio']:.2f} on {r['device']}, batch {r['batch_size']}, {r['precision']}"
            for r in lab))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        meta = {"date": date.today().isoformat(), "torch": torch.__version__,
                "processor": processor(), "data": rows[0]["data"],
                "command": " ".join(["benchmarks/lenet_throughput.py", *(argv or sys.argv[1:])]),
                "epochs": args.epochs}
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    return 0


def _print(rows: list[dict]) -> None:
    first = rows[0]
    print(f"\nLeNet-5, Adam, batch {first['batch_size']}, {first['images']} images, "
          f"{first['device']}, {first['precision']}: {first['data']}")
    print(f"{'loop':38s} {'images/s':>9s} {'s/epoch':>8s} {'× plain':>8s} "
          f"{'Δ loss':>8s} {'val acc':>8s}  settings")
    plain = next((r for r in rows if r["loop"] == "plain"), None)
    for r in rows:
        drift = (max(abs(a - b) / b for a, b in zip(r["loss"], plain["loss"], strict=True))
                 if plain else float("nan"))
        ratio = f"{r['ratio']:8.2f}" if r["ratio"] else f"{'':8s}"
        print(f"{r['label']:38s} {r['images_per_s']:9.0f} {r['median_epoch_s']:8.3f} "
              f"{ratio} {drift:8.1e} {r['val_acc']:8.4f}  {r['settings_text']}")
    print("(Δ loss: the largest relative gap between this loop's and the plain loop's mean "
          "training loss over the epochs; same seed, same batches)")


def processor() -> str:
    """The CPU's model name, where the system says it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.exit(main())

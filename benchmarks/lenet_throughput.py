"""LeNet-5 training throughput: the lab's loop against a plain reference loop, per device.

    .venv/bin/python benchmarks/lenet_throughput.py [--epochs 2] [--batch-size 64] [--amp]
                                                    [--json book/_data/lenet_throughput.json]

On the same training images (what ``descent.data.load_mnist`` finds), in the same run, on
every device present (CPU, then CUDA and Apple's MPS when available), with the same model
(the chapter's LeNet-5), optimizer (Adam) and batch size: the lab's loop (data moved once,
the chapter's ``train_one_epoch``, ``cudnn.benchmark``, bfloat16 autocast with ``--amp``)
and a plain ``DataLoader`` loop (see ``descent.lab.throughput``). One warm-up epoch, then
``--epochs`` timed epochs between device synchronizations. Prints images/s and seconds per
epoch of both and their ratio; ``--json`` also saves them (the chapter page shows that file).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from descent.answers import load
from descent.data import load_mnist
from descent.lab.throughput import measure
from descent.lab.training import devices


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per loop")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--images", type=int, default=None, help="training images (all)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast on a GPU")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    lenet5, train_one_epoch = load("09_lenet_lab", "lenet5", "train_one_epoch")
    torch.set_num_threads(args.threads)  # after load: the notebook's setup cell sets one
    data = load_mnist(download=False)
    x, y = data.x_train[:args.images], data.y_train[:args.images]
    rows = [measure(device, x, y, lenet5, train_one_epoch, epochs=args.epochs,
                    batch_size=args.batch_size, amp=args.amp) for device in devices()]
    print(f"LeNet-5, Adam, batch {args.batch_size}, {len(y)} images ({data.source}), "
          f"torch {torch.__version__}")
    print(f"{'device':28s} {'ours img/s':>11s} {'s/epoch':>8s} {'plain img/s':>12s} "
          f"{'s/epoch':>8s} {'ratio':>6s}")
    for r in rows:
        print(f"{r['device']:28s} {r['ours_images_per_s']:11.0f} {r['ours_epoch_s']:8.2f} "
              f"{r['plain_images_per_s']:12.0f} {r['plain_epoch_s']:8.2f} {r['ratio']:6.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"data": data.note, "torch": torch.__version__,
                                         "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

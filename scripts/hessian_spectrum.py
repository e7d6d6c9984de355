"""The Hessian spectrum of a small MLP on real MNIST images, cached for chapter 04.

    .venv/bin/python scripts/hessian_spectrum.py [--images 1000] [--steps 120]

A 784-32-10 ReLU perceptron (25 450 parameters, Kaiming-normal weights, zero biases) and
the mean cross-entropy on the first ``--images`` images of the official MNIST test files
(the only MNIST files the course ships: ``../shared/data/mnist``). The spectrum of the
loss's Hessian is estimated by Lanczos on Hessian–vector products
(:mod:`descent.hessian`), at initialization and after a little training (plain SGD on the
same images), and written to ``book/_data/hessian_spectrum.json``, which the page plots.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from descent.data import find_idx, read_idx
from descent.hessian import flat_hvp, lanczos

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"


def load_images(folder: Path, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    images = read_idx(find_idx(folder, "t10k-images-idx3-ubyte"))[:count]
    labels = read_idx(find_idx(folder, "t10k-labels-idx1-ubyte"))[:count]
    x = torch.from_numpy(images.reshape(count, -1).astype(np.float64) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


def spectrum(params, loss_fn, steps: int, seed: int) -> dict:
    dim = sum(p.numel() for p in params)
    ritz, weights = lanczos(flat_hvp(loss_fn, params), dim, steps, seed=seed)
    positive = ritz[ritz > 0]
    return {
        "ritz": ritz.tolist(), "weights": weights.tolist(),
        "lambda_max": float(ritz[-1]), "lambda_min": float(ritz[0]),
        "negative_ritz_values": int((ritz < 0).sum()),
        "negative_weight": float(weights[ritz < 0].sum()),
        "top_ten": ritz[-10:][::-1].tolist(),
        "smallest_positive_ritz": float(positive.min()),
        "kappa_top_over_smallest_positive": float(ritz[-1] / positive.min()),
        "weight_below_1e-2_of_max": float(weights[np.abs(ritz) < 1e-2 * ritz[-1]].sum()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path,
                        default=ROOT / "book" / "_data" / "hessian_spectrum.json")
    parser.add_argument("--data", type=Path, default=MNIST)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--steps", type=int, default=120, help="Lanczos iterations")
    parser.add_argument("--epochs", type=int, default=20, help="SGD epochs of 'a little training'")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()

    x, y = load_images(args.data, args.images)
    gen = torch.Generator().manual_seed(0)
    w1 = (torch.randn(args.hidden, 784, generator=gen, dtype=torch.float64)
          * (2 / 784) ** 0.5).requires_grad_()
    b1 = torch.zeros(args.hidden, dtype=torch.float64, requires_grad=True)
    w2 = (torch.randn(10, args.hidden, generator=gen, dtype=torch.float64)
          * (2 / args.hidden) ** 0.5).requires_grad_()
    b2 = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    params = [w1, b1, w2, b2]

    def logits(xb):
        return torch.relu(xb @ w1.T + b1) @ w2.T + b2

    def loss_fn():
        return torch.nn.functional.cross_entropy(logits(x), y)

    def summary():
        with torch.no_grad():
            out = logits(x)
            return {"loss": float(torch.nn.functional.cross_entropy(out, y)),
                    "accuracy": float((out.argmax(1) == y).double().mean())}

    result = {"images": args.images, "hidden": args.hidden,
              "parameters": sum(p.numel() for p in params), "lanczos_steps": args.steps,
              "data": "the first images of the official MNIST test set (t10k), 28×28, /255",
              "states": {}}
    result["states"]["initialization"] = {**summary(), **spectrum(params, loss_fn, args.steps, 1)}

    optimizer = torch.optim.SGD(params, lr=args.lr)
    order_gen = torch.Generator().manual_seed(1)
    updates = 0
    for _ in range(args.epochs):
        for batch in torch.randperm(args.images, generator=order_gen).split(args.batch_size):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(logits(x[batch]), y[batch]).backward()
            optimizer.step()
            updates += 1
    trained = {**summary(), **spectrum(params, loss_fn, args.steps, 1)}
    trained["training"] = (f"plain SGD, learning rate {args.lr:g}, batches of "
                           f"{args.batch_size}, {args.epochs} epochs ({updates} updates)")
    result["states"]["trained"] = trained
    result["seconds"] = round(time.perf_counter() - start, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for name, state in result["states"].items():
        print(name, {k: v for k, v in state.items() if k not in ("ritz", "weights")})
    print(f"{result['seconds']} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

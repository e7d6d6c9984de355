"""Checks for chapter 09, the LeNet-5 lab: the model, one training epoch, the evaluation,
and Adam as a ``torch.optim.Optimizer``.

A student's model or optimizer cannot reach the grader (only plain data crosses the
sandbox), so each check takes a *probe* made by the notebook's setup cell
(:mod:`descent.lab.probes`): it builds the student's object next to their code from the
check's plain inputs and hands back plain data. Every number is then compared with an
oracle in float64:

* ``lenet5``: the shapes and layer types of its parameters (61 706 in all), and its output
  and gradients next to the same network written with ``torch.nn.functional`` and autograd,
  from the student's own initial weights; and that it trains (float32, Adam, a seeded
  subset of MNIST or its fallback) to a stated validation accuracy;
* ``train_one_epoch``: the network's parameters and buffers after the epoch, the mean loss
  and the accuracy it returns, next to ``torch.optim.SGD`` driven over the same seeded
  mini-batches of a small network with batch normalization;
* ``evaluate``: the mean loss and accuracy next to the network in evaluation mode under
  ``torch.no_grad()``, and the probe's record of every forward pass (grad mode, mode,
  batch size);
* ``CourseAdam``: the parameters and the state after every one of ≥ 20 steps next to
  ``torch.optim.Adam`` fed the same gradients (several parameters, parameter groups,
  parameters without a gradient), and its defaults.

When a check fails it recomputes the failing quantity with a few classic mistakes and
names the one the student's result matches.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F

from descent.checks._compare import as_float_array, assert_close
from descent.checks._oracle import float64_tensor
from descent.checks._trajectory import _diagnose, _matches, _torch_run
from descent.lab.probes import load_state, plain_state, probe_net

#: (shape, layer type) of LeNet-5's parameters, in order, for a 28×28 input padded by 2.
LENET5_PARAMETERS = (
    ((6, 1, 5, 5), "Conv2d"), ((6,), "Conv2d"),
    ((16, 6, 5, 5), "Conv2d"), ((16,), "Conv2d"),
    ((120, 400), "Linear"), ((120,), "Linear"),
    ((84, 120), "Linear"), ((84,), "Linear"),
    ((10, 84), "Linear"), ((10,), "Linear"),
)
LENET5_COUNT = sum(math.prod(shape) for shape, _ in LENET5_PARAMETERS)  # 61 706
#: Validation accuracy LeNet-5 must reach in check_lenet5_trains (correct models: 0.8-0.9).
TRAINED_ACCURACY = 0.7


def _fail(message: str) -> None:
    raise AssertionError(message)


def _as_dict(value, name: str) -> dict:
    if not isinstance(value, dict):
        _fail(f"{name}: the probe returned a {type(value).__name__}; was the setup cell run "
              "unchanged?")
    return value


def _diagnose_steps(got, hints: Iterable[tuple[str, Callable]], default: str) -> str:
    """The hint of the first (hint, make) whose ``make()`` gives ``got``: a known mistake,
    computed only until one matches (a hint may come several times, with other makes)."""
    with np.errstate(all="ignore"):
        for hint, make in hints:
            if _matches(got, make()):
                return hint
    return default


# ---------------------------------------------------------------- LeNet-5


def lenet5_forward(params, x, *, act=torch.relu, pool=F.max_pool2d, hidden_act=True,
                   last=None) -> torch.Tensor:
    """LeNet-5 written with torch.nn.functional, from its ten parameter tensors.

    The keyword arguments build the classic mistakes the hints name: another activation or
    pooling, no activation between the fully connected layers, something after the logits.
    """
    w1, b1, w2, b2, w3, b3, w4, b4, w5, b5 = params
    h = pool(act(F.conv2d(x, w1, b1, padding=2)), 2)
    h = pool(act(F.conv2d(h, w2, b2)), 2).flatten(1)
    fc = act if hidden_act else (lambda z: z)
    h = fc(F.linear(fc(F.linear(h, w3, b3)), w4, b4))
    out = F.linear(h, w5, b5)
    return out if last is None else last(out)


def _forward_hints(params, x) -> dict[str, Callable]:
    return {
        "average pooling where LeNet-5 here uses max pooling (nn.MaxPool2d(2))":
            lambda: lenet5_forward(params, x, pool=F.avg_pool2d),
        "tanh where this chapter uses ReLU": lambda: lenet5_forward(params, x, act=torch.tanh),
        "sigmoid where this chapter uses ReLU":
            lambda: lenet5_forward(params, x, act=torch.sigmoid),
        "no ReLU between the fully connected layers":
            lambda: lenet5_forward(params, x, hidden_act=False),
        "a ReLU after the last layer: return the raw scores (logits); the loss applies the "
        "softmax": lambda: lenet5_forward(params, x, last=torch.relu),
        "a softmax at the end: return the logits, F.cross_entropy applies the softmax itself":
            lambda: lenet5_forward(params, x, last=lambda z: torch.softmax(z, dim=1)),
    }


def _check_structure(result: dict) -> list[np.ndarray]:
    names = list(result.get("names", []))
    params = [as_float_array(p, "lenet5", f"parameter {n}") for n, p in
              zip(names, result.get("params", []), strict=False)]
    owners = list(result.get("owners", []))
    got = [(tuple(p.shape), kind) for p, kind in zip(params, owners, strict=False)]
    if got != list(LENET5_PARAMETERS):
        count = sum(p.size for p in params)
        hint = ""
        if any(shape == (120, 256) for shape, _ in got):
            hint = (" — the first fully connected layer sees 16·4·4 = 256 features: the "
                    "first convolution needs padding=2 so that 28×28 stays 28×28")
        elif not params:
            hint = " — it has no parameters: are the layers attributes of an nn.Module?"
        listing = ", ".join(f"{shape} in {kind}" for shape, kind in got)
        wanted = ", ".join(f"{shape} in {kind}" for shape, kind in LENET5_PARAMETERS)
        _fail(f"lenet5: {count} parameters: {listing or 'none'}; LeNet-5 has {LENET5_COUNT}: "
              f"{wanted}{hint}")
    return params


def check_lenet5(probe: Callable, seed: int = 0, batch: int = 4, scale: float = 1.0) -> None:
    """The model's parameters, layer types, output and gradients, from its own weights."""
    rng = np.random.default_rng(seed)
    x = scale * rng.uniform(0.0, 1.0, size=(batch, 1, 28, 28))
    labels = rng.integers(0, 10, size=batch)
    result = _as_dict(probe(x, labels, seed), "lenet5")
    params = _check_structure(result)
    weights = [float64_tensor(p, grad=True) for p in params]
    x_t = float64_tensor(x)
    expected = lenet5_forward(weights, x_t)
    if result.get("forward_error"):
        _fail(f"lenet5: the model fails on a batch of shape {x.shape} in float64: "
              f"{result['forward_error']}")
    got = as_float_array(result.get("output"), "lenet5", "output")
    if got.shape != (batch, 10):
        _fail(f"lenet5: a batch of shape {x.shape} gave an output of shape {got.shape}, "
              f"expected ({batch}, 10): one score per class")
    try:
        assert_close("lenet5", got, expected.detach().numpy(), what="output")
    except AssertionError as error:
        with torch.no_grad():
            hint = _diagnose_steps(got, _forward_hints(weights, x_t).items(),
                                   "compare your layers, in order, with the table of the task: "
                                   "conv(5×5, padding 2) → ReLU → max-pool 2 → conv(5×5) → "
                                   "ReLU → max-pool 2 → flatten → 120 → 84 → 10")
        raise AssertionError(f"{error} — {hint}") from None
    if result.get("grad_error") or any(result.get("unused", [])):
        _fail("lenet5: no gradient reaches some parameters "
              f"({result.get('grad_error') or 'unused parameters'}); does forward detach a "
              "tensor, use torch.no_grad(), or skip a layer?")
    loss = F.cross_entropy(expected, torch.as_tensor(labels))
    grads = torch.autograd.grad(loss, weights)
    for name, got_grad, want in zip(result["names"], result["grads"], grads, strict=True):
        assert_close(f"lenet5: gradient of {name}", got_grad, want.numpy(), what="gradient",
                     hint="the output matches but the gradient does not: does forward "
                          "modify a tensor in place or detach part of the graph?")


@cache
def _subset(n_train: int, n_val: int, seed: int):
    """Seeded subsets of the lab's data (MNIST if present here, else the fallback)."""
    from descent.data import load_mnist

    data = load_mnist(download=False, verbose=False)
    generator = torch.Generator().manual_seed(seed)
    train = torch.randperm(len(data.y_train), generator=generator)[:n_train]
    val = torch.randperm(len(data.y_val), generator=generator)[:n_val]
    return (data.x_train[train].numpy(), data.y_train[train].numpy(),
            data.x_val[val].numpy(), data.y_val[val].numpy(), data.source)


def check_lenet5_trains(probe: Callable, seed: int = 0, n_train: int = 1000,
                        n_val: int = 1000, epochs: int = 3, batch_size: int = 32,
                        lr: float = 2e-3, threshold: float = TRAINED_ACCURACY) -> None:
    """A fresh model trained with Adam on ``n_train`` images reaches ``threshold`` accuracy."""
    x_train, y_train, x_val, y_val, source = _subset(n_train, n_val, seed)
    result = _as_dict(probe(x_train, y_train, x_val, y_val, seed, epochs, batch_size, lr),
                      "lenet5")
    accuracy = float(as_float_array(result.get("val_accuracy"), "lenet5", "accuracy"))
    losses = as_float_array(result.get("losses"), "lenet5", "losses")
    if not accuracy >= threshold:
        _fail(f"lenet5: after {epochs} epochs of Adam (lr {lr:g}) on {n_train} images of "
              f"{source}, the validation accuracy is {accuracy:.3f}, expected at least "
              f"{threshold} (LeNet-5 reaches 0.8-0.9); training losses per epoch "
              f"{np.round(losses, 3).tolist()} — do all layers train (registered as "
              "attributes or in nn.Sequential, no detach)?")


# ---------------------------------------------------------------- the loops


def _random_state(seed: int, inputs: int, hidden: int, classes: int,
                  dropout: float = 0.0) -> dict[str, np.ndarray]:
    """Random parameters and batch-norm buffers of the probe network, as plain arrays."""
    torch.manual_seed(seed)
    model = probe_net(inputs, hidden, classes, dropout)
    rng = np.random.default_rng(seed)
    state = plain_state(model)
    bn = "2"
    state[f"{bn}.weight"] = rng.uniform(0.5, 1.5, hidden)
    state[f"{bn}.bias"] = rng.normal(0.0, 0.1, hidden)
    state[f"{bn}.running_mean"] = rng.normal(0.0, 0.5, hidden)
    state[f"{bn}.running_var"] = rng.uniform(0.5, 2.0, hidden)
    return state


def _data(seed: int, n: int, inputs: int, classes: int):
    rng = np.random.default_rng(seed + 1)
    return rng.normal(size=(n, inputs)), rng.integers(0, classes, size=n)


def _epoch(state, x, y, lr, momentum, batch_size, seed, *, train=True, zero_grad=True,
           shuffle=True, loss_sum=False) -> tuple[dict, float, float, float]:
    """The oracle epoch: torch.optim.SGD over the seeded mini-batches; (state after, mean
    loss over examples, accuracy, mean of the batch losses). The keyword arguments build
    the classic mistakes the hints name."""
    model = load_state(probe_net(x.shape[1], state["1.weight"].shape[0],
                                 state["4.weight"].shape[0]), state).train(train)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    x_t, y_t = torch.tensor(x), torch.tensor(y)
    n = len(y)
    order = (torch.randperm(n, generator=torch.Generator().manual_seed(seed)) if shuffle
             else torch.arange(n))
    total, correct, batch_means = 0.0, 0, []
    for batch in order.split(batch_size):
        if zero_grad:
            optimizer.zero_grad()
        logits = model(x_t[batch])
        loss = F.cross_entropy(logits, y_t[batch], reduction="sum" if loss_sum else "mean")
        loss.backward()
        optimizer.step()
        mean = loss.item() / (len(batch) if loss_sum else 1)
        total += mean * len(batch)
        batch_means.append(mean)
        correct += int((logits.argmax(dim=1) == y_t[batch]).sum())
    return plain_state(model), total / n, correct / n, float(np.mean(batch_means))


def _pair(value, name: str, what: str) -> tuple[float, float]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        _fail(f"{name}: return a pair {what}, got {type(value).__name__} {value!r:.80}")
    loss, accuracy = (float(as_float_array(v, name, w)) for v, w in
                      zip(value, ("mean loss", "accuracy"), strict=True))
    return loss, accuracy


def _compare_state(name: str, got: dict, expected: dict, hints: Callable, default: str):
    for key, want in expected.items():
        try:
            if key not in got:
                _fail(f"{name}: the network has no {key} after the call")
            assert_close(f"{name}: {key}", got[key], want, what="value after the epoch")
        except AssertionError as error:
            variants = {hint: s.get(key) for hint, s in hints().items()}
            raise AssertionError(f"{error} — {_diagnose(got.get(key), variants, default)}") \
                from None


def check_train_one_epoch(probe: Callable, seed: int = 0, n: int = 50, batch_size: int = 16,
                          inputs: int = 6, hidden: int = 8, classes: int = 3,
                          lr: float = 0.1, momentum: float = 0.9) -> None:
    """One epoch of SGD on a small batch-normalized network, next to the oracle epoch."""
    state = _random_state(seed, inputs, hidden, classes)
    x, y = _data(seed, n, inputs, classes)
    result = _as_dict(probe(state, x, y, lr, momentum, batch_size, seed), "train_one_epoch")
    loss, accuracy = _pair(result.get("result"), "train_one_epoch", "(mean loss, accuracy)")
    expected, want_loss, want_acc, batch_mean = _epoch(state, x, y, lr, momentum, batch_size,
                                                       seed)

    def mistakes():
        return {
            "the model was left in evaluation mode: call model.train() first (batch norm "
            "then normalizes with the batch's statistics)":
                _epoch(state, x, y, lr, momentum, batch_size, seed, train=False)[0],
            "gradients accumulate from batch to batch: call optimizer.zero_grad() before "
            "each backward()": _epoch(state, x, y, lr, momentum, batch_size, seed,
                                      zero_grad=False)[0],
            "the batches are not in the seeded random order: order = torch.randperm(len(X), "
            "generator=torch.Generator().manual_seed(seed))":
                _epoch(state, x, y, lr, momentum, batch_size, seed, shuffle=False)[0],
            "the loss is summed over the batch: use its mean (F.cross_entropy's default)":
                _epoch(state, x, y, lr, momentum, batch_size, seed, loss_sum=True)[0],
        }

    _compare_state("train_one_epoch", as_state(result.get("state")), expected, mistakes,
                   "one update per mini-batch, in the seeded order, with the optimizer given")
    assert_close("train_one_epoch: the mean loss", loss, want_loss, rtol=1e-6,
                 hint=("that is the mean of the batch losses: weight each batch's loss by its "
                       "size (the last batch is smaller)" if math.isclose(
                           loss, batch_mean, rel_tol=1e-7) else
                       "the mean over all examples of each batch's loss, computed before "
                       "that batch's update"))
    assert_close("train_one_epoch: the accuracy", accuracy, want_acc, rtol=1e-6,
                 hint=("an accuracy is a fraction in [0, 1], not a percentage"
                       if math.isclose(accuracy, 100 * want_acc) else
                       "the fraction of examples whose largest score is their label, from "
                       "the scores each batch gave before its update"))


def as_state(value) -> dict:
    if not isinstance(value, dict):
        _fail("the probe did not return the network's state; was the setup cell run?")
    return value


def check_evaluate(probe: Callable, seed: int = 0, n: int = 45, batch_size: int = 20,
                   inputs: int = 6, hidden: int = 8, classes: int = 3,
                   dropout: float = 0.5) -> None:
    """Mean loss and accuracy in evaluation mode under no_grad, batch by batch."""
    state = _random_state(seed, inputs, hidden, classes, dropout)
    x, y = _data(seed, n, inputs, classes)
    result = _as_dict(probe(state, x, y, batch_size, dropout), "evaluate")
    if any(result.get("training", [True])):
        _fail("evaluate: the model was in training mode during the forward pass (dropout "
              "drops units at random, batch norm uses the batch's statistics): call "
              "model.eval() first")
    if any(result.get("grad_enabled", [True])):
        _fail("evaluate: autograd recorded the forward pass: wrap the evaluation in "
              "`with torch.no_grad():` (faster, and no graph is kept in memory)")
    batches = list(result.get("batches", []))
    if sum(batches) != n or max(batches) > batch_size:
        _fail(f"evaluate: the forward passes saw batches of {batches} examples; expected "
              f"all {n} examples in batches of at most {batch_size}")
    loss, accuracy = _pair(result.get("result"), "evaluate", "(mean loss, accuracy)")
    model = load_state(probe_net(inputs, hidden, classes, dropout), state).eval()
    x_t, y_t = torch.tensor(x), torch.tensor(y)
    with torch.no_grad():
        logits = model(x_t)
        want_loss = float(F.cross_entropy(logits, y_t, reduction="sum")) / n
        want_acc = float((logits.argmax(dim=1) == y_t).double().mean())
        batch_means = [float(F.cross_entropy(model(x_t[b]), y_t[b])) for b in
                       torch.arange(n).split(batch_size)]
    assert_close("evaluate: the mean loss", loss, want_loss, rtol=1e-6,
                 hint=("that is the mean of the batch means: weight each batch by its size"
                       if math.isclose(loss, float(np.mean(batch_means)), rel_tol=1e-7) else
                       "the mean over all examples of the cross-entropy loss"))
    assert_close("evaluate: the accuracy", accuracy, want_acc, rtol=1e-6,
                 hint="the fraction of examples whose largest score is their label")


# ---------------------------------------------------------------- Adam


class _Quadratic:
    """Gradients of ½Σ aᵢ(θᵢ − cᵢ)² per parameter plus seeded noise, for several parameters."""

    def __init__(self, seed: int, shapes, steps: int, missing: dict | None = None):
        rng = np.random.default_rng(seed)
        self.curvature = [rng.uniform(0.5, 5.0, size=s) for s in shapes]
        self.centre = [rng.normal(size=s) for s in shapes]
        self.start = [rng.normal(0.0, 2.0, size=s) for s in shapes]
        self.noise = [[rng.normal(size=s) for s in shapes] for _ in range(steps)]
        self.missing = missing or {}  # parameter index -> steps without a gradient
        self.log: list[list] = []

    def __call__(self, t, thetas):
        grads = []
        for i, theta in enumerate(thetas):
            if t in self.missing.get(i, ()):
                grads.append(None)
                continue
            theta = np.asarray(theta, dtype=float)
            grads.append(self.curvature[i] * (theta - self.centre[i]) + self.noise[t - 1][i])
        self.log.append(grads)
        return grads


def _adam_hints(theta, grad, before, hyper) -> list[tuple[str, Callable]]:
    """(hint, θ after this step with a classic mistake), each a PyTorch step from ``before``."""
    zeros = np.zeros(np.shape(theta))
    before = before or {"step": 0.0, "exp_avg": zeros, "exp_avg_sq": zeros}

    def run(state=None, **changes):
        try:
            return _torch_run(torch.optim.Adam, theta, grad, {**before, **(state or {})},
                              **{**hyper, **changes})[0]
        except (RuntimeError, ValueError, KeyError, ZeroDivisionError):
            return None

    step = float(before.get("step", 0.0))
    beta1, beta2 = hyper.get("betas", (0.9, 0.999))
    counted = ("t counts this parameter's own updates, incremented first (a step where "
               "p.grad is None does not count)")
    return [
        ("no bias correction: divide m by 1 − β₁ᵗ and v by 1 − β₂ᵗ",
         lambda: run(state={"step": 1e9})),
        ("β₁ and β₂ swapped", lambda: run(betas=(beta2, beta1))),
        ("the group's own lr is ignored: use group['lr'] (param groups may differ)",
         lambda: run(lr=1e-3)),
        *[(counted, lambda k=k: run(state={"step": step + k})) for k in (-1, 1, 2, 3)],
    ]


def check_course_adam(probe: Callable, seed: int = 0, steps: int = 25,
                      shapes=((3,), (2, 2)), groups: list | None = None,
                      missing: dict | None = None, closure: bool = False, **hyper) -> None:
    """CourseAdam next to torch.optim.Adam(foreach=False), fed the same gradients."""
    if steps < 1:
        raise ValueError("steps must be positive")
    quadratic = _Quadratic(seed, shapes, steps, missing)
    result = _as_dict(probe(quadratic.start, quadratic, steps, dict(hyper), groups, closure),
                      "CourseAdam")
    if not result.get("is_optimizer"):
        _fail("CourseAdam: not a torch.optim.Optimizer: subclass it (class "
              "CourseAdam(torch.optim.Optimizer)) and call super().__init__(params, defaults)")
    defaults = result.get("defaults") or {}
    for key, want in (("lr", 1e-3), ("betas", (0.9, 0.999)), ("eps", 1e-8)):
        got = defaults.get(key)
        if got is None or not np.allclose(as_float_array(got, "CourseAdam", key), want):
            _fail(f"CourseAdam: the default {key} is {got!r}, expected {want} (Adam's)")
    params = [float64_tensor(p, grad=True) for p in quadratic.start]
    arg = params if groups is None else [
        {**{k: v for k, v in g.items() if k != "params"}, "params": [params[i] for i in
                                                                      g["params"]]}
        for g in groups]
    oracle = torch.optim.Adam(arg, foreach=False, **hyper)
    group_of = {id(p): g for g in oracle.param_groups for p in g["params"]}
    thetas, states = result.get("thetas", []), result.get("states", [])
    if len(thetas) != steps or len(states) != steps:
        _fail(f"CourseAdam: the probe recorded {len(thetas)} steps of {steps}")
    for t, grads in enumerate(quadratic.log, start=1):
        before = [dict(_torch_state(oracle.state.get(p, {}))) for p in params]
        for p, g in zip(params, grads, strict=True):
            p.grad = None if g is None else float64_tensor(g)
        oracle.step()
        for i, p in enumerate(params):
            where = f"CourseAdam: step {t}, parameter {i}"
            expected = p.detach().numpy()
            try:
                assert_close(where, thetas[t - 1][i], expected, what="parameter")
            except AssertionError as error:
                if grads[i] is None:
                    raise AssertionError(f"{error} — this parameter had no gradient at this "
                                         "step (p.grad is None): skip it") from None
                group = group_of[id(p)]
                own = {k: group[k] for k in ("lr", "betas", "eps")}
                start = thetas[t - 2][i] if t > 1 else quadratic.start[i]
                hint = _diagnose_steps(thetas[t - 1][i], _adam_hints(start, grads[i], before[i],
                                                                     own),
                                       "compare with Adam's update in the task")
                raise AssertionError(f"{error} — {hint}") from None
            _check_adam_state(where, states[t - 1][i], _torch_state(oracle.state.get(p, {})))
        if closure:
            returned = result.get("returned", [])
            if len(returned) < t or returned[t - 1] is None or float(returned[t - 1]) != t:
                _fail("CourseAdam: step(closure) must call the closure (under "
                      "torch.enable_grad()) and return the loss it gives")


def _torch_state(state) -> dict:
    return {k: (float(v) if v.ndim == 0 else v.detach().numpy().copy()) for k, v in
            dict(state).items() if isinstance(v, torch.Tensor)}


def _check_adam_state(where: str, got, expected: dict) -> None:
    got = got if isinstance(got, dict) else {}
    for key, want in expected.items():
        if key not in got:
            _fail(f"{where}: self.state[p] has no '{key}' (it has {sorted(got)}); keep "
                  "Adam's state under PyTorch's names: step, exp_avg, exp_avg_sq")
        assert_close(f"{where}: state['{key}']", got[key], want, what="state value",
                     hint="step counts this parameter's updates; exp_avg and exp_avg_sq are "
                          "m and v, before bias correction")

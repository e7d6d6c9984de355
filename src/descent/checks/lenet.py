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

Whatever its arguments, ``check_lenet5`` also checks that the model keeps PyTorch's default
initialization, and ``check_course_adam`` adds a run with parameter groups of their own
hyper-parameters, steps without a gradient and ``step(closure)``: what the task states,
and the notebook's visible call alone would not reach.

When a check fails it recomputes the failing quantity with a few classic mistakes (the 1998
paper's tanh and average pooling, a forgotten ``model.train()`` or ``zero_grad()``, a summed
loss, TensorFlow's ε̂ in Adam, …) and names the one the student's result matches as a
misconception (:mod:`descent.checks.misconceptions`). Arguments a check cannot use (a batch
size of 0, a learning rate ≤ 0, …) are refused with a ValueError before the probe is called.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache, partial

import numpy as np
import torch
import torch.nn.functional as F

from descent.checks._arguments import (
    BETAS,
    FLAG,
    SEED,
    Rule,
    array_shapes,
    integer,
    is_int,
    number,
    refuse,
    require,
)
from descent.checks._compare import (
    AnyOf,
    as_float_array,
    as_number,
    as_tuple,
    assert_close,
    diagnose,
    matches,
)
from descent.checks._oracle import float64_tensor
from descent.checks._trajectory import torch_run
from descent.checks.misconceptions import on_page
from descent.checks.optimizers_mistakes import page_of
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


# ---------------------------------------------------------------- the known mistakes

_PAGE = "09_lenet_lab"
_LENET = "LeNet-5 and its 61 706 parameters"
_LOOPS = "One epoch, and an honest evaluation"
_CONVENTIONS = "Where conventions differ"
_mistake = on_page(_PAGE)

LENET_AVG_POOL = _mistake(
    "lenet.average-pooling",
    "average pooling (the 1998 paper's subsampling) where this LeNet-5 uses max pooling "
    "(nn.MaxPool2d(2))", _LENET)
LENET_TANH = _mistake(
    "lenet.tanh", "tanh (the 1998 paper's) where this chapter uses ReLU", _LENET)
LENET_SIGMOID = _mistake("lenet.sigmoid", "sigmoid where this chapter uses ReLU", _LENET)
LENET_NO_HIDDEN_RELU = _mistake(
    "lenet.no-hidden-relu",
    "no ReLU between the fully connected layers: F5 and F6 are each followed by a ReLU", _LENET)
LENET_RELU_LOGITS = _mistake(
    "lenet.relu-on-logits",
    "a ReLU after the last layer: return the raw scores (logits); the loss applies the softmax",
    _LENET)
LENET_SOFTMAX = _mistake(
    "lenet.softmax-output",
    "a softmax at the end: return the logits, F.cross_entropy applies the softmax itself",
    _LENET)
LENET_NO_PADDING = _mistake(
    "lenet.no-padding",
    "the first fully connected layer sees 16·4·4 = 256 features: the first convolution needs "
    "padding=2 so that 28×28 stays 28×28 (the paper pads the images to 32×32 instead)",
    _CONVENTIONS)
LENET_UNREGISTERED = _mistake(
    "lenet.unregistered-layers",
    "the model has no parameters: layers kept in a plain Python list or dict are invisible to "
    "PyTorch; make them attributes, or use nn.Sequential or nn.ModuleList", _LENET)
LENET_DETACHED = _mistake(
    "lenet.detached-graph",
    "no gradient reaches some parameters: does forward detach a tensor, use torch.no_grad(), "
    "or skip a layer?", _LENET)
LENET_CUSTOM_INIT = _mistake(
    "lenet.custom-init",
    "keep PyTorch's default initialization (every layer's own reset_parameters: U(−b, b) with "
    "b = 1/√fan_in for weights and biases); do not re-initialize the layers", _LENET)

EPOCH_EVAL_MODE = _mistake(
    "train-epoch.eval-mode",
    "the model was left in evaluation mode: call model.train() first (batch norm then "
    "normalizes with the batch's statistics, dropout drops units)", _LOOPS)
EPOCH_NO_ZERO_GRAD = _mistake(
    "train-epoch.no-zero-grad",
    "gradients accumulate from batch to batch: call optimizer.zero_grad() before each "
    "backward() (PyTorch adds each new gradient to .grad)", _LOOPS)
EPOCH_ORDER = _mistake(
    "train-epoch.unseeded-order",
    "the batches are not in the seeded random order: order = torch.randperm(len(X), "
    "generator=torch.Generator().manual_seed(seed)), then order.split(batch_size)", _LOOPS)
EPOCH_SUMMED = _mistake(
    "train-epoch.summed-loss",
    "the loss is summed over the batch: use its mean (F.cross_entropy's default); the sum "
    "makes every step batch_size times larger", _CONVENTIONS)
LOSS_BATCH_MEANS = _mistake(
    "mean-loss.batch-means",
    "that is the mean of the batch losses: weight each batch's loss by its size (the last "
    "batch is smaller), i.e. sum the per-example losses and divide by their number", _LOOPS)
LOSS_TOTAL = _mistake(
    "mean-loss.not-divided",
    "that is the loss summed over all examples: divide it by their number", _LOOPS)
LOSS_LAST_BATCH = _mistake(
    "mean-loss.last-batch",
    "that is the last batch's loss: return the mean over all the examples of the epoch",
    _LOOPS)
ACCURACY_PERCENT = _mistake(
    "accuracy.percentage", "an accuracy is a fraction in [0, 1], not a percentage", _LOOPS)
EVALUATE_TRAIN_MODE = _mistake(
    "evaluate.train-mode",
    "call model.eval() first: in training mode dropout drops units at random and batch norm "
    "uses the batch's statistics, so the score changes from call to call", _LOOPS)
EVALUATE_AUTOGRAD = _mistake(
    "evaluate.autograd-on",
    "wrap the evaluation in `with torch.no_grad():`: autograd then records nothing (faster, "
    "and no graph is kept in memory)", _LOOPS)
EVALUATE_ONE_BATCH = _mistake(
    "evaluate.whole-set-at-once",
    "evaluate in batches of at most batch_size examples: a whole validation set at once may "
    "not fit in a GPU's memory", _LOOPS)

_ADAM = "Adam"
ADAM_NO_BIAS = _mistake(
    "course-adam.no-bias-correction",
    "no bias correction: divide m by 1 − β₁ᵗ and v by 1 − β₂ᵗ in the step", _ADAM,
    page_of(_ADAM))
ADAM_BETAS_SWAPPED = _mistake(
    "course-adam.betas-swapped",
    "β₁ and β₂ swapped: β₁ belongs to m (the average of g), β₂ to v (the average of g²)", _ADAM,
    page_of(_ADAM))
ADAM_STEP_COUNT = _mistake(
    "course-adam.step-count",
    "t counts this parameter's own updates, incremented first (t = 1 at its first update; a "
    "step where p.grad is None does not count)", _ADAM, page_of(_ADAM))
ADAM_EPS_INSIDE = _mistake(
    "course-adam.eps-inside-root",
    "ε goes outside the root: √v̂ + ε, not √(v̂ + ε)", "Where conventions differ",
    page_of("Where conventions differ"))
ADAM_EPS_HAT = _mistake(
    "course-adam.epsilon-hat",
    "add ε to the bias-corrected √v̂ (PyTorch's Adam); TensorFlow and Keras add it to √v "
    "before the correction, which differs while 1 − β₂ᵗ is small", _ADAM, page_of(_ADAM))
ADAM_CORRECTED_STATE = _mistake(
    "course-adam.corrected-state",
    "store m and v themselves in exp_avg and exp_avg_sq; m̂ and v̂ (the bias-corrected ones) "
    "are only used in the step", _ADAM, page_of(_ADAM))
ADAM_GROUP_OPTIONS = _mistake(
    "course-adam.ignores-group-options",
    "each parameter uses its own group's hyper-parameters, group['lr'], group['betas'] and "
    "group['eps'] (groups may override the defaults)", _CONVENTIONS)
ADAM_NONE_GRAD = _mistake(
    "course-adam.grad-none-not-skipped",
    "a parameter whose p.grad is None had no gradient this step: skip it (no update, and its "
    "step count does not grow)", _CONVENTIONS)
ADAM_NOT_OPTIMIZER = _mistake(
    "course-adam.not-an-optimizer",
    "subclass torch.optim.Optimizer (class CourseAdam(torch.optim.Optimizer)) and call "
    "super().__init__(params, defaults)", _CONVENTIONS)
ADAM_CLOSURE = _mistake(
    "course-adam.closure-ignored",
    "step(closure) must call the closure (under torch.enable_grad()) and return the loss it "
    "gives", _CONVENTIONS)
ADAM_STATE_NAMES = _mistake(
    "course-adam.state-names",
    "keep Adam's state under PyTorch's names: step, exp_avg (m) and exp_avg_sq (v)",
    "One interface for every rule", page_of("One interface for every rule"))
ADAM_KERAS_DEFAULTS = _mistake(
    "course-adam.keras-defaults",
    "the defaults are PyTorch's Adam's, lr=1e-3, betas=(0.9, 0.999), eps=1e-8 (Keras's "
    "epsilon is 1e-7)", _ADAM, page_of(_ADAM))


def _fail(message: str) -> None:
    raise AssertionError(message)


# ---------------------------------------------------------------- arguments

_POSITIVE = number(above=0)
_FRACTION = number(least=0, below=1)


def _as_dict(value, name: str) -> dict:
    if not isinstance(value, dict):
        _fail(f"{name}: the probe returned a {type(value).__name__}; was the setup cell run "
              "unchanged?")
    return value


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


def _forward_hints(params, x) -> dict:
    return {
        LENET_AVG_POOL: lambda: lenet5_forward(params, x, pool=F.avg_pool2d),
        LENET_TANH: lambda: lenet5_forward(params, x, act=torch.tanh),
        LENET_SIGMOID: lambda: lenet5_forward(params, x, act=torch.sigmoid),
        LENET_NO_HIDDEN_RELU: lambda: lenet5_forward(params, x, hidden_act=False),
        LENET_RELU_LOGITS: lambda: lenet5_forward(params, x, last=torch.relu),
        LENET_SOFTMAX: lambda: lenet5_forward(params, x, last=lambda z: torch.softmax(z, dim=1)),
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
            hint = f" — {LENET_NO_PADDING}"
        elif not params:
            hint = f" — {LENET_UNREGISTERED}"
        listing = ", ".join(f"{shape} in {kind}" for shape, kind in got)
        wanted = ", ".join(f"{shape} in {kind}" for shape, kind in LENET5_PARAMETERS)
        _fail(f"lenet5: {count} parameters: {listing or 'none'}; LeNet-5 has {LENET5_COUNT}: "
              f"{wanted}{hint}")
    return params


#: Relative tolerance on the spread of a default-initialized parameter: its standard deviation
#: b/√3 is estimated within about 4 % from 120 entries or more (6σ), and other schemes
#: (Xavier, Kaiming's normal) differ by far more than 25 % somewhere in LeNet-5.
INIT_SPREAD_TOLERANCE = 0.25


def _check_initialization(names: list[str], params: list[np.ndarray]) -> None:
    """Every parameter within PyTorch's default bound 1/√fan_in (of its layer's weight), and
    the larger ones spread as a uniform draw from it (standard deviation bound/√3)."""
    for i, (name, p) in enumerate(zip(names, params, strict=True)):
        weight = params[i if p.ndim > 1 else i - 1]
        fan_in = math.prod(weight.shape[1:])
        bound = 1.0 / math.sqrt(fan_in)
        where = f"lenet5: the initial {name} (fan_in {fan_in})"
        largest = float(np.abs(p).max())
        if largest > bound * (1 + 1e-6):
            _fail(f"{where} has an entry {largest:.4g}, beyond PyTorch's default bound "
                  f"1/√{fan_in} = {bound:.4g} — {LENET_CUSTOM_INIT}")
        if p.size >= 100:
            spread, want = float(p.std()), bound / math.sqrt(3)
            if abs(spread / want - 1) > INIT_SPREAD_TOLERANCE:
                _fail(f"{where} has a standard deviation {spread:.4g}; PyTorch's default "
                      f"U(−{bound:.4g}, {bound:.4g}) gives {want:.4g} — {LENET_CUSTOM_INIT}")


def check_lenet5(probe: Callable, seed: int = 0, batch: int = 4, scale: float = 1.0) -> None:
    """The model's parameters, layer types, output and gradients, from its own weights, and
    that those weights are PyTorch's default initialization."""
    require("check_lenet5", SEED, seed=seed)
    require("check_lenet5", integer(1), batch=batch)
    require("check_lenet5", _POSITIVE, scale=scale)
    rng = np.random.default_rng(seed)
    x = scale * rng.uniform(0.0, 1.0, size=(batch, 1, 28, 28))
    labels = rng.integers(0, 10, size=batch)
    result = _as_dict(probe(x, labels, seed), "lenet5")
    if result.get("not_a_module"):
        _fail(f"lenet5: lenet5() returned a {result['not_a_module']}, not an nn.Module — build "
              "the network as a subclass of nn.Module (or nn.Sequential) and return it")
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
            hint = diagnose(got, _forward_hints(weights, x_t),
                            "compare your layers, in order, with the table of the task: "
                            "conv(5×5, padding 2) → ReLU → max-pool 2 → conv(5×5) → "
                            "ReLU → max-pool 2 → flatten → 120 → 84 → 10")
        raise AssertionError(f"{error} — {hint}") from None
    if result.get("grad_error") or any(result.get("unused", [])):
        _fail("lenet5: no gradient reaches some parameters "
              f"({result.get('grad_error') or 'unused parameters'}) — {LENET_DETACHED}")
    loss = F.cross_entropy(expected, torch.as_tensor(labels))
    grads = torch.autograd.grad(loss, weights)
    got_grads = result.get("grads")
    if not isinstance(got_grads, list | tuple) or len(got_grads) != len(grads):
        _fail("lenet5: the probe returned no gradients; was the setup cell run unchanged?")
    for name, got_grad, want in zip(result["names"], got_grads, grads, strict=True):
        assert_close(f"lenet5: gradient of {name}", got_grad, want.numpy(), what="gradient",
                     hint="the output matches but the gradient does not: does forward "
                          "modify a tensor in place or detach part of the graph?")
    _check_initialization(result["names"], params)


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
    check = "check_lenet5_trains"
    require(check, SEED, seed=seed)
    require(check, integer(1), n_train=n_train, n_val=n_val, epochs=epochs, batch_size=batch_size)
    require(check, _POSITIVE, lr=lr)
    require(check, number(least=0, most=1, why=" (an accuracy)"), threshold=threshold)
    x_train, y_train, x_val, y_val, source = _subset(n_train, n_val, seed)
    result = _as_dict(probe(x_train, y_train, x_val, y_val, seed, epochs, batch_size, lr),
                      "lenet5")
    accuracy = _number(result.get("val_accuracy"), "lenet5", "validation accuracy")
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
           shuffle=True, loss_sum=False) -> tuple[dict, float, float, list[float]]:
    """The oracle epoch: torch.optim.SGD over the seeded mini-batches; (state after, mean
    loss over examples, accuracy, the batch losses in order). The keyword arguments build
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
    return plain_state(model), total / n, correct / n, batch_means


def _number(value, name: str, what: str) -> float:
    return as_number(value, name, what, ", e.g. float(total) / len(X)")


def _loss_and_accuracy(value, name: str) -> tuple[float, float]:
    loss, accuracy = as_tuple(value, name, "(mean loss, accuracy)")
    return _number(loss, name, "mean loss"), _number(accuracy, name, "accuracy")


def _loss_hint(loss: float, n: int, batch_means: list[float], sizes: list[int],
               default: str):
    """The mistake a wrong mean loss reproduces, from the right per-batch losses."""
    total = sum(m * k for m, k in zip(batch_means, sizes, strict=True))
    mistakes = {
        LOSS_BATCH_MEANS: float(np.mean(batch_means)),
        LOSS_TOTAL: total,
        LOSS_LAST_BATCH: batch_means[-1],
    }
    for hint, value in mistakes.items():
        if not math.isclose(value, total / n, rel_tol=1e-9) and math.isclose(
                loss, value, rel_tol=1e-7):
            return hint
    return default


def _accuracy_hint(accuracy: float, want: float, default: str):
    return ACCURACY_PERCENT if want and math.isclose(accuracy, 100 * want) else default


def _compare_state(name: str, got: dict, expected: dict, hints: Callable, default: str):
    for key, want in expected.items():
        try:
            if key not in got:
                _fail(f"{name}: the network has no {key} after the call")
            assert_close(f"{name}: {key}", got[key], want, what="value after the epoch")
        except AssertionError as error:
            variants = {hint: s.get(key) for hint, s in hints().items()}
            raise AssertionError(f"{error} — {diagnose(got.get(key), variants, default)}") \
                from None


def _require_loop(check: str, seed, n, batch_size, inputs, hidden, classes) -> None:
    require(check, SEED, seed=seed)
    require(check, integer(1), n=n, batch_size=batch_size, inputs=inputs, hidden=hidden)
    require(check, integer(2), classes=classes)


def check_train_one_epoch(probe: Callable, seed: int = 0, n: int = 50, batch_size: int = 16,
                          inputs: int = 6, hidden: int = 8, classes: int = 3,
                          lr: float = 0.1, momentum: float = 0.9) -> None:
    """One epoch of SGD on a small batch-normalized network, next to the oracle epoch."""
    check = "check_train_one_epoch"
    _require_loop(check, seed, n, batch_size, inputs, hidden, classes)
    # Batch normalization cannot train on a batch of one example.
    require(check, integer(2, why=" (batch normalization needs batches of 2 examples or more "
                                  "in training mode)"), batch_size=batch_size)
    if n % batch_size == 1:
        refuse(check, "n", n, f"n must not leave a last batch of 1 example (n % batch_size = "
               f"{n} % {batch_size} = 1): batch normalization needs 2 or more in training mode")
    require(check, _POSITIVE, lr=lr)
    require(check, _FRACTION, momentum=momentum)
    state = _random_state(seed, inputs, hidden, classes)
    x, y = _data(seed, n, inputs, classes)
    result = _as_dict(probe(state, x, y, lr, momentum, batch_size, seed), "train_one_epoch")
    loss, accuracy = _loss_and_accuracy(result.get("result"), "train_one_epoch")
    expected, want_loss, want_acc, batch_means = _epoch(state, x, y, lr, momentum, batch_size,
                                                        seed)

    def mistakes():
        return {
            EPOCH_EVAL_MODE:
                _epoch(state, x, y, lr, momentum, batch_size, seed, train=False)[0],
            EPOCH_NO_ZERO_GRAD:
                _epoch(state, x, y, lr, momentum, batch_size, seed, zero_grad=False)[0],
            EPOCH_ORDER: _epoch(state, x, y, lr, momentum, batch_size, seed, shuffle=False)[0],
            EPOCH_SUMMED: _epoch(state, x, y, lr, momentum, batch_size, seed, loss_sum=True)[0],
        }

    _compare_state("train_one_epoch", as_state(result.get("state")), expected, mistakes,
                   "one update per mini-batch, in the seeded order, with the optimizer given")
    sizes = [len(b) for b in torch.arange(n).split(batch_size)]
    assert_close("train_one_epoch", loss, want_loss, rtol=1e-6, what="mean loss",
                 hint=_loss_hint(loss, n, batch_means, sizes,
                                 "the mean over all examples of each batch's loss, computed "
                                 "before that batch's update"))
    assert_close("train_one_epoch", accuracy, want_acc, rtol=1e-6, what="accuracy",
                 hint=_accuracy_hint(accuracy, want_acc,
                                     "the fraction of examples whose largest score is their "
                                     "label, from the scores each batch gave before its "
                                     "update"))


def as_state(value) -> dict:
    if not isinstance(value, dict):
        _fail("the probe did not return the network's state; was the setup cell run?")
    return value


def check_evaluate(probe: Callable, seed: int = 0, n: int = 45, batch_size: int = 20,
                   inputs: int = 6, hidden: int = 8, classes: int = 3,
                   dropout: float = 0.5) -> None:
    """Mean loss and accuracy in evaluation mode under no_grad, batch by batch."""
    check = "check_evaluate"
    _require_loop(check, seed, n, batch_size, inputs, hidden, classes)
    require(check, _FRACTION, dropout=dropout)
    state = _random_state(seed, inputs, hidden, classes, dropout)
    x, y = _data(seed, n, inputs, classes)
    result = _as_dict(probe(state, x, y, batch_size, dropout), "evaluate")
    if any(result.get("training", [True])):
        _fail(f"evaluate: the model was in training mode during the forward pass — "
              f"{EVALUATE_TRAIN_MODE}")
    if any(result.get("grad_enabled", [True])):
        _fail(f"evaluate: autograd recorded the forward pass — {EVALUATE_AUTOGRAD}")
    batches = [int(b) for b in result.get("batches", [])]
    if sum(batches) != n or max(batches, default=0) > batch_size:
        whole = f" — {EVALUATE_ONE_BATCH}" if max(batches, default=0) > batch_size else ""
        _fail(f"evaluate: the forward passes saw batches of {batches} examples; expected "
              f"all {n} examples in batches of at most {batch_size}{whole}")
    loss, accuracy = _loss_and_accuracy(result.get("result"), "evaluate")
    model = load_state(probe_net(inputs, hidden, classes, dropout), state).eval()
    x_t, y_t = torch.tensor(x), torch.tensor(y)
    parts = torch.arange(n).split(batch_size)
    with torch.no_grad():
        logits = model(x_t)
        want_loss = float(F.cross_entropy(logits, y_t, reduction="sum")) / n
        want_acc = float((logits.argmax(dim=1) == y_t).double().mean())
        batch_means = [float(F.cross_entropy(model(x_t[b]), y_t[b])) for b in parts]
    assert_close("evaluate", loss, want_loss, rtol=1e-6, what="mean loss",
                 hint=_loss_hint(loss, n, batch_means, [len(b) for b in parts],
                                 "the mean over all examples of the cross-entropy loss"))
    assert_close("evaluate", accuracy, want_acc, rtol=1e-6, what="accuracy",
                 hint=_accuracy_hint(accuracy, want_acc,
                                     "the fraction of examples whose largest score is their "
                                     "label"))


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


def _adam_hints(theta, grad, before, hyper, defaults) -> list[tuple[object, Callable]]:
    """(mistake, θ after this step with it), each a PyTorch step from ``before`` (or, for ε
    inside the root, PyTorch's own m and v after the step); ``hyper`` are the parameter's
    group's values, ``defaults`` the optimizer's."""
    zeros = np.zeros(np.shape(theta))
    before = before or {"step": 0.0, "exp_avg": zeros, "exp_avg_sq": zeros}

    def run(state=None, **changes):
        try:
            return torch_run(torch.optim.Adam, theta, grad, {**before, **(state or {})},
                              **{**hyper, **changes})[0]
        except (RuntimeError, ValueError, KeyError, ZeroDivisionError):
            return None

    step = float(before.get("step", 0.0))
    t = step + 1
    lr, (beta1, beta2), eps = hyper["lr"], hyper["betas"], hyper["eps"]

    def eps_inside():
        after = torch_run(torch.optim.Adam, theta, grad, before, **hyper)[1]
        m_hat = after["exp_avg"] / (1 - beta1**t)
        v_hat = after["exp_avg_sq"] / (1 - beta2**t)
        return np.asarray(theta, dtype=float) - lr * m_hat / np.sqrt(v_hat + eps)

    return [
        # After a billion steps β₁ᵗ and β₂ᵗ are 0: the corrections divide by 1.
        (ADAM_NO_BIAS, lambda: run(state={"step": 1e9})),
        (ADAM_BETAS_SWAPPED, lambda: run(betas=(beta2, beta1))),
        (ADAM_EPS_INSIDE, eps_inside),
        # TensorFlow's ε̂ on √v is PyTorch's ε = ε̂/√(1 − β₂ᵗ) on √v̂.
        (ADAM_EPS_HAT, lambda: run(eps=eps / math.sqrt(1 - beta2**t))),
        *[(ADAM_GROUP_OPTIONS, lambda k=k, v=v: run(**{k: v}))
          for k, v in defaults.items() if v != hyper[k]],
        *[(ADAM_STEP_COUNT, lambda k=k: run(state={"step": step + k})) for k in (-1, 1, 2, 3)],
    ]


ADAM_KEYS = ("lr", "betas", "eps")
ADAM_DEFAULTS = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}
#: The run every call of check_course_adam adds, whatever its arguments: two parameter
#: groups (one with its own lr, one with its own betas and eps), steps where a parameter has
#: no gradient, and step(closure) — the parts of the task the visible call does not reach.
ADAM_STAGE = {"seed": 45, "steps": 20, "shapes": ((3,), (2,), (2, 2)),
              "groups": [{"params": [0], "lr": 0.05},
                         {"params": [1, 2], "betas": (0.8, 0.99), "eps": 1e-3}],
              "missing": {1: (2, 5, 6), 2: (3,)}, "closure": True, "lr": 0.01}


def _require_adam_options(check: str, options: dict, where: str = "") -> None:
    """CourseAdam's own options (the call's, or a parameter group's, ``where`` "a group's ")."""
    for key, value in options.items():
        if key not in ADAM_KEYS:
            refuse(check, f"{where}{key}", value, f"{where}{key} must be left out: CourseAdam "
                   "takes lr, betas and eps only")
    rules = {"lr": _POSITIVE, "eps": number(least=0), "betas": BETAS}
    for key, value in options.items():
        require(check, rules[key], **{f"{where}{key}": value})


def _require_adam(check, seed, steps, shapes, groups, missing, closure, hyper) -> None:
    require(check, SEED, seed=seed)
    require(check, integer(1), steps=steps)
    require(check, array_shapes(1, why=" (() for a scalar)"), shapes=shapes)
    _require_adam_options(check, hyper)
    count = len(shapes)
    if groups is not None:
        def split(groups) -> bool:
            if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
                return False
            return sorted(i for g in groups for i in g.get("params", [])) == list(range(count))

        require(check, Rule(split, f"{{name}} must be a list of dicts whose 'params' split the "
                                   f"parameter indices 0 … {count - 1}, each in one group"),
                groups=groups)
        for g in groups:
            _require_adam_options(check, {k: v for k, v in g.items() if k != "params"},
                                  "a group's ")
    if missing is not None:
        def skips(missing) -> bool:
            return isinstance(missing, dict) and all(
                is_int(i) and 0 <= i < count and all(is_int(t) and 1 <= t <= steps for t in ts)
                for i, ts in missing.items())

        require(check, Rule(skips, f"{{name}} must map parameter indices (0 … {count - 1}) to "
                                   f"steps without a gradient (1 … {steps})"), missing=missing)
    require(check, FLAG, closure=closure)


def check_course_adam(probe: Callable, seed: int = 0, steps: int = 25,
                      shapes=((3,), (2, 2)), groups: list | None = None,
                      missing: dict | None = None, closure: bool = False, **hyper) -> None:
    """CourseAdam next to torch.optim.Adam(foreach=False), fed the same gradients; then the
    run of :data:`ADAM_STAGE` (parameter groups, missing gradients, closure)."""
    _require_adam("check_course_adam", seed, steps, shapes, groups, missing, closure, hyper)
    _adam_stage(probe, seed, steps, shapes, groups, missing, closure, hyper)
    stage = dict(ADAM_STAGE)
    stage_hyper = {k: stage.pop(k) for k in ADAM_KEYS if k in stage}
    _adam_stage(probe, **stage, hyper=stage_hyper)


def _adam_stage(probe, seed, steps, shapes, groups, missing, closure, hyper) -> None:
    quadratic = _Quadratic(seed, shapes, steps, missing)
    result = _as_dict(probe(quadratic.start, quadratic, steps, dict(hyper), groups, closure),
                      "CourseAdam")
    if not result.get("is_optimizer"):
        _fail(f"CourseAdam: not a torch.optim.Optimizer — {ADAM_NOT_OPTIMIZER}")
    _check_adam_defaults(result.get("defaults") or {})
    label = "CourseAdam" + (" (parameter groups, missing gradients, step(closure))"
                            if groups or missing or closure else "")
    params = [float64_tensor(p, grad=True) for p in quadratic.start]
    arg = params if groups is None else [
        {**{k: v for k, v in g.items() if k != "params"}, "params": [params[i] for i in
                                                                      g["params"]]}
        for g in groups]
    oracle = torch.optim.Adam(arg, foreach=False, **hyper)
    group_of = {id(p): g for g in oracle.param_groups for p in g["params"]}
    defaults = {k: oracle.defaults[k] for k in ADAM_KEYS}
    thetas, states = result.get("thetas", []), result.get("states", [])
    if len(thetas) != steps or len(states) != steps:
        _fail(f"{label}: the probe recorded {len(thetas)} steps of {steps}")
    for t, grads in enumerate(quadratic.log, start=1):
        before = [dict(_torch_state(oracle.state.get(p, {}))) for p in params]
        for p, g in zip(params, grads, strict=True):
            p.grad = None if g is None else float64_tensor(g)
        oracle.step()
        for i, p in enumerate(params):
            where = f"{label}: step {t}, parameter {i}"
            group = group_of[id(p)]
            own = {k: group[k] for k in ADAM_KEYS}
            start = thetas[t - 2][i] if t > 1 else quadratic.start[i]
            try:
                assert_close(where, thetas[t - 1][i], p.detach().numpy(), what="parameter")
            except AssertionError as error:
                if grads[i] is None:
                    raise AssertionError(f"{error} — this parameter had no gradient at this "
                                         f"step (p.grad is None): {ADAM_NONE_GRAD}") from None
                hint = diagnose(thetas[t - 1][i], _adam_hints(start, grads[i], before[i], own,
                                                              defaults),
                                "compare with Adam's update in the task")
                raise AssertionError(f"{error} — {hint}") from None
            _check_adam_state(where, states[t - 1][i], _torch_state(oracle.state.get(p, {})),
                              own, partial(_swapped_state, start, grads[i], before[i], own))
        if closure:
            returned = result.get("returned", [])
            if len(returned) < t or returned[t - 1] is None or float(returned[t - 1]) != t:
                _fail(f"{label}: step {t} returned "
                      f"{returned[t - 1] if len(returned) >= t else 'nothing'!r} for a closure "
                      f"whose loss is {t}.0 — {ADAM_CLOSURE}")


def _check_adam_defaults(defaults: dict) -> None:
    for key, want in ADAM_DEFAULTS.items():
        got = defaults.get(key)
        try:
            value = np.asarray(got, dtype=float)
            ok = value.shape == np.shape(want) and bool(np.allclose(value, want))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            keras = key == "eps" and matches(got, 1e-7)
            _fail(f"CourseAdam: the default {key} is {got!r}, expected {want} (PyTorch's "
                  f"Adam's){f' — {ADAM_KERAS_DEFAULTS}' if keras else ''}")


def _torch_state(state) -> dict:
    return {k: (float(v) if v.ndim == 0 else v.detach().numpy().copy()) for k, v in
            dict(state).items() if isinstance(v, torch.Tensor)}


_STATE_RULES = {
    "exp_avg": "exp_avg is m ← β₁·m + (1 − β₁)·g, stored before any bias correction",
    "exp_avg_sq": "exp_avg_sq is v ← β₂·v + (1 − β₂)·g², stored before any bias correction",
}


def _swapped_state(theta, grad, before, hyper) -> dict:
    """PyTorch's state after this step with β₁ and β₂ swapped (no gradient: no state)."""
    if grad is None:
        return {}
    zeros = np.zeros(np.shape(theta))
    before = before or {"step": 0.0, "exp_avg": zeros, "exp_avg_sq": zeros}
    swapped = {**hyper, "betas": tuple(hyper["betas"])[::-1]}
    return torch_run(torch.optim.Adam, theta, grad, before, **swapped)[1]


def _check_adam_state(where: str, got, expected: dict, hyper: dict, swapped: Callable) -> None:
    """The student's self.state[p] after a step next to torch.optim.Adam's; ``swapped()``
    gives the state of the same step with β₁ and β₂ swapped (computed on a mismatch)."""
    got = got if isinstance(got, dict) else {}
    t = expected.get("step", 1.0)
    beta1, beta2 = hyper["betas"]
    corrected = {"exp_avg": 1 - beta1**t, "exp_avg_sq": 1 - beta2**t}
    if expected and not got:
        _fail(f"{where}: self.state[p] is empty after the step; expected step, exp_avg and "
              "exp_avg_sq: keep them there from one step to the next")
    for key, want in expected.items():
        if key not in got:
            _fail(f"{where}: self.state[p] has no '{key}' (it has {sorted(got)}) — "
                  f"{ADAM_STATE_NAMES}")
        name = f"{where}: state['{key}']"
        try:
            assert_close(name, got[key], want, what="state value")
        except AssertionError:
            hint = _STATE_RULES.get(key, "keep torch.optim.Adam's state")
            if key == "step":
                hint = ADAM_STEP_COUNT
            elif corrected[key] > 0 and matches(got[key], want / corrected[key]):
                hint = ADAM_CORRECTED_STATE
            elif matches(got[key], swapped().get(key)):
                hint = ADAM_BETAS_SWAPPED
            assert_close(name, got[key], want, what="state value", hint=hint)


# ---------------------------------------------------------------- the update-to-weight ratio

_RATES = "Learning rates"
RATIO_AFTER = _mistake(
    "update-ratio.after-norm",
    "divide by the norm of the weights BEFORE the step, ‖θ_t‖: the ratio says how large the "
    "step is compared with what it changes", _RATES)
RATIO_OF_NORMS = _mistake(
    "update-ratio.change-of-norm",
    "the norm of the change is not the change of the norm: ‖θ_(t+1) − θ_t‖, not "
    "‖θ_(t+1)‖ − ‖θ_t‖ (a step orthogonal to θ hardly changes its norm)", _RATES)
RATIO_SQUARED = _mistake(
    "update-ratio.squared",
    "use the norms themselves, ‖Δθ‖/‖θ‖ (np.linalg.norm), not the sums of squares", _RATES)
RATIO_MEAN_ABS = _mistake(
    "update-ratio.mean-abs",
    "the ratio uses Euclidean norms over the whole tensor, ‖Δθ‖₂/‖θ‖₂, not mean absolute "
    "values", _RATES)
RATIO_ZERO_NORM = _mistake(
    "update-ratio.zero-norm",
    "a tensor that is all zeros before the step (a bias PyTorch or you set to 0) has "
    "‖θ‖ = 0: any update is infinitely large compared with it, so return math.inf there "
    "(0/0 cannot occur after a step that moved it)", _RATES)


def _ratio_model(seed: int, inputs: int, hidden: int, classes: int) -> torch.nn.Module:
    """A small float64 perceptron, Linear → ReLU → Linear, PyTorch's default initialization
    except for the last bias, set to zeros (as many codes do)."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(inputs, hidden), torch.nn.ReLU(),
                                torch.nn.Linear(hidden, classes)).double()
    with torch.no_grad():
        model[2].bias.zero_()
    return model


def update_ratio_step(seed: int, lr: float, momentum: float = 0.0, n: int = 32,
                      inputs: int = 20, hidden: int = 16, classes: int = 10):
    """The parameters (name → array) before and after one torch.optim.SGD step on a
    cross-entropy loss of random data, and the ratios ‖Δθ‖/‖θ‖ per tensor computed by torch
    (inf for a tensor of norm 0 that moved): (before, after, ratios)."""
    model = _ratio_model(seed, inputs, hidden, classes)
    generator = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n, inputs, generator=generator, dtype=torch.float64)
    y = torch.randint(0, classes, (n,), generator=generator)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    after = {name: p.detach().clone() for name, p in model.named_parameters()}
    ratios = {}
    for name in before:
        change = float(torch.linalg.vector_norm(after[name] - before[name]))
        size = float(torch.linalg.vector_norm(before[name]))
        ratios[name] = change / size if size else (math.inf if change else 0.0)
    plain = {name: value.numpy().copy() for name, value in before.items()}
    return plain, {name: value.numpy().copy() for name, value in after.items()}, ratios


def _ratio_variants(before, after, name):
    b, a = before[name].astype(float), after[name].astype(float)
    nb, na, nd = (float(np.linalg.norm(v)) for v in (b, a, a - b))
    return [
        (RATIO_AFTER, lambda: nd / na),
        (RATIO_OF_NORMS, AnyOf(lambda: abs(na - nb) / nb, lambda: (na - nb) / nb,
                               lambda: na / nb)),
        (RATIO_SQUARED, lambda: nd**2 / nb**2),
        (RATIO_MEAN_ABS, lambda: float(np.mean(np.abs(a - b)) / np.mean(np.abs(b)))),
    ]


def check_update_to_weight_ratios(update_to_weight_ratios, seed=0, lr=0.1, momentum=0.0):
    """The update-to-weight ratio ‖θ_(t+1) − θ_t‖/‖θ_t‖ of every parameter tensor, for the
    state before and after a real step: the parameters of a small perceptron (its last bias
    zero-initialized) before and after one ``torch.optim.SGD`` step, and the ratios computed
    by torch (relative tolerance 1e-9; inf for a tensor of norm 0). The student's function
    gets two dicts name → array and returns a dict name → float with the same names."""
    check = "check_update_to_weight_ratios"
    require(check, SEED, seed=seed)
    require(check, _POSITIVE, lr=lr)
    require(check, number(least=0, below=1, why=" (the momentum coefficient μ)"),
            momentum=momentum)
    name = f"update_to_weight_ratios (lr = {lr:g})"
    before, after, expected = update_ratio_step(seed, lr, momentum)
    given_before = {key: value.copy() for key, value in before.items()}
    given_after = {key: value.copy() for key, value in after.items()}
    got = update_to_weight_ratios(given_before, given_after)
    if not isinstance(got, dict):
        raise AssertionError(f"{name}: return a dict {{name: ratio}} with one float per "
                             f"parameter tensor, got a {type(got).__name__}")
    if set(got) != set(expected):
        raise AssertionError(f"{name}: the dict's keys are {sorted(map(str, got))}, expected "
                             f"the parameter names {sorted(expected)} (one ratio per tensor)")
    for key, wanted in expected.items():
        what = f"ratio of {key!r}"
        value = as_number(got[key], name, what, ", e.g. float(norm(Δθ) / norm(θ))")
        if math.isinf(wanted):
            if value != math.inf:
                raise AssertionError(f"{name}: the {what}: {key} is all zeros before the "
                                     f"step, expected inf, got {value:g} — {RATIO_ZERO_NORM}")
            continue
        hint = diagnose(value, _ratio_variants(before, after, key),
                        "‖θ_(t+1) − θ_t‖ / ‖θ_t‖, Euclidean norms over the whole tensor")
        assert_close(name, value, wanted, rtol=1e-9, atol=0.0, hint=hint, what=what)
    for key in before:
        for given, kept, which in ((given_before, before, "before"),
                                   (given_after, after, "after")):
            if not np.array_equal(np.asarray(given[key]), kept[key]):
                raise AssertionError(f"{name}: {which}[{key!r}] was modified in place; "
                                     "compute into new arrays")

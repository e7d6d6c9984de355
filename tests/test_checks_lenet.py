"""The chapter 09 checks accept the model answers and reject plausible mistakes.

Each mutant is run through the same probes (descent.lab.probes) the notebook's setup cell
makes, so what the checks see here is what they see through the grader's sandbox.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from checktools import assert_refused, assert_teaches, fails_as, fails_with, failure
from torch import nn

from descent.answers import load
from descent.checks import lenet as checks
from descent.lab.probes import adapters

answers = load("09_lenet_lab")
lenet5, train_one_epoch, evaluate, CourseAdam = (
    answers.lenet5, answers.train_one_epoch, answers.evaluate, answers.CourseAdam)


def named_probes(namespace):
    """The notebook's probes over the names in ``namespace``, by what they probe."""
    return dict(zip(("lenet5", "training", "epoch", "evaluate", "adam"), adapters(namespace),
                    strict=True))


def probes(**names):
    """The notebook's probes over the model answers, with some names replaced."""
    return named_probes({"lenet5": lenet5, "train_one_epoch": train_one_epoch,
                         "evaluate": evaluate, "CourseAdam": CourseAdam, **names})


def fails(check, probe, *needles, **kwargs):
    message = failure(check, probe, **kwargs)
    for needle in needles:
        assert needle in message, message
    return message


# ---------------------------------------------------------------- the model answers pass


def test_lenet5_has_the_classic_parameter_count():
    assert checks.LENET5_COUNT == 61_706
    assert sum(p.numel() for p in lenet5().parameters()) == 61_706


@pytest.mark.parametrize("kwargs", [{}, {"seed": 7, "batch": 1}, {"seed": 8, "batch": 3,
                                                                   "scale": 4.0}])
def test_lenet5_answer_passes(kwargs):
    checks.check_lenet5(probes()["lenet5"], **kwargs)


def test_lenet5_answer_trains():
    torch.set_num_threads(1)
    checks.check_lenet5_trains(probes()["training"])


def test_a_module_class_with_functional_activations_passes():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
            self.f1, self.f2, self.f3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.c1(x)), 2)
            x = F.max_pool2d(F.relu(self.c2(x)), 2).flatten(1)
            return self.f3(F.relu(self.f2(F.relu(self.f1(x)))))

    checks.check_lenet5(probes(lenet5=Functional)["lenet5"])


@pytest.mark.parametrize("kwargs", [
    {}, {"seed": 21, "n": 64, "batch_size": 16, "lr": 0.05},
    {"seed": 22, "n": 30, "batch_size": 64, "momentum": 0.0, "classes": 5},
    {"seed": 23, "n": 41, "batch_size": 3, "lr": 0.02, "hidden": 5},
])
def test_train_one_epoch_answer_passes(kwargs):
    checks.check_train_one_epoch(probes()["epoch"], **kwargs)


@pytest.mark.parametrize("kwargs", [{}, {"seed": 31, "n": 100, "batch_size": 100},
                                    {"seed": 32, "n": 7, "batch_size": 2, "classes": 4}])
def test_evaluate_answer_passes(kwargs):
    checks.check_evaluate(probes()["evaluate"], **kwargs)


@pytest.mark.parametrize("kwargs", [
    {}, {"seed": 41, "steps": 40, "shapes": ((5,), (1,), (2, 3)), "lr": 0.05,
         "betas": (0.8, 0.99)},
    {"seed": 42, "steps": 30, "shapes": ((3,), (4,)), "missing": {1: (2, 5, 6)},
     "groups": [{"params": [0], "lr": 0.2}, {"params": [1], "eps": 1e-3}]},
    {"seed": 43, "steps": 20, "shapes": ((2,),), "closure": True, "betas": (0.0, 0.9)},
    {"seed": 44, "steps": 25, "shapes": ((),), "betas": (0.99, 0.0), "eps": 1.0},
])
def test_course_adam_answer_passes(kwargs):
    checks.check_course_adam(probes()["adam"], **kwargs)


def test_stubs_raise():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    class StubAdam(torch.optim.Optimizer):
        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
            raise NotImplementedError()

    found = probes(lenet5=stub, train_one_epoch=stub, evaluate=stub, CourseAdam=StubAdam)
    for check, probe in [(checks.check_lenet5, found["lenet5"]),
                         (checks.check_lenet5_trains, found["training"]),
                         (checks.check_train_one_epoch, found["epoch"]),
                         (checks.check_evaluate, found["evaluate"]),
                         (checks.check_course_adam, found["adam"])]:
        with pytest.raises(NotImplementedError):
            check(probe)


def test_a_missing_name_says_so():
    namespace = probes()
    bare = named_probes({})
    with pytest.raises(NameError, match="lenet5 is not defined"):
        checks.check_lenet5(bare["lenet5"])
    assert namespace  # the full namespace still works
    checks.check_lenet5(namespace["lenet5"])


# ---------------------------------------------------------------- LeNet-5 mutants


def sequential(pool=nn.MaxPool2d, act=nn.ReLU, padding=2, tail=(), fc_act=True):
    def build():
        fc = act if fc_act else nn.Identity
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=padding), act(), pool(2),
            nn.Conv2d(6, 16, 5), act(), pool(2), nn.Flatten(),
            nn.Linear(16 * (5 if padding == 2 else 4) ** 2, 120), fc(),
            nn.Linear(120, 84), fc(), nn.Linear(84, 10), *[t() for t in tail])
    return build


@pytest.mark.parametrize("build, misconception", [
    (sequential(pool=nn.AvgPool2d), "lenet.average-pooling"),
    (sequential(act=nn.Tanh), "lenet.tanh"),
    (sequential(act=nn.Sigmoid), "lenet.sigmoid"),
    (sequential(fc_act=False), "lenet.no-hidden-relu"),
    (sequential(tail=(nn.ReLU,)), "lenet.relu-on-logits"),
    (sequential(tail=(lambda: nn.Softmax(dim=1),)), "lenet.softmax-output"),
    (sequential(padding=0), "lenet.no-padding"),
])
def test_lenet5_mutants_fail(build, misconception):
    fails_with(checks.check_lenet5, probes(lenet5=build)["lenet5"], misconception)


def test_layers_kept_in_a_plain_list_have_no_parameters():
    class Unregistered(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [sequential()()]  # a Python list: PyTorch never sees the layers

        def forward(self, x):
            return self.layers[0](x)

    fails_with(checks.check_lenet5, probes(lenet5=Unregistered)["lenet5"],
               "lenet.unregistered-layers")


def reinitialized(init):
    def build():
        model = sequential()()
        for module in model:
            if isinstance(module, nn.Conv2d | nn.Linear):
                init(module)
        return model
    return build


@pytest.mark.parametrize("init", [
    lambda m: nn.init.xavier_uniform_(m.weight),
    lambda m: nn.init.kaiming_normal_(m.weight, nonlinearity="relu"),
    lambda m: nn.init.zeros_(m.bias),
    lambda m: nn.init.normal_(m.weight, std=0.01),
], ids=["xavier", "kaiming-normal", "zero-bias", "normal-0.01"])
def test_lenet5_must_keep_the_default_initialization(init):
    """The task asks for PyTorch's default initialization: the visible check sees it."""
    message = fails_with(checks.check_lenet5, probes(lenet5=reinitialized(init))["lenet5"],
                         "lenet.custom-init")
    assert "lenet5: the initial" in message


@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_the_default_initialization_passes_at_every_seed(seed):
    torch.manual_seed(seed)
    model = lenet5()
    names = [n for n, _ in model.named_parameters()]
    checks._check_initialization(names, [p.detach().double().numpy()
                                         for p in model.parameters()])


def test_wrong_layer_types_fail():
    def build():  # fully connected layers as 1×1 convolutions: same count, other layers
        model = sequential()()
        model[7] = nn.Conv2d(400, 120, 1)
        return nn.Sequential(*model[:7], nn.Unflatten(1, (400, 1, 1)), model[7], nn.Flatten(),
                             *model[8:])

    fails(checks.check_lenet5, probes(lenet5=build)["lenet5"], "(120, 400, 1, 1) in Conv2d")


def test_a_detached_forward_fails_on_gradients():
    class Detached(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = sequential()()

        def forward(self, x):
            features = self.net[:7](x).detach()  # cuts the convolutions off the graph
            return self.net[7:](features)

    fails_with(checks.check_lenet5, probes(lenet5=Detached)["lenet5"], "lenet.detached-graph")


def test_a_model_that_cannot_learn_fails_the_training_check():
    def build():
        model = sequential()()
        for p in model.parameters():
            nn.init.zeros_(p)  # every unit alike, and ReLU(0) has no gradient: nothing learns
        return model

    torch.set_num_threads(1)
    fails(checks.check_lenet5_trains, probes(lenet5=build)["training"], "validation accuracy")


# ---------------------------------------------------------------- train_one_epoch mutants


def epoch_mutant(*, train=True, zero_grad=True, shuffle=True, reduction="mean",
                 batch_means=False, percent=False):
    def mutant(model, X, y, optimizer, batch_size=64, seed=0):
        if train:
            model.train()
        order = (torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
                 if shuffle else torch.arange(len(X)))
        losses, sizes, correct = [], [], 0
        for batch in order.split(batch_size):
            if zero_grad:
                optimizer.zero_grad()
            logits = model(X[batch])
            loss = F.cross_entropy(logits, y[batch], reduction=reduction)
            loss.backward()
            optimizer.step()
            mean = loss.item() / (len(batch) if reduction == "sum" else 1)
            losses.append(mean)
            sizes.append(len(batch))
            correct += int((logits.argmax(1) == y[batch]).sum())
        total = (sum(losses) / len(losses) if batch_means
                 else sum(m * s for m, s in zip(losses, sizes, strict=True)) / len(X))
        return total, correct / len(X) * (100 if percent else 1)
    return mutant


def last_batch_loss(model, X, y, optimizer, batch_size=64, seed=0):
    model.train()
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    correct = 0
    for batch in order.split(batch_size):
        optimizer.zero_grad()
        logits = model(X[batch])
        loss = F.cross_entropy(logits, y[batch])
        loss.backward()
        optimizer.step()
        correct += int((logits.argmax(1) == y[batch]).sum())
    return loss.item(), correct / len(X)


@pytest.mark.parametrize("mutant, misconception", [
    (epoch_mutant(train=False), "train-epoch.eval-mode"),
    (epoch_mutant(zero_grad=False), "train-epoch.no-zero-grad"),
    (epoch_mutant(shuffle=False), "train-epoch.unseeded-order"),
    (epoch_mutant(reduction="sum"), "train-epoch.summed-loss"),
    (epoch_mutant(batch_means=True), "mean-loss.batch-means"),
    (epoch_mutant(percent=True), "accuracy.percentage"),
    (last_batch_loss, "mean-loss.last-batch"),
])
def test_train_one_epoch_mutants_fail(mutant, misconception):
    fails_with(checks.check_train_one_epoch, probes(train_one_epoch=mutant)["epoch"],
               misconception)


def test_an_epoch_that_returns_nothing_fails():
    def no_return(model, X, y, optimizer, batch_size=64, seed=0):
        train_one_epoch(model, X, y, optimizer, batch_size, seed)

    fails(checks.check_train_one_epoch, probes(train_one_epoch=no_return)["epoch"],
          "return a pair")


def test_an_epoch_that_steps_before_backward_fails():
    def early_step(model, X, y, optimizer, batch_size=64, seed=0):
        model.train()
        order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
        for batch in order.split(batch_size):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(X[batch]), y[batch])
            optimizer.step()  # before backward: the gradients are still None
            loss.backward()
        return 0.0, 0.0

    fails(checks.check_train_one_epoch, probes(train_one_epoch=early_step)["epoch"])


# ---------------------------------------------------------------- evaluate mutants


def evaluate_mutant(*, eval_mode=True, no_grad=True, batch_means=False, whole=False):
    def mutant(model, X, y, batch_size=1000):
        if eval_mode:
            model.eval()
        size = len(X) if whole else batch_size
        with torch.no_grad() if no_grad else torch.enable_grad():
            parts = [(model(X[i:i + size]), y[i:i + size]) for i in range(0, len(X), size)]
            losses = [F.cross_entropy(logits, labels) for logits, labels in parts]
            correct = sum(int((logits.argmax(1) == labels).sum()) for logits, labels in parts)
            if batch_means:
                loss = sum(v.item() for v in losses) / len(losses)
            else:
                loss = sum(v.item() * len(labels) for v, (_, labels) in
                           zip(losses, parts, strict=True)) / len(X)
        return loss, correct / len(X)
    return mutant


def evaluate_total(model, X, y, batch_size=1000):
    loss, accuracy = evaluate(model, X, y, batch_size)
    return loss * len(X), accuracy


def evaluate_percent(model, X, y, batch_size=1000):
    loss, accuracy = evaluate(model, X, y, batch_size)
    return loss, 100 * accuracy


@pytest.mark.parametrize("mutant, misconception", [
    (evaluate_mutant(eval_mode=False), "evaluate.train-mode"),
    (evaluate_mutant(no_grad=False), "evaluate.autograd-on"),
    (evaluate_mutant(batch_means=True), "mean-loss.batch-means"),
    (evaluate_mutant(whole=True), "evaluate.whole-set-at-once"),
    (evaluate_total, "mean-loss.not-divided"),
    (evaluate_percent, "accuracy.percentage"),
])
def test_evaluate_mutants_fail(mutant, misconception):
    fails_with(checks.check_evaluate, probes(evaluate=mutant)["evaluate"], misconception)


def test_evaluate_names_the_value_that_differs():
    fails(checks.check_evaluate, probes(evaluate=evaluate_percent)["evaluate"],
          "evaluate: the accuracy: expected")


def test_the_mutants_are_right_when_nothing_distinguishes_them():
    # The batch-means mutant is only wrong when batches differ in size.
    checks.check_evaluate(probes(evaluate=evaluate_mutant(batch_means=True))["evaluate"],
                          n=40, batch_size=20)


# ---------------------------------------------------------------- CourseAdam mutants


def adam_mutant(*, bias_correction=True, eps_inside=False, skip_none=True,
                use_group_lr=True, names=("step", "exp_avg", "exp_avg_sq"), shared_step=False,
                base=torch.optim.Optimizer, returns_closure=True, eps_hat=False,
                corrected_state=False, betas_swapped=False):
    class Mutant(base):
        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
            defaults = {"lr": lr, "betas": betas, "eps": eps}
            if base is object:
                self.param_groups = [{"params": list(params), **defaults}]
                self.state, self.defaults = {}, defaults
            else:
                super().__init__(params, defaults)
            self.calls = 0

        @torch.no_grad()
        def step(self, closure=None):
            loss = None
            if closure is not None and returns_closure:
                with torch.enable_grad():
                    loss = closure()
            self.calls += 1
            for group in self.param_groups:
                beta1, beta2 = group["betas"][::-1] if betas_swapped else group["betas"]
                lr = group["lr"] if use_group_lr else self.defaults["lr"]
                for p in group["params"]:
                    grad = p.grad
                    if grad is None:
                        if skip_none:
                            continue
                        grad = torch.zeros_like(p)
                    state = self.state.setdefault(p, {})
                    if not state:
                        state.update({names[0]: 0, names[1]: torch.zeros_like(p),
                                      names[2]: torch.zeros_like(p)})
                    state[names[0]] = self.calls if shared_step else state[names[0]] + 1
                    t = state[names[0]] if bias_correction else 10**9
                    m, v = state[names[1]], state[names[2]]
                    m.mul_(beta1).add_(grad, alpha=1 - beta1)
                    v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                    if eps_hat:  # TensorFlow's: ε̂ on √v, the corrections in the step size
                        step_size = lr * (1 - beta2**t) ** 0.5 / (1 - beta1**t)
                        p.sub_(step_size * m / (v.sqrt() + group["eps"]))
                    else:
                        v_hat = v / (1 - beta2**t)
                        denom = (v_hat + group["eps"]).sqrt() if eps_inside else \
                            v_hat.sqrt() + group["eps"]
                        p.sub_(lr * m / (1 - beta1**t) / denom)
                    if corrected_state:  # keeps m̂ instead of m
                        state[names[1]] = m / (1 - beta1**t)
            return loss
    return Mutant


GROUPS = {"shapes": ((3,), (4,)), "groups": [{"params": [0], "lr": 0.2}, {"params": [1]}]}


@pytest.mark.parametrize("mutant, kwargs, misconception", [
    (adam_mutant(bias_correction=False), {}, "course-adam.no-bias-correction"),
    (adam_mutant(betas_swapped=True), {}, "course-adam.betas-swapped"),
    (adam_mutant(eps_inside=True), {"eps": 0.1}, "course-adam.eps-inside-root"),
    (adam_mutant(eps_hat=True), {"eps": 0.1}, "course-adam.epsilon-hat"),
    (adam_mutant(skip_none=False), {"missing": {0: (3,)}}, "course-adam.grad-none-not-skipped"),
    (adam_mutant(use_group_lr=False), GROUPS, "course-adam.ignores-group-options"),
    (adam_mutant(names=("t", "m", "v")), {}, "course-adam.state-names"),
    (adam_mutant(shared_step=True), {"missing": {1: (2,)}}, "course-adam.step-count"),
    (adam_mutant(base=object), {}, "course-adam.not-an-optimizer"),
    (adam_mutant(corrected_state=True), {}, "course-adam.corrected-state"),
    (adam_mutant(returns_closure=False), {"closure": True}, "course-adam.closure-ignored"),
])
def test_course_adam_mutants_fail(mutant, kwargs, misconception):
    fails_with(checks.check_course_adam, probes(CourseAdam=mutant)["adam"], misconception,
               **kwargs)


@pytest.mark.parametrize("mutant, misconception", [
    (adam_mutant(skip_none=False), "course-adam.grad-none-not-skipped"),
    (adam_mutant(use_group_lr=False), "course-adam.ignores-group-options"),
    (adam_mutant(shared_step=True), "course-adam.step-count"),
    (adam_mutant(returns_closure=False), "course-adam.closure-ignored"),
    (adam_mutant(eps_hat=True), "course-adam.epsilon-hat"),
])
def test_the_visible_course_adam_call_checks_groups_gradients_and_closure(mutant,
                                                                         misconception):
    """The notebook's visible call has one group, every gradient and no closure: the run the
    check adds catches what those arguments would not."""
    message = fails_with(checks.check_course_adam, probes(CourseAdam=mutant)["adam"],
                         misconception)
    assert "CourseAdam (parameter groups, missing gradients, step(closure))" in message


def test_course_adam_with_other_defaults_fails():
    class Eager(CourseAdam):
        def __init__(self, params, lr=1e-2, betas=(0.9, 0.999), eps=1e-8):
            super().__init__(params, lr, betas, eps)

    class Keras(CourseAdam):
        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-7):
            super().__init__(params, lr, betas, eps)

    fails(checks.check_course_adam, probes(CourseAdam=Eager)["adam"], "default lr")
    fails_with(checks.check_course_adam, probes(CourseAdam=Keras)["adam"],
               "course-adam.keras-defaults")


# ---------------------------------------------------------------- on a GPU


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="no CUDA device here: the GPU path runs where one is present")
def test_the_loops_give_the_cpu_numbers_on_a_gpu():
    torch.manual_seed(0)
    x, y = torch.randn(300, 1, 28, 28), torch.randint(0, 10, (300,))
    results = {}
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        model = lenet5().double().to(device)
        optimizer = CourseAdam(model.parameters(), lr=1e-3)
        epoch = train_one_epoch(model, x.double().to(device), y.to(device), optimizer, 32, 1)
        results[device] = (*epoch, *evaluate(model, x.double().to(device), y.to(device), 64))
    assert results["cuda"] == pytest.approx(results["cpu"], rel=1e-6)


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("check, kwargs, shown", [
    (checks.check_lenet5, {"batch": 0}, "batch=0"),
    (checks.check_lenet5, {"scale": 0.0}, "scale=0.0"),
    (checks.check_lenet5, {"seed": -1}, "seed=-1"),
    (checks.check_lenet5_trains, {"lr": 0.0}, "lr=0.0"),
    (checks.check_lenet5_trains, {"epochs": 0}, "epochs=0"),
    (checks.check_lenet5_trains, {"threshold": 1.5}, "threshold=1.5"),
    (checks.check_lenet5_trains, {"n_train": 0}, "n_train=0"),
    (checks.check_train_one_epoch, {"batch_size": 1}, "batch_size=1"),
    (checks.check_train_one_epoch, {"n": 49}, "n=49"),
    (checks.check_train_one_epoch, {"classes": 1}, "classes=1"),
    (checks.check_train_one_epoch, {"momentum": 1.0}, "momentum=1.0"),
    (checks.check_train_one_epoch, {"lr": -0.1}, "lr=-0.1"),
    (checks.check_evaluate, {"dropout": 1.0}, "dropout=1.0"),
    (checks.check_evaluate, {"batch_size": 0}, "batch_size=0"),
    (checks.check_evaluate, {"n": 0}, "n=0"),
    (checks.check_course_adam, {"steps": 0}, "steps=0"),
    (checks.check_course_adam, {"shapes": ()}, "shapes=()"),
    (checks.check_course_adam, {"lr": 0.0}, "lr=0.0"),
    (checks.check_course_adam, {"betas": (0.9,)}, "betas=(0.9,)"),
    (checks.check_course_adam, {"betas": (0.9, 1.0)}, "betas=(0.9, 1.0)"),
    (checks.check_course_adam, {"eps": -1e-8}, "eps=-1e-08"),
    (checks.check_course_adam, {"weight_decay": 0.1}, "weight_decay=0.1"),
    (checks.check_course_adam, {"groups": [{"params": [0]}]}, "groups="),
    (checks.check_course_adam, {"groups": [{"params": [0], "lr": -1.0}, {"params": [1]}]},
     "a group's lr=-1.0"),
    (checks.check_course_adam, {"missing": {5: (1,)}}, "missing={5: (1,)}"),
    (checks.check_course_adam, {"missing": {0: (0,)}}, "missing={0: (0,)}"),
    (checks.check_course_adam, {"closure": "yes"}, "closure='yes'"),
])
def test_bad_arguments_are_refused_before_the_probe_runs(check, kwargs, shown):
    assert_refused(check, kwargs, shown)


# ---------------------------------------------------------------- generic wrong answers


def _teaches(message: str, name: str) -> None:
    assert_teaches(message, name, ("expected", "return", "cannot be read", "None", "shape",
                                   "has no", "—"))


LOOP_RESULTS = {
    "None": lambda loss, acc: None,
    "a string": lambda loss, acc: "done",
    "a dict": lambda loss, acc: {"loss": loss, "accuracy": acc},
    "a triple": lambda loss, acc: (loss, acc, 0),
    "NaN": lambda loss, acc: (math.nan, math.nan),
    "accuracy NaN": lambda loss, acc: (loss, math.nan),
    "a list for the loss": lambda loss, acc: ([loss, loss], acc),
    "a one-element list": lambda loss, acc: ([loss], acc),
    "a string for the accuracy": lambda loss, acc: (loss, "high"),
    "negated": lambda loss, acc: (-loss, -acc),
    "loss scaled by 1.01": lambda loss, acc: (1.01 * loss, acc),
    "accuracy scaled by 1.01": lambda loss, acc: (loss, 1.01 * acc + 1e-3),
    "a constant": lambda loss, acc: (0.5, 0.5),
}


@pytest.mark.parametrize("wrong", LOOP_RESULTS)
@pytest.mark.parametrize("name", ["train_one_epoch", "evaluate"])
def test_generic_wrong_loop_results_fail_with_a_teaching_message(name, wrong):
    answer = {"train_one_epoch": train_one_epoch, "evaluate": evaluate}[name]

    def student(*args, **kwargs):
        return LOOP_RESULTS[wrong](*answer(*args, **kwargs))

    found = probes(**{name: student})
    check, probe = ((checks.check_train_one_epoch, found["epoch"]) if name == "train_one_epoch"
                    else (checks.check_evaluate, found["evaluate"]))
    with pytest.raises(AssertionError) as error:
        check(probe)
    _teaches(str(error.value), name)


OUTPUTS = {
    "NaN": lambda out: torch.full_like(out, math.nan),
    "nine classes": lambda out: out[:, :9],
    "an extra axis": lambda out: out[:, None, :],
    "negated": lambda out: -out,
    "scaled by 1.01": lambda out: 1.01 * out,
    "a constant": lambda out: torch.zeros_like(out),
}


@pytest.mark.parametrize("wrong", OUTPUTS)
def test_generic_wrong_outputs_of_lenet5_fail_with_a_teaching_message(wrong):
    class Wrong(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = lenet5()

        def forward(self, x):
            return OUTPUTS[wrong](self.net(x))

    with pytest.raises(AssertionError) as error:
        checks.check_lenet5(probes(lenet5=Wrong)["lenet5"])
    _teaches(str(error.value), "lenet5")


def adam_after(change):
    """The model answer's CourseAdam, its parameters (or state) changed after every step."""
    class Wrong(CourseAdam):
        @torch.no_grad()
        def step(self, closure=None):
            old = [p.detach().clone() for g in self.param_groups for p in g["params"]]
            loss = super().step(closure)
            params = [p for g in self.param_groups for p in g["params"]]
            for p, before in zip(params, old, strict=True):
                change(p, before, self.state[p])
            return loss
    return Wrong


ADAM_CHANGES = {
    "no update": lambda p, before, state: p.copy_(before),
    "the update negated": lambda p, before, state: p.copy_(2 * before - p),
    "the update scaled by 1.01": lambda p, before, state: p.copy_(before + 1.01 * (p - before)),
    "NaN": lambda p, before, state: p.fill_(math.nan),
    "the state emptied": lambda p, before, state: state.clear(),
    "step off by a half": lambda p, before, state: state.update(step=state["step"] + 0.5),
    "exp_avg negated": lambda p, before, state: state["exp_avg"].neg_(),
    "exp_avg_sq scaled": lambda p, before, state: state["exp_avg_sq"].mul_(1.01),
    "step constant": lambda p, before, state: state.update(step=7),
}


@pytest.mark.parametrize("wrong", ADAM_CHANGES)
def test_generic_wrong_optimizers_fail_with_a_teaching_message(wrong):
    # (State that the optimizer itself cannot read back, a string for a step, makes the
    # student's own step() raise: that error is theirs, and propagates.)
    with pytest.raises(AssertionError) as error:
        checks.check_course_adam(probes(CourseAdam=adam_after(ADAM_CHANGES[wrong]))["adam"])
    _teaches(str(error.value), "CourseAdam")


@pytest.mark.parametrize("default", [{"lr": "fast"}, {"betas": (0.9, 0.999, 0.5)},
                                     {"betas": 0.9}, {"eps": None}])
def test_wrong_defaults_fail_with_a_teaching_message(default):
    class Wrong(CourseAdam):
        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
            super().__init__(params, lr, betas, eps)
            self.defaults = {**self.defaults, **default}  # what the probe reads

    found = probes(CourseAdam=Wrong)["adam"]
    message = fails(checks.check_course_adam, found, "CourseAdam: the default")
    assert "expected" in message


class _NoOutput(torch.nn.Module):
    def forward(self, x):
        return None


@pytest.mark.parametrize("build, needle", [
    (lambda: "a string", "not an nn.Module"),
    (_NoOutput, "lenet5: "),  # (the layers are checked first: it has none)
    (lambda: torch.nn.Flatten(0), "lenet5: "),
])
def test_a_model_that_is_not_one_fails_with_an_assertion(build, needle):
    fails(checks.check_lenet5, probes(lenet5=build)["lenet5"], needle)


# ---------------------------------------------------------------- the update-to-weight ratio


@pytest.mark.parametrize("kwargs", [{}, {"seed": 5, "lr": 1e-6}, {"lr": 3.0, "momentum": 0.9}])
def test_update_to_weight_ratios_passes(kwargs):
    checks.check_update_to_weight_ratios(answers.update_to_weight_ratios, **kwargs)


def test_update_to_weight_ratios_stub_raises():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        checks.check_update_to_weight_ratios(stub)


def test_update_ratio_of_plain_sgd_is_lr_times_gradient_over_weight():
    """The oracle's ratios against the prediction η‖g‖/‖θ‖ of the task, with the gradients
    recomputed independently (autograd on the same model and data)."""
    before, after, ratios = checks.update_ratio_step(7, 0.05)
    model = checks._ratio_model(7, 20, 16, 10)
    generator = torch.Generator().manual_seed(8)
    x = torch.randn(32, 20, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 10, (32,), generator=generator)
    F.cross_entropy(model(x), y).backward()
    for name, p in model.named_parameters():
        size = np.linalg.norm(before[name])
        if size:
            assert ratios[name] == pytest.approx(0.05 * float(p.grad.norm()) / size, rel=1e-9)
        else:
            assert ratios[name] == math.inf


def ratio_after(before, after):
    out = answers.update_to_weight_ratios(before, after)
    return {k: (v if math.isinf(v) else float(np.linalg.norm(after[k] - before[k])
                                              / np.linalg.norm(after[k]))) for k, v in out.items()}


def ratio_of_norms(before, after):
    out = answers.update_to_weight_ratios(before, after)
    return {k: (v if math.isinf(v) else float(abs(np.linalg.norm(after[k])
                                                  - np.linalg.norm(before[k]))
                                              / np.linalg.norm(before[k])))
            for k, v in out.items()}


def ratio_squared(before, after):
    return {k: v if math.isinf(v) else v**2
            for k, v in answers.update_to_weight_ratios(before, after).items()}


def ratio_mean_abs(before, after):
    out = answers.update_to_weight_ratios(before, after)
    return {k: (v if math.isinf(v) else float(np.mean(np.abs(after[k] - before[k]))
                                              / np.mean(np.abs(before[k]))))
            for k, v in out.items()}


def ratio_nan_at_zero(before, after):
    return {k: float(np.linalg.norm(after[k] - before[k]) / np.linalg.norm(before[k]))
            if np.linalg.norm(before[k]) else math.nan for k in before}


def ratio_global(before, after):
    change = sum(np.sum((after[k] - before[k]) ** 2) for k in before)
    return float(np.sqrt(change / sum(np.sum(before[k] ** 2) for k in before)))


def ratio_in_place(before, after):
    out = answers.update_to_weight_ratios(before, after)
    for value in before.values():
        value *= 2
    return out


@pytest.mark.parametrize("mutant, expected", [
    (ratio_after, "update-ratio.after-norm"),
    (ratio_of_norms, "update-ratio.change-of-norm"),
    (ratio_squared, "update-ratio.squared"),
    (ratio_mean_abs, "update-ratio.mean-abs"),
    (ratio_nan_at_zero, "update-ratio.zero-norm"),
    (ratio_global, "return a dict"),
    (ratio_in_place, "modified in place"),
])
def test_update_ratio_mistakes_are_named(mutant, expected):
    fails_as(checks.check_update_to_weight_ratios, expected, mutant)


GENERIC_RATIOS = {
    "None": lambda out: None,
    "a string": lambda out: "wrong",
    "a list": lambda out: list(out.values()),
    "a key missing": lambda out: dict(list(out.items())[1:]),
    "an extra key": lambda out: {**out, "extra": 1.0},
    "NaN": lambda out: dict.fromkeys(out, math.nan),
    "strings": lambda out: dict.fromkeys(out, "x"),
    "arrays": lambda out: {k: np.array([v, v]) for k, v in out.items()},
    "negated": lambda out: {k: -v for k, v in out.items()},
    "scaled by 1.01": lambda out: {k: 1.01 * v for k, v in out.items()},
}


@pytest.mark.parametrize("change", GENERIC_RATIOS)
def test_update_ratio_generic_wrong_answers_teach(change):
    def answer(before, after):
        return GENERIC_RATIOS[change](answers.update_to_weight_ratios(before, after))

    assert_teaches(failure(checks.check_update_to_weight_ratios, answer),
                   "update_to_weight_ratios")


@pytest.mark.parametrize("kwargs", [{"lr": 0.0}, {"momentum": 1.0}, {"seed": -2}])
def test_update_ratio_bad_arguments_are_refused(kwargs):
    assert_refused(checks.check_update_to_weight_ratios, kwargs)

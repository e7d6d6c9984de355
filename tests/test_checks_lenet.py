"""The chapter 09 checks accept the model answers and reject plausible mistakes.

Each mutant is run through the same probes (descent.lab.probes) the notebook's setup cell
makes, so what the checks see here is what they see through the grader's sandbox.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
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
    with pytest.raises(AssertionError) as error:
        check(probe, **kwargs)
    for needle in needles:
        assert needle in str(error.value), str(error.value)
    return str(error.value)


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


@pytest.mark.parametrize("build, needle", [
    (sequential(pool=nn.AvgPool2d), "average pooling"),
    (sequential(act=nn.Tanh), "tanh"),
    (sequential(act=nn.Sigmoid), "sigmoid"),
    (sequential(fc_act=False), "no ReLU between the fully connected"),
    (sequential(tail=(nn.ReLU,)), "a ReLU after the last layer"),
    (sequential(tail=(lambda: nn.Softmax(dim=1),)), "softmax"),
    (sequential(padding=0), "padding=2"),
])
def test_lenet5_mutants_fail(build, needle):
    fails(checks.check_lenet5, probes(lenet5=build)["lenet5"], needle)


def test_layers_kept_in_a_plain_list_have_no_parameters():
    class Unregistered(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [sequential()()]  # a Python list: PyTorch never sees the layers

        def forward(self, x):
            return self.layers[0](x)

    fails(checks.check_lenet5, probes(lenet5=Unregistered)["lenet5"], "no parameters")


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

    fails(checks.check_lenet5, probes(lenet5=Detached)["lenet5"], "no gradient reaches")


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


@pytest.mark.parametrize("mutant, needle", [
    (epoch_mutant(train=False), "model.train()"),
    (epoch_mutant(zero_grad=False), "zero_grad"),
    (epoch_mutant(shuffle=False), "seeded random order"),
    (epoch_mutant(reduction="sum"), "summed over the batch"),
    (epoch_mutant(batch_means=True), "mean of the batch losses"),
    (epoch_mutant(percent=True), "not a percentage"),
])
def test_train_one_epoch_mutants_fail(mutant, needle):
    fails(checks.check_train_one_epoch, probes(train_one_epoch=mutant)["epoch"], needle)


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


@pytest.mark.parametrize("mutant, needle", [
    (evaluate_mutant(eval_mode=False), "model.eval()"),
    (evaluate_mutant(no_grad=False), "torch.no_grad()"),
    (evaluate_mutant(batch_means=True), "mean of the batch means"),
    (evaluate_mutant(whole=True), "batches of at most"),
])
def test_evaluate_mutants_fail(mutant, needle):
    fails(checks.check_evaluate, probes(evaluate=mutant)["evaluate"], needle)


def test_the_mutants_are_right_when_nothing_distinguishes_them():
    # The batch-means mutant is only wrong when batches differ in size.
    checks.check_evaluate(probes(evaluate=evaluate_mutant(batch_means=True))["evaluate"],
                          n=40, batch_size=20)


# ---------------------------------------------------------------- CourseAdam mutants


def adam_mutant(*, bias_correction=True, eps_inside=False, skip_none=True,
                use_group_lr=True, names=("step", "exp_avg", "exp_avg_sq"), shared_step=False,
                base=torch.optim.Optimizer, returns_closure=True):
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
                beta1, beta2 = group["betas"]
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
                    v_hat = v / (1 - beta2**t)
                    denom = (v_hat + group["eps"]).sqrt() if eps_inside else \
                        v_hat.sqrt() + group["eps"]
                    p.sub_(lr * m / (1 - beta1**t) / denom)
            return loss
    return Mutant


GROUPS = {"shapes": ((3,), (4,)), "groups": [{"params": [0], "lr": 0.2}, {"params": [1]}]}


@pytest.mark.parametrize("mutant, kwargs, needle", [
    (adam_mutant(bias_correction=False), {}, "no bias correction"),
    (adam_mutant(eps_inside=True), {"eps": 0.1}, "step 1"),
    (adam_mutant(skip_none=False), {"missing": {0: (3,)}}, "skip it"),
    (adam_mutant(use_group_lr=False), GROUPS, "group's own lr"),
    (adam_mutant(names=("t", "m", "v")), {}, "PyTorch's names"),
    (adam_mutant(shared_step=True), {"missing": {1: (2,)}}, "own updates"),
    (adam_mutant(base=object), {}, "not a torch.optim.Optimizer"),
    (adam_mutant(returns_closure=False), {"closure": True}, "closure"),
])
def test_course_adam_mutants_fail(mutant, kwargs, needle):
    fails(checks.check_course_adam, probes(CourseAdam=mutant)["adam"], needle, **kwargs)


def test_course_adam_with_other_defaults_fails():
    class Eager(CourseAdam):
        def __init__(self, params, lr=1e-2, betas=(0.9, 0.999), eps=1e-8):
            super().__init__(params, lr, betas, eps)

    fails(checks.check_course_adam, probes(CourseAdam=Eager)["adam"], "default lr")


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

"""The mistakes the chapter 05 checks name (:mod:`descent.checks.optimizers`), one
misconception each, grouped by the rule and the section of chapter 05 that explains them.
A check's hints refer to them as ``mistake.<NAME>``.

Chapter 05 is two pages: ``book/05_optimizers.md`` (the shared table and interface, momentum,
Nesterov and their theory) and ``book/05_adaptive.md`` (the adaptive rules, the race, the
blog's errata, the conventions). A mistake links to the page that holds its section.
"""

from __future__ import annotations

from descent.checks.misconceptions import misconception

PAGE = "05_optimizers"
ADAPTIVE_PAGE = "05_adaptive"
#: The sections of chapter 05's second page.
ADAPTIVE_SECTIONS = frozenset({
    "Adagrad", "Adadelta", "RMSprop", "Adam", "AdaMax", "Nadam", "AMSGrad", "Delta-bar-delta",
    "Annealed gradient noise", "The race", "Errata: the comparison blog's code",
    "Reproducing the comparison", "Where conventions differ"})


def page_of(section: str) -> str:
    """The page of chapter 05 that holds ``section``."""
    return ADAPTIVE_PAGE if section in ADAPTIVE_SECTIONS else PAGE


def _mistake(id: str, text: str, section: str):
    return misconception(id, text, page=page_of(section), section=section)

_INTERFACE = "One interface for every rule"
HARD_CODED = _mistake(
    "interface.hard-coded-hyper-parameter",
    "a hyper-parameter is a constant in your code: use the argument the function is given "
    "(its default belongs in the signature only)", section=_INTERFACE)
DEFAULTS = _mistake(
    "interface.defaults",
    "a default in the signature differs from the task's: give every hyper-parameter the "
    "default the task states (PyTorch's, where PyTorch has the rule)", section=_INTERFACE)
STEP_NOT_STORED = _mistake(
    "interface.step-not-stored",
    "state['step'] is the number of updates done: increment it first (1 after the first call) "
    "and return it in the new state", section=_INTERFACE)

MOMENTUM_BUFFER = _mistake(
    "momentum.pytorch-buffer",
    "you stored PyTorch's buffer b ← μb + g; the course's velocity includes η: v ← μv + ηg "
    "(v = η·b), then θ ← θ − v", section="Momentum")
MOMENTUM_NO_LR = _mistake(
    "momentum.buffer-without-lr",
    "the velocity includes the learning rate: v ← μv + ηg (you wrote PyTorch's buffer "
    "b ← μb + g and stepped by it without η)", section="Momentum")
MOMENTUM_LR_TWICE = _mistake(
    "momentum.lr-twice",
    "the velocity already includes η: θ ← θ − v, not θ − η·v", section="Momentum")
MOMENTUM_DAMPENED = _mistake(
    "momentum.dampened",
    "PyTorch's momentum has no (1 − μ) factor, and neither has the course's: v ← μv + ηg",
    section="Momentum")
MOMENTUM_SIGN = _mistake(
    "momentum.wrong-sign",
    "subtract the step: the velocity points uphill, like g, so θ ← θ − v", section="Momentum")
MOMENTUM_NO_VELOCITY = _mistake(
    "momentum.no-velocity",
    "the step forgot the velocity, which is plain gradient descent θ − ηg: step by "
    "v ← μv + ηg", section="Momentum")
MOMENTUM_OLD_VELOCITY = _mistake(
    "momentum.old-velocity-stored",
    "store the updated velocity v ← μv + ηg, not the one you were given", section="Momentum")
MOMENTUM_VELOCITY_SIGN = _mistake(
    "momentum.velocity-sign",
    "the stored velocity has the wrong sign: the course's v ← μv + ηg points uphill, like g, "
    "and θ ← θ − v (Keras and Wikipedia keep −v and add it)", section="Momentum")

_NESTEROV = "Nesterov accelerated gradient"
NESTEROV_CLASSICAL = _mistake(
    "nesterov.classical-momentum",
    "θ moved by classical momentum's step μ·v_old + ηg: Nesterov steps by μv + ηg with the "
    "UPDATED velocity v", section=_NESTEROV)
NESTEROV_STORES_STEP = _mistake(
    "nesterov.stores-step",
    "store the velocity v ← μv + ηg, not the step μv + ηg you took", section=_NESTEROV)

ADAGRAD_EPS_INSIDE = _mistake(
    "adagrad.eps-inside-root",
    "ε goes outside the root, √s + ε, as in torch.optim.Adagrad and the lecture notes "
    "(Ruder's overview writes √(G + ε), inside)", section="Adagrad")
ADAGRAD_OLD_SUM = _mistake(
    "adagrad.old-sum",
    "add g² to the sum s first, then divide by √s with the updated s", section="Adagrad")
ADAGRAD_NO_ROOT = _mistake(
    "adagrad.no-root", "divide by the square ROOT of the sum: √s + ε", section="Adagrad")
ADAGRAD_LAST_SQUARE = _mistake(
    "adagrad.last-square-only",
    "s is the running SUM of all past g²: add g² to the previous s", section="Adagrad")
ADAGRAD_NOT_SQUARED = _mistake(
    "adagrad.g-not-squared",
    "s sums the SQUARED gradients, s ← s + g² (a sum of g goes negative, and its root is "
    "NaN)", section="Adagrad")
ADAGRAD_SIGN = _mistake(
    "adagrad.wrong-sign", "subtract the step: θ ← θ − η·g/(√s + ε)", section="Adagrad")
ADAGRAD_INITIAL = _mistake(
    "adagrad.initial-accumulator",
    "s starts at 0 (torch.optim.Adagrad's initial_accumulator_value): this is Keras's sum, "
    "which starts at 0.1 (Keras also puts ε inside the root, where the course has √s + ε)",
    section="Adagrad")

ADADELTA_NO_LR = _mistake(
    "adadelta.no-lr",
    "multiply Δ by lr, θ ← θ − lr·Δ (PyTorch's factor; Zeiler's rule is lr = 1, the default)",
    section="Adadelta")
ADADELTA_EPS_OUTSIDE = _mistake(
    "adadelta.eps-outside-roots",
    "ε goes inside both roots: Δ = √(E[Δ²] + ε) / √(E[g²] + ε) · g", section="Adadelta")
ADADELTA_NO_NUMERATOR = _mistake(
    "adadelta.no-numerator",
    "the numerator √(E[Δ²] + ε) gives the step θ's units: without it this is RMSprop",
    section="Adadelta")
ADADELTA_SIGN = _mistake(
    "adadelta.wrong-sign", "subtract the step: θ ← θ − lr·Δ (Δ points uphill, like g)",
    section="Adadelta")
ADADELTA_RHO_SWAPPED = _mistake(
    "adadelta.rho-swapped",
    "ρ multiplies the old averages: E ← ρ·E + (1 − ρ)·(new value)", section="Adadelta")
ADADELTA_OLD_SQUARE = _mistake(
    "adadelta.old-square-avg",
    "update E[g²] first, then divide by √(E[g²] + ε) with the updated average",
    section="Adadelta")
ADADELTA_SCALED_DELTA = _mistake(
    "adadelta.lr-in-acc-delta",
    "average the squared update Δ, without lr: E[Δ²] ← ρE[Δ²] + (1 − ρ)Δ² (lr only scales "
    "the step θ takes)", section="Adadelta")
ADADELTA_ACC_NOT_UPDATED = _mistake(
    "adadelta.acc-delta-not-updated",
    "after computing Δ with the previous E[Δ²], update it: E[Δ²] ← ρE[Δ²] + (1 − ρ)Δ²",
    section="Adadelta")

RMSPROP_EPS_INSIDE = _mistake(
    "rmsprop.eps-inside-root",
    "ε goes outside the root, √s + ε, as in torch.optim.RMSprop (TensorFlow/Keras and some "
    "texts write √(s + ε))", section="RMSprop")
RMSPROP_ALPHA_SWAPPED = _mistake(
    "rmsprop.alpha-swapped",
    "α multiplies the OLD average: s ← α·s + (1 − α)·g²", section="RMSprop")
RMSPROP_NO_ONE_MINUS = _mistake(
    "rmsprop.no-one-minus-alpha",
    "the new g² is weighted by (1 − α): s ← α·s + (1 − α)·g² (a running sum of g² is "
    "AdaGrad's)", section="RMSprop")
RMSPROP_NO_ROOT = _mistake(
    "rmsprop.no-root", "divide by the square ROOT of the average: √s + ε", section="RMSprop")
RMSPROP_SIGN = _mistake(
    "rmsprop.wrong-sign", "subtract the step: θ ← θ − η·g/(√s + ε)", section="RMSprop")
RMSPROP_OLD_AVERAGE = _mistake(
    "rmsprop.old-average",
    "update s first, then divide by √s + ε with the updated average", section="RMSprop")
RMSPROP_NOT_SQUARED = _mistake(
    "rmsprop.g-not-squared",
    "s averages the SQUARED gradient, s ← α·s + (1 − α)·g² (an average of g goes negative, "
    "and its root is NaN)", section="RMSprop")

ADAM_NO_BIAS = _mistake(
    "adam.no-bias-correction",
    "is the bias correction applied? m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)", section="Adam")
ADAM_STEP_COUNT = _mistake(
    "adam-family.step-count",
    "t counts the updates done: increment step first (t = 1 at the first call), then use it "
    "in the bias corrections", section="Adam")
ADAM_STEP_BEFORE = _mistake(
    "adam-family.step-before-increment",
    "increment step first, then use it: t = 1 at the first call (with t = 0, 1 − β₁ᵗ = 0 and "
    "the step divides by 0)", section="Adam")
ADAM_BETAS_SWAPPED = _mistake(
    "adam-family.betas-swapped",
    "β₁ belongs to m (the average of g) and β₂ to v (the average of g², or AdaMax's u)",
    section="Adam")
ADAM_STORES_M_HAT = _mistake(
    "adam-family.stores-m-hat",
    "store m itself; the bias correction m/(1 − β₁ᵗ) is only used in the step",
    section="Adam")
ADAM_STORES_V_HAT = _mistake(
    "adam-family.stores-v-hat",
    "store v itself; the bias correction v/(1 − β₂ᵗ) is only used in the step",
    section="Adam")
ADAM_V_NOT_SQUARED = _mistake(
    "adam-family.v-not-squared",
    "v averages the SQUARED gradient: v ← β₂v + (1 − β₂)g² (an average of g goes negative, "
    "and √v is NaN there)", section="Adam")
ADAM_SIGN = _mistake(
    "adam-family.wrong-sign",
    "subtract the step: m points uphill, like g, so θ ← θ − η·m̂/(√v̂ + ε)", section="Adam")
ADAM_EPS_INSIDE = _mistake(
    "adam.eps-inside-root",
    "ε goes outside the root, √v̂ + ε, as in torch.optim.Adam", section="Adam")
ADAM_NO_ROOT = _mistake(
    "adam.no-root", "divide by the square ROOT of v̂: √v̂ + ε", section="Adam")
ADAM_KERAS = _mistake(
    "adam.keras-eps-hat",
    "this is Keras/TensorFlow's form, lr_t = η·√(1 − β₂ᵗ)/(1 − β₁ᵗ) with ε added to the "
    "UNcorrected root (their ε̂): PyTorch and the course add ε to the corrected root, "
    "θ ← θ − η·m̂/(√v̂ + ε)", section="Where conventions differ")

ADAMAX_NO_BIAS = _mistake(
    "adamax.no-bias-correction",
    "correct m's bias: θ ← θ − η/(1 − β₁ᵗ)·m/u (only m needs it)", section="AdaMax")
ADAMAX_U_CORRECTED = _mistake(
    "adamax.u-bias-corrected",
    "u needs no bias correction: θ ← θ − η/(1 − β₁ᵗ)·m/u", section="AdaMax")
ADAMAX_EPS_OUTSIDE = _mistake(
    "adamax.eps-outside-max",
    "ε goes inside the maximum: u ← max(β₂u, |g| + ε), not max(β₂u, |g|) + ε",
    section="AdaMax")
ADAMAX_NO_EPS = _mistake(
    "adamax.no-eps-in-u",
    "your u has no ε (or a far smaller one than the eps passed): u ← max(β₂u, |g| + ε), ε "
    "inside the maximum (the paper has no ε; Keras adds it in the step instead)",
    section="AdaMax")
ADAMAX_NO_ABS = _mistake(
    "adamax.no-abs", "take the absolute value: u ← max(β₂·u, |g| + ε)", section="AdaMax")
ADAMAX_NO_DECAY = _mistake(
    "adamax.u-not-decayed",
    "decay the old maximum by β₂: u ← max(β₂·u, |g| + ε)", section="AdaMax")

NADAM_CONSTANT_MU = _mistake(
    "nadam.constant-mu",
    "this is Nadam with a constant μ = β₁ (Ruder's form): the course follows PyTorch's "
    "schedule μₜ = β₁(1 − ½·0.96^(tψ)), for μₜ and μₜ₊₁ alike", section="Nadam")
NADAM_ADAM = _mistake(
    "nadam.adam-step",
    "this is Adam's step: Nadam mixes the gradient, weighted (1 − μₜ)/(1 − Π), with the "
    "look-ahead momentum μₜ₊₁·m/(1 − Π·μₜ₊₁)", section="Nadam")
NADAM_PRODUCT = _mistake(
    "nadam.mu-product",
    "Π is the running product μ₁·μ₂·…·μₜ: multiply the previous mu_product by μₜ",
    section="Nadam")
NADAM_MU_NEXT = _mistake(
    "nadam.mu-next",
    "the momentum term looks one step ahead, with μₜ₊₁: η·μₜ₊₁/(1 − Π·μₜ₊₁)·m/(√v̂ + ε)",
    section="Nadam")
NADAM_NO_BIAS = _mistake(
    "nadam.no-bias-correction",
    "v is corrected as in Adam, v̂ = v/(1 − β₂ᵗ) (m is corrected through Π)", section="Nadam")

AMSGRAD_ADAM = _mistake(
    "amsgrad.adam-step",
    "this is Adam's step: AMSGrad divides by the largest v so far, v_max ← max(v_max, v)",
    section="AMSGrad")
AMSGRAD_MAX_BEFORE = _mistake(
    "amsgrad.max-before-update",
    "take the maximum with the NEW v: update v first, then v_max ← max(v_max, v)",
    section="AMSGrad")
AMSGRAD_MAX_V_HAT = _mistake(
    "amsgrad.max-of-v-hat",
    "v_max ← max(v_max, v) is the maximum of the raw v: the bias correction divides it in "
    "the step only", section="AMSGrad")
AMSGRAD_NO_BIAS = _mistake(
    "amsgrad.no-bias-correction",
    "this is Reddi et al.'s rule, without bias correction: the course follows "
    "torch.optim.Adam(amsgrad=True), θ ← θ − η·m̂/(√(v_max/(1 − β₂ᵗ)) + ε)", section="AMSGrad")

_DBD = "Delta-bar-delta"
DBD_OLD_RATES = _mistake(
    "delta-bar-delta.old-rates",
    "step with the NEW rates: update η first, then θ ← θ − η⊙g", section=_DBD)
DBD_BAR_FIRST = _mistake(
    "delta-bar-delta.bar-updated-first",
    "compare g with δ̄ from BEFORE this step (update δ̄ last)", section=_DBD)
DBD_TIMES_PHI = _mistake(
    "delta-bar-delta.times-phi",
    "a sign flip multiplies the rate by (1 − φ), not by φ", section=_DBD)
DBD_MULTIPLICATIVE = _mistake(
    "delta-bar-delta.multiplicative-increase",
    "same sign: ADD a (kappa) to the rate (additive increase, multiplicative decrease)",
    section=_DBD)
DBD_SIGN = _mistake(
    "delta-bar-delta.wrong-sign", "subtract the step: θ ← θ − η⊙g", section=_DBD)
DBD_DECAY_SWAPPED = _mistake(
    "delta-bar-delta.decay-swapped",
    "δ̄ ← (1 − ρ)·g + ρ·δ̄ (ρ = decay): ρ multiplies the OLD average", section=_DBD)
DBD_BAR_IS_GRADIENT = _mistake(
    "delta-bar-delta.bar-is-last-gradient",
    "δ̄ is an average of past gradients: δ̄ ← (1 − ρ)·g + ρ·δ̄ (ρ = decay)", section=_DBD)

_NOISE = "Annealed gradient noise"
NOISE_VARIANCE_AS_STD = _mistake(
    "noisy-sgd.variance-as-std",
    "σₜ² = c/(1 + t)^p (c = eta, p = gamma) is the VARIANCE: scale ξ by its square root σₜ",
    section=_NOISE)
NOISE_WITHOUT_LR = _mistake(
    "noisy-sgd.noise-without-lr",
    "the noise is added to the gradient, so lr multiplies it too: θ ← θ − lr·(g + σₜξ)",
    section=_NOISE)
NOISE_T_OFF_BY_ONE = _mistake(
    "noisy-sgd.t-off-by-one",
    "t = step − 1 is 0 on the first call: σₜ² = c/(1 + t)^p (c = eta, p = gamma) and ξ of that t",
    section=_NOISE)
NOISE_SIGN = _mistake(
    "noisy-sgd.wrong-sign", "subtract the step: θ ← θ − lr·(g + σₜξ)", section=_NOISE)
NOISE_IGNORES_SEED = _mistake(
    "noisy-sgd.ignores-seed",
    "draw ξ from np.random.default_rng([seed, t]) with the seed argument", section=_NOISE)
NOISE_ONE_GENERATOR = _mistake(
    "noisy-sgd.one-generator",
    "a new generator per step: np.random.default_rng([seed, t]), not default_rng(seed) "
    "(which repeats the same ξ every step)", section=_NOISE)
NOISE_WRONG_STREAM = _mistake(
    "noisy-sgd.wrong-stream",
    "draw ξ from np.random.default_rng([seed, t]): the list [seed, t], in that order",
    section=_NOISE)

_REGIMES = "Polyak's optimal pair and the √κ speed-up"
HB_SWAPPED = _mistake(
    "heavy-ball.swapped",
    "return the pair in the order (η*, μ*): the learning rate first, the momentum second",
    section=_REGIMES)
HB_GD_STEP = _mistake(
    "heavy-ball.gd-step",
    "2/(λ_min + λ_max) is plain gradient descent's best step; with momentum the best step is "
    "larger, η* = 4/(√λ_max + √λ_min)², because momentum widens the stable range to "
    "η < 2(1 + μ)/λ_max", section=_REGIMES)
HB_ETA_NO_ROOTS = _mistake(
    "heavy-ball.eta-without-roots",
    "the best step adds the roots of the curvatures before squaring: η* = 4/(√λ_max + √λ_min)², "
    "not 4/(λ_max + λ_min)", section=_REGIMES)
HB_RATE_NOT_MU = _mistake(
    "heavy-ball.rate-for-momentum",
    "(√κ − 1)/(√κ + 1) is the rate the error shrinks by per step, r = √μ*; the momentum "
    "coefficient is its square, μ* = ((√κ − 1)/(√κ + 1))²", section=_REGIMES)
HB_KAPPA_NOT_ROOT = _mistake(
    "heavy-ball.kappa-not-root",
    "the momentum uses the square root of the condition number: μ* = ((√κ − 1)/(√κ + 1))², "
    "with κ it is plain descent's factor and far too large a momentum", section=_REGIMES)

"""Parity of adaopt with PyTorch's torch.optim, 200 steps, every algorithm and many options.

Run with Debian's interpreter (it sees python3-torch):  /usr/bin/python3 tests/parity/torch_parity.py

Each case drives adaopt (through the numpy binding) and torch.optim side by side on the same
random float32 tensors: three tensors in two parameter groups with different hyperparameters,
gradients of changing scale, one tensor's gradient missing on some steps (None: skipped), and
the learning rate changed at step 100.  At steps 1, 2, 10, 100 and 200 every parameter and every
state tensor is compared.

Tolerance: |adaopt - torch| <= 1e-5 * max(|torch|, scale) elementwise, where scale is the RMS of
that tensor.  Both sides compute in float32 with the same operation order, so most elements agree
exactly; what differs is the rounding of scalars that torch keeps in float32 tensors (its step
count, NAdam's mu_product) and the last bit of sqrt/division in its vectorized kernels.  Those
differences are a few ulps (~1e-7 relative) per step and stay far below 1e-5 over 200 steps.
The RMS floor keeps elements that cross zero from being judged by a relative error of 0/0.

Options that torch 1.13 lacks are checked against torch itself by an exact rewrite when one
exists (NAdam/RAdam decoupled_weight_decay: multiply p by 1 - lr*wd, then step with wd = 0;
maximize: negate the gradient; Adam eps_mode='hat': eps / sqrt(1 - beta2^t) in torch's form), and
otherwise against a float64 transcription of ALGORITHMS.md (eps_mode='inside'), at 1e-4.
"""

import math
import os
import sys

import numpy as np
import torch

if os.environ.get("ADAOPT_TEST_INSTALLED") != "1":  # else: the pip-installed package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import adaopt  # noqa: E402

torch.set_num_threads(1)
STEPS = 200
CHECK_AT = (1, 2, 10, 100, 200)
SHAPES = [(7, 5), (64,), (3, 3, 3)]
RTOL = 1e-5

TORCH = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
         "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "adamax": torch.optim.Adamax,
         "nadam": torch.optim.NAdam, "radam": torch.optim.RAdam,
         "adadelta": torch.optim.Adadelta, "rprop": torch.optim.Rprop, "asgd": torch.optim.ASGD}
ADAOPT = {"sgd": adaopt.SGD, "adagrad": adaopt.Adagrad, "rmsprop": adaopt.RMSprop,
          "adam": adaopt.Adam, "adamw": adaopt.AdamW, "adamax": adaopt.Adamax,
          "nadam": adaopt.NAdam, "radam": adaopt.RAdam, "adadelta": adaopt.Adadelta,
          "rprop": adaopt.Rprop, "asgd": adaopt.ASGD}

# (algorithm, options of both groups, extra options of group 2)
CASES = [
    ("sgd", dict(lr=0.05), dict(lr=0.01)),
    ("sgd", dict(lr=0.05, momentum=0.9), dict(momentum=0.5)),
    ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.3), dict()),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True), dict(weight_decay=0.1)),
    ("sgd", dict(lr=0.05, weight_decay=0.01, maximize=True), dict(momentum=0.8)),
    ("adagrad", dict(), dict(lr=0.1)),
    ("adagrad", dict(lr=0.1, lr_decay=0.01), dict(lr_decay=0.1)),
    # torch 1.13 fills `sum` from the constructor's initial_accumulator_value only (a per-group
    # value is ignored there; adaopt honours it), so both groups share one value here.
    ("adagrad", dict(lr=0.1, initial_accumulator_value=0.5), dict(lr=0.05)),
    ("adagrad", dict(lr=0.1, weight_decay=0.1, eps=1e-6, maximize=True), dict()),
    ("rmsprop", dict(), dict(lr=0.001)),
    ("rmsprop", dict(lr=0.01, alpha=0.9), dict(alpha=0.5)),
    ("rmsprop", dict(lr=0.01, centered=True), dict(centered=False)),
    ("rmsprop", dict(lr=0.01, momentum=0.9), dict(momentum=0.5)),
    ("rmsprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1), dict(maximize=True)),
    ("adam", dict(), dict(lr=0.01)),
    ("adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6), dict(betas=(0.5, 0.9))),
    ("adam", dict(lr=0.01, amsgrad=True), dict(amsgrad=False)),
    ("adam", dict(lr=0.01, weight_decay=0.1, maximize=True), dict(amsgrad=True)),
    ("adamw", dict(), dict(lr=0.01)),
    ("adamw", dict(lr=0.01, weight_decay=0.1, amsgrad=True), dict(weight_decay=0.0)),
    ("adamw", dict(lr=0.01, maximize=True, betas=(0.7, 0.95)), dict()),
    ("adamax", dict(), dict(lr=0.01)),
    ("adamax", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1), dict(eps=1e-3)),
    ("adamax", dict(lr=0.01, maximize=True), dict()),
    ("nadam", dict(), dict(lr=0.01)),
    ("nadam", dict(lr=0.01, momentum_decay=0.01, weight_decay=0.1), dict(betas=(0.8, 0.99))),
    ("radam", dict(), dict(lr=0.01)),
    ("radam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1), dict(eps=1e-4)),
    ("adadelta", dict(), dict(lr=0.5)),
    ("adadelta", dict(rho=0.8, eps=1e-5, weight_decay=0.1), dict(maximize=True)),
    ("rprop", dict(), dict(lr=0.001)),
    ("rprop", dict(lr=0.005, etas=(0.3, 1.5), step_sizes=(1e-4, 1.0)), dict(maximize=True)),
    ("asgd", dict(), dict(lr=0.001)),
    # the average from step 50 (group 2: 150), with the lr change at step 100 entering eta
    ("asgd", dict(lr=0.01, lambd=1e-3, alpha=0.6, t0=50, weight_decay=0.1), dict(t0=150)),
    # options torch 1.13 lacks, by exact rewrite (see the module docstring)
    ("nadam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), dict()),
    ("radam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), dict()),
    ("nadam", dict(lr=0.01, maximize=True), dict()),
    ("radam", dict(lr=0.01, maximize=True), dict(betas=(0.9, 0.99))),
    ("adam", dict(lr=0.01, eps=1e-3, eps_mode="hat"), dict()),
    ("adamw", dict(lr=0.01, eps=1e-3, eps_mode="hat", amsgrad=True), dict()),
]

# Cases checked against the float64 transcription of ALGORITHMS.md.
FORMULA_CASES = [
    ("adam", dict(lr=0.01, eps=1e-3, eps_mode="inside")),
    ("adam", dict(lr=0.01, eps=1e-3, eps_mode="hat")),
    ("adamw", dict(lr=0.01, eps=1e-3, eps_mode="inside", weight_decay=0.1, amsgrad=True)),
    ("adagrad", dict(lr=0.1, eps=1e-3, eps_mode="inside")),
    ("rmsprop", dict(lr=0.01, eps=1e-3, eps_mode="inside", centered=True)),
    ("nadam", dict(lr=0.01, eps=1e-3, eps_mode="inside")),
    ("nadam", dict(lr=0.01, eps=1e-3, eps_mode="hat", decoupled_weight_decay=True,
                   weight_decay=0.1)),
    ("radam", dict(lr=0.01, eps=1e-3, eps_mode="outside")),
    ("radam", dict(lr=0.01, eps=1e-3, eps_mode="inside", maximize=True)),
    ("adamax", dict(lr=0.01, weight_decay=0.1)),
]


def gradients(rng, step):
    """Gradients for one step: scale changes over time; tensor 2 is absent every 7th step."""
    scale = 10.0 ** rng.uniform(-2, 1)
    grads = [(rng.standard_normal(s) * scale).astype(np.float32) for s in SHAPES]
    if step % 7 == 3:
        grads[2] = None
    return grads


def compare(name, got, want, rtol, failures):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    scale = math.sqrt(float(np.mean(want ** 2))) if want.size else 0.0
    tol = rtol * np.maximum(np.abs(want), scale) + 1e-30
    err = np.abs(got - want)
    bad = ~(err <= tol)
    worst = float(np.max(err / np.maximum(np.abs(want), scale + 1e-30))) if want.size else 0.0
    if bad.any():
        failures.append("%s: %d of %d elements differ, worst relative error %.3g"
                        % (name, int(bad.sum()), bad.size, worst))
    return worst


def torch_kwargs(algo, opts):
    """The torch 1.13 keyword arguments for adaopt options, minus the rewritten ones."""
    kw = dict(opts)
    kw.pop("eps_mode", None)
    if algo in ("nadam", "radam"):
        kw.pop("maximize", None)
        if kw.pop("decoupled_weight_decay", False):
            kw["weight_decay"] = 0.0
    return kw


def run_case(algo, common, group2, isa):
    rng = np.random.default_rng(12345)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    ours = [a.copy() for a in init]
    theirs = [torch.tensor(a.copy()) for a in init]

    g2 = dict(common, **group2)
    opt = ADAOPT[algo]([{"params": ours[:2], **common}, {"params": ours[2:], **g2}])
    opt.isa = isa
    kw1, kw2 = torch_kwargs(algo, common), torch_kwargs(algo, g2)
    if algo == "nadam":
        kw1["foreach"] = kw2["foreach"] = True  # torch 1.13's correct NAdam path (ALGORITHMS.md)
    ctor = {}
    if "initial_accumulator_value" in kw1:
        ctor["initial_accumulator_value"] = kw1["initial_accumulator_value"]
    ref = TORCH[algo]([{"params": theirs[:2], **kw1}, {"params": theirs[2:], **kw2}], **ctor)
    groups_opts = [common, g2]
    for tg in ref.param_groups:
        tg["initial_lr"] = tg["lr"]

    failures, worst = [], 0.0
    for step in range(1, STEPS + 1):
        grads = gradients(rng, step)
        if step == 100:  # a schedule: change lr in both
            for g in opt.param_groups:
                g["lr"] *= 0.3
            for g in ref.param_groups:
                g["lr"] *= 0.3
        for k, (p, g) in enumerate(zip(theirs, grads)):
            o = groups_opts[0 if k < 2 else 1]
            tg = ref.param_groups[0 if k < 2 else 1]
            if g is None:
                p.grad = None
                continue
            gt = torch.tensor(g)
            if o.get("maximize") and algo in ("nadam", "radam"):
                gt = -gt
            p.grad = gt
            if o.get("decoupled_weight_decay"):
                with torch.no_grad():
                    p.mul_(1 - tg["lr"] * o["weight_decay"])
            if o.get("eps_mode") == "hat":
                t = ref.state[p]["step"].item() + 1 if ref.state[p] else 1
                b2 = o.get("betas", (0.9, 0.999))[1]
                tg["eps"] = o["eps"] / math.sqrt(1 - b2 ** t)
        opt.step(grads)
        ref.step()
        if step in CHECK_AT:
            for k in range(len(SHAPES)):
                tag = "step %d tensor %d" % (step, k)
                worst = max(worst, compare(tag + " param", ours[k], theirs[k].numpy(), RTOL,
                                           failures))
                st_ours, st_ref = opt.state[k], ref.state[theirs[k]]
                for key, val in st_ref.items():
                    if key in ("step", "mu_product"):  # torch keeps these as float32 tensors
                        mine = float(np.float32(st_ours.get(key, -1)))
                        if abs(mine - float(val)) > 1e-6 * abs(float(val)):
                            failures.append("%s %s: %r vs %r" % (tag, key, st_ours.get(key), val))
                        continue
                    if val is None:
                        continue
                    if key not in st_ours:
                        failures.append("%s: adaopt has no state %r" % (tag, key))
                        continue
                    worst = max(worst, compare("%s %s" % (tag, key), st_ours[key], val.numpy(),
                                               RTOL, failures))
    return failures, worst


def formula_reference(algo, opts, init, grad_steps):
    """A float64 transcription of ALGORITHMS.md for one tensor (no groups, lr constant)."""
    defaults = ADAOPT[algo]([np.zeros(1, np.float32)]).defaults
    h = dict(defaults, **opts)
    lr, eps, wd = h["lr"], h.get("eps", 0.0), h["weight_decay"]
    b1, b2 = h.get("betas", (0.0, 0.0))
    mode = h.get("eps_mode", "outside")
    p = init.astype(np.float64)
    z = np.zeros_like(p)
    m, v, vmax, S, A, G, u = z.copy(), z.copy(), z.copy(), z.copy(), z.copy(), z.copy(), z.copy()
    P = 1.0

    def den(x, bc2):
        if mode == "inside":
            return np.sqrt(x / bc2 + eps)
        if mode == "hat":
            return (np.sqrt(x) + eps) / math.sqrt(bc2)
        return np.sqrt(x) / math.sqrt(bc2) + eps

    for t, g in enumerate(grad_steps, start=1):
        g = g.astype(np.float64)
        if h.get("maximize"):
            g = -g
        decoupled = algo == "adamw" or h.get("decoupled_weight_decay")
        if decoupled:
            p = p * (1 - lr * wd)
        elif wd:
            g = g + wd * p
        if algo == "adagrad":
            G += g * g
            p = p - lr / (1 + (t - 1) * h["lr_decay"]) * g / den(G, 1.0)
        elif algo == "rmsprop":
            a = h["alpha"]
            S = a * S + (1 - a) * g * g
            A = a * A + (1 - a) * g
            p = p - lr * g / den(S - A * A if h["centered"] else S, 1.0)
        elif algo == "adamax":
            m = b1 * m + (1 - b1) * g
            u = np.maximum(b2 * u, np.abs(g) + eps)
            p = p - lr / (1 - b1 ** t) * m / u
        else:
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
            if algo in ("adam", "adamw"):
                vmax = np.maximum(vmax, v)
                p = p - lr / bc1 * m / den(vmax if h["amsgrad"] else v, bc2)
            elif algo == "nadam":
                md = h["momentum_decay"]
                mu = b1 * (1 - 0.5 * 0.96 ** (t * md))
                mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * md))
                P *= mu
                d = den(v, bc2)
                p = p - lr * (1 - mu) / (1 - P) * g / d - lr * mu_next / (1 - P * mu_next) * m / d
            elif algo == "radam":
                rho_inf = 2 / (1 - b2) - 1
                rho_t = rho_inf - 2 * t * b2 ** t / bc2
                if rho_t > 5:
                    r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                                  / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                    p = p - lr * (m / bc1) * r / den(v, bc2)
                else:
                    p = p - lr * (m / bc1)
    return p


def run_formula_case(algo, opts, isa):
    rng = np.random.default_rng(777)
    init = rng.standard_normal(50).astype(np.float32)
    steps = [(rng.standard_normal(50) * 10.0 ** rng.uniform(-2, 1)).astype(np.float32)
             for _ in range(STEPS)]
    p = init.copy()
    opt = ADAOPT[algo]([p], **opts)
    opt.isa = isa
    for g in steps:
        opt.step([g])
    want = formula_reference(algo, opts, init, steps)
    failures = []
    worst = compare("param", p, want, 1e-4, failures)
    return failures, worst


IMPORT_CASES = [("adam", dict(lr=0.01, amsgrad=True)), ("adagrad", dict(lr=0.1)),
                ("rmsprop", dict(lr=0.01, momentum=0.9, centered=True)),
                ("sgd", dict(lr=0.05, momentum=0.9)), ("nadam", dict(lr=0.01)),
                ("adamax", dict(lr=0.01)), ("radam", dict(lr=0.01)), ("adamw", dict(lr=0.01))]


def run_import_case(algo, kw):
    """torch trains 50 steps; its state_dict() is loaded into adaopt; both go on 50 steps."""
    rng = np.random.default_rng(99)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    theirs = [torch.tensor(a) for a in init]
    tkw = dict(kw, foreach=True) if algo == "nadam" else kw
    ref = TORCH[algo](theirs, **tkw)
    for step in range(50):
        for p in theirs:
            p.grad = torch.tensor(rng.standard_normal(p.shape).astype(np.float32))
        ref.step()
    ours = [p.detach().numpy().copy() for p in theirs]
    opt = ADAOPT[algo](ours)  # defaults: hyperparameters come from torch's state dict
    opt.load_state_dict(ref.state_dict())
    failures, worst = [], 0.0
    for step in range(50):
        grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
        for p, g in zip(theirs, grads):
            p.grad = torch.tensor(g)
        ref.step()
        opt.step(grads)
    for k in range(len(SHAPES)):
        worst = max(worst, compare("tensor %d param" % k, ours[k], theirs[k].numpy(), RTOL,
                                   failures))
    return failures, worst


def main():
    passed = failed = 0
    isas = adaopt.supported_isas()
    print("kernels checked on this machine: %s" % ", ".join(isas))
    for (algo, common, group2), isa in [(c, i) for c in CASES for i in isas]:
        failures, worst = run_case(algo, common, group2, isa)
        label = "torch   %-6s %-8s %s | group 2: %s" % (isa, algo, common, group2)
        print("%s %s  (worst relative error %.2e)" % ("ok  " if not failures else "FAIL", label,
                                                      worst))
        for f in failures[:5]:
            print("       ", f)
        passed += not failures
        failed += bool(failures)
    for (algo, opts), isa in [(c, i) for c in FORMULA_CASES for i in isas]:
        failures, worst = run_formula_case(algo, opts, isa)
        print("%s formula %-6s %-8s %s  (worst relative error %.2e)"
              % ("ok  " if not failures else "FAIL", isa, algo, opts, worst))
        for f in failures[:5]:
            print("       ", f)
        passed += not failures
        failed += bool(failures)
    for algo, kw in IMPORT_CASES:
        failures, worst = run_import_case(algo, kw)
        print("%s import  %-8s torch state_dict -> adaopt, 50 + 50 steps %s  (worst relative "
              "error %.2e)" % ("ok  " if not failures else "FAIL", algo, kw, worst))
        for f in failures[:5]:
            print("       ", f)
        passed += not failures
        failed += bool(failures)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

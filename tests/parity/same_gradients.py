"""adaopt.torch against torch.optim on the same gradients: the optimizers' arithmetic compared,
not the chaos of training.  Run under each torch (ctest: Debian's 1.13; make test-python: 2.x).

For every torch.optim class adaopt.torch has (with the options that change its arithmetic,
RMSprop centered with momentum included; Adadelta, Rprop, ASGD too), torch.optim trains the digits MLP (64-32-10, tanh) for
200 steps on its default CPU path (single-tensor), with a StepLR schedule, recording each step's
gradients; adaopt.torch, from the same initial weights and with the same schedule, is fed exactly
those gradients.  Asserted:
  - every parameter within 1e-6 of torch's after every step, in the README's norm
    |a - t| / max(|t|, RMS of the tensor);
  - bit identity of the parameters after step 1 and step 200, and of the state_dict at step 100
    (the state crosses: adaopt's state_dict loads into torch's class and torch's into adaopt's,
    and both go on with the bits), wherever torch's own operations are IEEE's.  torch's sqrt is
    probed first: where it is not correctly rounded (torch 2.15's PyPI build: about 17% of
    float32 results one ulp off), the reference runs a second time with Tensor.sqrt and sqrt_
    replaced by IEEE's, and bit identity is asserted against that run.
Adafactor (torch >= 2.5) uses rsqrt, which torch computes otherwise: within 1e-6 only.
"""

import copy
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
if os.environ.get("ADAOPT_TEST_INSTALLED") != "1":  # else: the pip-installed package
    sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import adaopt.torch as at  # noqa: E402
from replay import (IeeeSqrt, batches, digits, mlp, norm_diff,  # noqa: E402
                    sqrt_is_ieee, torch_kwargs)

STEPS = 200
CROSS = 100
BOUND = 1e-6
TORCH2 = int(torch.__version__.split(".")[0]) >= 2

CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3, maximize=True)),
    ("Adagrad", dict(lr=0.05, lr_decay=1e-3, weight_decay=1e-3, initial_accumulator_value=0.1)),
    ("RMSprop", dict(lr=1e-3)),
    ("RMSprop", dict(lr=1e-3, centered=True, momentum=0.5, alpha=0.95)),
    # the average's lerp from its end (without weight decay: S - A^2 of nearly equal numbers
    # would magnify a parameter's last-bit difference, fed back through wd p, past 1e-6)
    ("RMSprop", dict(lr=1e-3, centered=True, alpha=0.3, maximize=True)),
    ("Adam", dict(lr=1e-3)),
    ("Adam", dict(lr=1e-3, amsgrad=True, weight_decay=1e-3, maximize=True)),
    ("Adam", dict(lr=1e-3, betas=(0.3, 0.99))),  # the first moment's lerp from its end
    ("AdamW", dict(lr=1e-3, weight_decay=0.1)),
    ("AdamW", dict(lr=1e-3, amsgrad=True)),
    ("Adamax", dict(lr=2e-3, weight_decay=1e-3)),
    ("NAdam", dict(lr=2e-3)),
    ("NAdam", dict(lr=2e-3, momentum_decay=1e-2, weight_decay=1e-3)),
    ("RAdam", dict(lr=1e-3)),
    ("RAdam", dict(lr=1e-3, weight_decay=1e-3)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=1e-3, maximize=True)),
    ("Rprop", dict(lr=1e-3)),
    ("Rprop", dict(lr=1e-3, etas=(0.3, 1.5), step_sizes=(1e-5, 0.05), maximize=True)),
    ("ASGD", dict(lr=0.05)),
    # t0 inside the run: the average starts at step 40 (mu < 1), and StepLR's changes enter eta
    ("ASGD", dict(lr=0.05, lambd=1e-3, alpha=0.6, t0=40, weight_decay=1e-3)),
]
if TORCH2:
    CASES += [
        ("NAdam", dict(lr=2e-3, weight_decay=1e-2, decoupled_weight_decay=True)),
        ("RAdam", dict(lr=1e-3, weight_decay=1e-2, decoupled_weight_decay=True)),
    ]
if hasattr(torch.optim, "Adafactor"):
    CASES.append(("Adafactor", dict(lr=1e-2)))


def scheduler(opt):
    return torch.optim.lr_scheduler.StepLR(opt, step_size=60, gamma=0.5)


def reference(name, kw, X, Y, minibatches):
    """torch.optim's run: each step's gradients, parameters and (at CROSS) state_dict."""
    cls = getattr(torch.optim, name)
    model = mlp()
    opt = cls(model.parameters(), **torch_kwargs(cls, kw))
    sched = scheduler(opt)
    grads, params, state = [], [], None
    for k, b in enumerate(minibatches):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X[b]), Y[b]).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        opt.step()
        sched.step()
        params.append([p.detach().clone() for p in model.parameters()])
        if k + 1 == CROSS:
            state = copy.deepcopy(opt.state_dict())  # (torch's shares the live tensors)
    return grads, params, state


def replay(name, kw, grads, torch_state, check):
    """adaopt.torch fed the recorded gradients; returns its parameters after every step and its
    state_dict at CROSS.  check(k, ours): called after step k + 1.  At CROSS the state crosses:
    adaopt loads torch's state_dict (the bits it holds must not change)."""
    model = mlp()
    opt = getattr(at, name)(model.parameters(), **kw)
    sched = scheduler(opt)
    mine = None
    for k, gs in enumerate(grads):
        for p, g in zip(model.parameters(), gs):
            p.grad = g.clone()
        opt.step()
        sched.step()
        check(k, [p.detach() for p in model.parameters()])
        if k + 1 == CROSS:
            mine = opt.state_dict()
            opt.load_state_dict(torch_state)
    return mine


def same_bits(a, b):
    return bool((a.contiguous().view(torch.int32) == b.contiguous().view(torch.int32)).all())


def states_equal(mine, theirs):
    """Every state tensor of adaopt's state_dict has the bits of torch's (steps as numbers)."""
    for key, entry in theirs["state"].items():
        for k, v in entry.items():
            ours = mine["state"].get(key, {}).get(k)
            if v is None or ours is None:  # (torch 1.13's SGD: momentum_buffer None)
                if v is not ours:
                    return "state %s[%s] is %r, torch's %r" % (k, key, ours, v)
                continue
            if isinstance(v, torch.Tensor) and v.is_floating_point() and v.numel() > 1:
                if not same_bits(ours.float(), v.float()):
                    return "state %s[%s] differs" % (k, key)
            elif float(ours) != float(v):
                return "state %s[%s] = %r, torch %r" % (k, key, float(ours), float(v))
    return None


def main():
    torch.set_num_threads(1)
    X, Y = digits()
    steps = batches(X, STEPS)
    ieee = sqrt_is_ieee()
    print("torch %s (adaopt.torch rounds as torch %d); torch's sqrt is %s" % (
        torch.__version__, at.TORCH_ARITH, "IEEE's" if ieee else "not IEEE's: bits against a "
        "reference with IEEE's sqrt"))
    failures, passed = [], 0
    for name, kw in CASES:
        what = "%s(%s)" % (name, ", ".join("%s=%s" % kv for kv in kw.items()))
        grads, params, state = reference(name, kw, X, Y, steps)
        worst, failed = [0.0], len(failures)

        def within(k, ours):
            for a, t in zip(ours, params[k]):
                worst[0] = max(worst[0], norm_diff(a, t))
        replay(name, kw, grads, state, within)
        if worst[0] > BOUND:
            failures.append("%s: %.1e from torch (bound %g)" % (what, worst[0], BOUND))
        exact = name != "Adafactor"
        if exact:
            if not ieee:  # the bits against torch's arithmetic with IEEE's sqrt
                with IeeeSqrt():
                    grads, params, state = reference(name, kw, X, Y, steps)
            bad = []

            def bits(k, ours):
                if (k in (0, CROSS, STEPS - 1) and
                        not all(same_bits(a, t) for a, t in zip(ours, params[k]))):
                    bad.append("the parameters after step %d differ" % (k + 1))
            mine = replay(name, kw, grads, state, bits)
            why = states_equal(mine, state)
            if why:
                bad.append("at step %d: %s" % (CROSS, why))
            # and the other way: adaopt's state_dict into torch's class, on the same bits
            if not bad:
                cls = getattr(torch.optim, name)
                model = mlp()
                ref = cls(model.parameters(), **torch_kwargs(cls, kw))
                ref.load_state_dict(mine)
                back = ref.state_dict()
                why = states_equal(back, state)
                if why:
                    bad.append("adaopt's state_dict loaded into torch: %s" % why)
            if bad:
                failures.append("%s: not bit-identical: %s" % (what, "; ".join(bad)))
        print("%-95s %.1e%s" % (what, worst[0], ", bit-identical" if exact else ""))
        passed += len(failures) == failed
    for f in failures:
        print("FAIL " + f)
    print("%d passed, %d failed" % (passed, len(CASES) - passed))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

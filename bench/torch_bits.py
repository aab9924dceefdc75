"""How close adaopt.torch is to torch.optim's default CPU path, element by element, on the same
gradients: the optimizers' arithmetic compared, not the chaos of training.

    /usr/bin/python3 bench/torch_bits.py          # Debian's torch 1.13
    .venv/bin/python bench/torch_bits.py          # torch 2.x

For every torch.optim class (with the options that change its arithmetic), torch.optim trains the
digits MLP (64-32-10, tanh, 4,458 parameters) for 200 steps and records each step's gradients;
adaopt.torch, from the same initial weights, is fed exactly those gradients.  Printed per class:
the share of parameter elements bit-identical to torch's after step 1 and after step 200, and the
largest difference in the README's norm (|a - t| / max(|t|, RMS of the tensor)).  Where torch's
own sqrt is not IEEE's (PyPI's torch 2.15), also the shares against torch with Tensor.sqrt
replaced by IEEE's.  A measurement (tests/parity/same_gradients.py asserts): where elements
differ, the cause is how each rounds (docs/ALGORITHMS.md, "Rounding as torch does it").
"""

import os
import sys

import torch

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "parity"))
if os.environ.get("ADAOPT_TEST_INSTALLED") != "1":
    sys.path.insert(0, os.path.join(ROOT, "python"))
import adaopt.torch as at  # noqa: E402
from replay import (IeeeSqrt, batches, digits, mlp, norm_diff,  # noqa: E402
                    sqrt_is_ieee, torch_kwargs)

STEPS = 200
CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("Adagrad", dict(lr=0.05, lr_decay=1e-3, weight_decay=1e-3)),
    ("RMSprop", dict(lr=1e-3)),
    ("RMSprop", dict(lr=1e-3, centered=True, momentum=0.5, alpha=0.95)),
    ("Adam", dict(lr=1e-3)),
    ("Adam", dict(lr=1e-3, amsgrad=True, weight_decay=1e-3)),
    ("AdamW", dict(lr=1e-3)),
    ("Adamax", dict(lr=2e-3)),
    ("NAdam", dict(lr=2e-3)),
    ("RAdam", dict(lr=1e-3)),
    ("Adadelta", dict()),
    ("Rprop", dict(lr=1e-3)),
    ("ASGD", dict(lr=0.05)),
]


def measure(name, kw, X, Y, minibatches):
    """(share identical after step 1, after the last step, largest difference)."""
    cls = getattr(torch.optim, name)
    model = mlp()
    ref = cls(model.parameters(), **torch_kwargs(cls, kw))
    grads, after = [], []
    for b in minibatches:
        ref.zero_grad()
        torch.nn.functional.cross_entropy(model(X[b]), Y[b]).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        ref.step()
        if len(after) < 1 or len(grads) == STEPS:
            after.append([p.detach().clone() for p in model.parameters()])
    replay = mlp()
    ours = getattr(at, name)(replay.parameters(), **kw)
    mine = []
    for k, gs in enumerate(grads):
        for p, gr in zip(replay.parameters(), gs):
            p.grad = gr.clone()
        ours.step()
        if k == 0 or k == STEPS - 1:
            mine.append([p.detach().clone() for p in replay.parameters()])
    shares, worst = [], 0.0
    for theirs, ourself in zip(after, mine):
        same = total = 0
        for t, a in zip(theirs, ourself):
            same += int((t.view(torch.int32) == a.view(torch.int32)).sum())
            total += t.numel()
            worst = max(worst, norm_diff(a, t))
        shares.append(100.0 * same / total)
    return shares[0], shares[1], worst


def main():
    torch.set_num_threads(1)
    X, Y = digits()
    steps = batches(X, STEPS)
    ieee = sqrt_is_ieee()
    print("torch %s, %d steps of the digits MLP, the same gradients fed to both; torch's sqrt "
          "is %s\n" % (torch.__version__, STEPS, "IEEE's" if ieee else
                       "not IEEE's (last column: torch with IEEE's sqrt)"))
    extra = "" if ieee else " with IEEE sqrt: after 1 / %d |" % STEPS
    print("| class | options | identical after 1 | after %d | largest difference |%s"
          % (STEPS, extra))
    print("|---|---|--:|--:|--:|%s" % ("" if ieee else "--:|"))
    for name, kw in CASES:
        one, last, worst = measure(name, kw, X, Y, steps)
        opts = ", ".join("%s=%s" % kv for kv in kw.items())
        row = "| %s | %s | %.2f%% | %.2f%% | %.1e |" % (name, opts, one, last, worst)
        if not ieee:
            with IeeeSqrt():
                one, last, _ = measure(name, kw, X, Y, steps)
            row += " %.2f%% / %.2f%% |" % (one, last)
        print(row)


if __name__ == "__main__":
    main()

"""Row-sparse gradients against PyTorch, 200 steps with random repeated, unsorted indices.

    /usr/bin/python3 tests/parity/sparse_parity.py

- AdaGrad with sparse gradients against torch.optim.Adagrad given torch sparse (COO) gradients
  of an embedding table (torch coalesces them; adaopt sums repeats the same way);
- lazy Adam against torch.optim.SparseAdam;
- SGD against torch.optim.SGD with sparse gradients.
Every parameter and state tensor is compared with the tolerance of torch_parity.py
(1e-5 * max(|torch|, RMS of the tensor)), on every kernel ISA this machine runs.
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_parity import compare  # noqa: E402

if os.environ.get("ADAOPT_TEST_INSTALLED") != "1":  # else: the pip-installed package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import adaopt  # noqa: E402

torch.set_num_threads(1)
ROWS, DIM, STEPS = 300, 16, 200

CASES = [
    ("adagrad", adaopt.Adagrad, torch.optim.Adagrad, dict(lr=0.1)),
    ("adagrad", adaopt.Adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.01, eps=1e-6)),
    ("adagrad", adaopt.Adagrad, torch.optim.Adagrad, dict(lr=0.05, initial_accumulator_value=0.1)),
    ("adam", adaopt.Adam, torch.optim.SparseAdam, dict(lr=0.01)),
    ("adam", adaopt.Adam, torch.optim.SparseAdam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    ("sgd", adaopt.SGD, torch.optim.SGD, dict(lr=0.1)),
]


def run(name, ours_cls, torch_cls, kw, isa):
    rng = np.random.default_rng(2024)
    table = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    ours = table.copy()
    theirs = torch.tensor(table.copy(), requires_grad=True)
    opt = ours_cls([ours], **kw)
    opt.isa = isa
    ref = torch_cls([theirs], **kw)
    failures, worst = [], 0.0
    for step in range(1, STEPS + 1):
        n = int(rng.integers(1, 40))  # (torch 1.13 fails on a sparse gradient of no rows)
        # Zipf-like: low rows often, repeats common, unsorted
        idx = np.minimum(rng.zipf(1.3, n) - 1, ROWS - 1).astype(np.int64)
        vals = rng.standard_normal((n, DIM)).astype(np.float32)
        opt.step([(idx, vals)])
        theirs.grad = torch.sparse_coo_tensor(torch.tensor(idx)[None, :], torch.tensor(vals),
                                              (ROWS, DIM))
        ref.step()
        if step in (1, 10, 100, 200):
            worst = max(worst, compare("step %d param" % step, ours, theirs.detach().numpy(),
                                       1e-5, failures))
            st_ref = ref.state[theirs]
            st_ours = opt.state[0]
            for key, val in st_ref.items():
                if key == "step" or val is None:
                    continue
                if key not in st_ours:
                    failures.append("step %d: adaopt has no state %r" % (step, key))
                    continue
                worst = max(worst, compare("step %d %s" % (step, key), st_ours[key],
                                           val.to_dense().numpy(), 1e-5, failures))
    return failures, worst


def main():
    passed = failed = 0
    for (name, ours_cls, torch_cls, kw), isa in [(c, i) for c in CASES
                                                 for i in adaopt.supported_isas()]:
        failures, worst = run(name, ours_cls, torch_cls, kw, isa)
        print("%s sparse %-6s %-8s vs %-22s %s  (worst relative error %.2e)"
              % ("ok  " if not failures else "FAIL", isa, name,
                 torch_cls.__module__.split(".")[-1] + "." + torch_cls.__name__, kw, worst))
        for f in failures[:5]:
            print("       ", f)
        passed += not failures
        failed += bool(failures)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

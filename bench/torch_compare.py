"""adaopt against PyTorch's CPU optimizers, same sizes, same thread counts, same run.

    /usr/bin/python3 bench/torch_compare.py [--full] [--reps N] [--json]

For each algorithm, size and thread count it times one optimizer step of torch.optim with
foreach=False (the per-tensor loop) and foreach=True (the multi-tensor path), and of adaopt
through its numpy binding (one tensor; the binding's per-call overhead is a few microseconds),
and prints the medians and adaopt's speed-up over torch's faster path.  Sizes: 4K, 64K, 1M, 16M
elements (--full: 4K to 64M, x4 apart).  A benchmark, not a test.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import adaopt  # noqa: E402

ALGOS = [("sgd", dict(lr=1e-3)), ("sgd_momentum", dict(lr=1e-3, momentum=0.9)),
         ("adagrad", {}), ("rmsprop", {}), ("adam", {}), ("amsgrad", dict(amsgrad=True)),
         ("adamw", {}), ("adamax", {}), ("nadam", {}), ("radam", {})]
TORCH = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
         "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "adamax": torch.optim.Adamax,
         "nadam": torch.optim.NAdam, "radam": torch.optim.RAdam}
OURS = {"sgd": adaopt.SGD, "adagrad": adaopt.Adagrad, "rmsprop": adaopt.RMSprop,
        "adam": adaopt.Adam, "adamw": adaopt.AdamW, "adamax": adaopt.Adamax,
        "nadam": adaopt.NAdam, "radam": adaopt.RAdam}


def base(name):
    return {"sgd_momentum": "sgd", "amsgrad": "adam"}.get(name, name)


def timed(step, n, reps):
    step()  # the first step creates state
    inner = max(1, (1 << 22) // n)
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(inner):
            step()
        samples.append((time.perf_counter() - t) / inner)
    return statistics.median(samples)


def torch_seconds(name, kw, n, threads, foreach, reps):
    torch.set_num_threads(threads)
    p = torch.ones(n)
    p.grad = torch.full((n,), 0.01)
    opt = TORCH[base(name)]([p], foreach=foreach, **kw)
    with torch.no_grad():
        return timed(opt.step, n, reps)


def adaopt_seconds(name, kw, n, threads, reps):
    p = np.ones(n, np.float32)
    g = np.full(n, 0.01, np.float32)
    opt = OURS[base(name)]([p], **kw)
    opt.threads = threads
    grads = [g]
    return timed(lambda: opt.step(grads), n, reps)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="4K to 64M elements, x4 apart")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--only", help="one algorithm, e.g. adam")
    args = ap.parse_args()
    sizes = [4096 * 4 ** k for k in range(9)] if args.full else [4096, 65536, 1 << 20, 1 << 24]
    threads = [int(t) for t in args.threads.split(",")]
    rows = []
    if not args.json:
        print("torch %s, adaopt kernels %s; seconds are medians of %d"
              % (torch.__version__, OURS["adam"]([np.zeros(1, np.float32)]).isa, args.reps))
        print("%-13s %7s %10s %12s %12s %12s %9s"
              % ("algorithm", "threads", "elements", "torch us", "foreach us", "adaopt us",
                 "speed-up"))
    for t in threads:
        for n in sizes:
            for name, kw in ALGOS:
                if args.only and name != args.only:
                    continue
                single = torch_seconds(name, kw, n, t, False, args.reps)
                multi = torch_seconds(name, kw, n, t, True, args.reps)
                ours = adaopt_seconds(name, kw, n, t, args.reps)
                row = dict(algorithm=name, threads=t, elements=n, torch_us=single * 1e6,
                           torch_foreach_us=multi * 1e6, adaopt_us=ours * 1e6,
                           speedup_vs_fastest_torch=min(single, multi) / ours)
                rows.append(row)
                if not args.json:
                    print("%-13s %7d %10d %12.1f %12.1f %12.1f %8.2fx"
                          % (name, t, n, row["torch_us"], row["torch_foreach_us"],
                             row["adaopt_us"], row["speedup_vs_fastest_torch"]))
                    sys.stdout.flush()
    if args.json:
        print(json.dumps(dict(torch=torch.__version__, results=rows), indent=1))


if __name__ == "__main__":
    main()

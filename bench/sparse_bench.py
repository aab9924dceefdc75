"""Sparse embedding-table steps: adaopt sparse vs adaopt dense vs PyTorch's sparse paths.

    /usr/bin/python3 bench/sparse_bench.py [--rows 50000] [--dim 512] [--distinct 2000] [--reps 7]

Seed 002's case: a 50,000 x 512 embedding table of which a mini-batch touches about 2,000 rows.
Each step's rows are tokens drawn from a Zipf distribution (s = 1.1) until 2,000 distinct rows
appear; the gradient has one row per token (repeats, unsorted), as an embedding's backward gives.
Timed in the same run, medians over the repetitions, one thread:
  adaopt sparse AdaGrad and lazy Adam (the binding passes indices and values, zero-copy),
  adaopt's dense step of the whole table (the gradient zero outside those rows),
  torch.optim.Adagrad with a sparse COO gradient, torch.optim.SparseAdam.
A benchmark, not a test.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import adaopt  # noqa: E402


def zipf_batch(rng, rows, distinct, repeats):
    """Tokens drawn from Zipf(1.1) until `distinct` rows appear: every token (repeats, as an
    embedding's backward gives) or each distinct row once, in order of first appearance."""
    seen, tokens = {}, []
    while len(seen) < distinct:
        draw = np.minimum(rng.zipf(1.1, 4 * distinct) - 1, rows - 1)
        for t in draw:
            tokens.append(t)
            seen.setdefault(int(t), None)
            if len(seen) == distinct:
                break
    return np.array(tokens if repeats else list(seen), np.int64)


def median_ms(fn, batches, reps):
    fn(batches[0])  # state created
    samples = []
    for r in range(reps):
        b = batches[1 + r % (len(batches) - 1)]
        t = time.perf_counter()
        fn(b)
        samples.append((time.perf_counter() - t) * 1e3)
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--distinct", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    print("table %d x %d, %d distinct rows per step drawn from Zipf(1.1), 1 thread, medians "
          "of %d" % (args.rows, args.dim, args.distinct, args.reps))
    for repeats in (False, True):
        batches = []
        for _ in range(4):
            idx = zipf_batch(rng, args.rows, args.distinct, repeats)
            vals = rng.standard_normal((idx.size, args.dim)).astype(np.float32)
            batches.append((idx, vals))
        print("\ngradient rows: %s (%d rows per step)"
              % ("one per token, repeats summed first" if repeats else "the distinct rows",
                 int(np.mean([b[0].size for b in batches]))))
        run(args, batches)


def run(args, batches):
    """One table per optimizer, each step a new batch; see the module docstring."""
    init = np.random.default_rng(1).standard_normal((args.rows, args.dim)).astype(np.float32)

    def ours(cls, sparse, **kw):
        table = init.copy()  # written: resident pages, as a real, initialized table
        opt = cls([table], **kw)
        opt.threads = 1
        dense = np.zeros_like(table)

        def step(batch):
            idx, vals = batch
            if sparse:
                opt.step([(idx, vals)])
            else:
                dense[:] = 0  # not timed separately: the dense step needs the full gradient
                np.add.at(dense, idx, vals)
                t = time.perf_counter()
                opt.step([dense])
                step.kernel_ms = (time.perf_counter() - t) * 1e3
        return step

    def theirs(cls, **kw):
        table = torch.tensor(init, requires_grad=True)
        opt = cls([table], **kw)

        def step(batch):
            idx, vals = batch
            table.grad = torch.sparse_coo_tensor(torch.from_numpy(idx)[None, :],
                                                 torch.from_numpy(vals), (args.rows, args.dim))
            opt.step()
        return step

    results = {}
    for name, cls, tcls, kw in (("AdaGrad", adaopt.Adagrad, torch.optim.Adagrad, dict(lr=0.01)),
                                ("Adam (lazy)", adaopt.Adam, torch.optim.SparseAdam,
                                 dict(lr=1e-3))):
        sparse_ms = median_ms(ours(cls, True, **kw), batches, args.reps)
        dense_step = ours(cls, False, **kw)
        samples = []
        dense_step(batches[0])
        for r in range(args.reps):
            dense_step(batches[1 + r % 3])
            samples.append(dense_step.kernel_ms)
        dense_ms = statistics.median(samples)
        torch_ms = median_ms(theirs(tcls, **kw), batches, args.reps)
        results[name] = (sparse_ms, dense_ms, torch_ms)
    print("%-12s %14s %16s %14s %12s %12s" % ("algorithm", "adaopt sparse", "adaopt dense",
                                             "torch sparse", "vs dense", "vs torch"))
    for name, (s, d, t) in results.items():
        print("%-12s %11.3f ms %13.3f ms %11.3f ms %11.1fx %11.1fx" % (name, s, d, t, d / s,
                                                                     t / s))


if __name__ == "__main__":
    main()

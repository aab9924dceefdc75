"""Muon's step: adaopt.torch.Muon against torch.optim.Muon on the same matrices, 1 and 2 threads,
and the Newton-Schulz iteration's GFLOP/s against torch's own float32 matrix multiply (its BLAS)
on the iteration's products.  Medians of interleaved repetitions.  Run under torch >= 2.9:

    .venv/bin/python bench/muon.py            (make bench-torch runs it)

Flops of one step of an m x n matrix (m <= n), ns_steps iterations of A = X X^T (2 m^2 n),
A A (2 m^3), (b A + c A A) X (2 m^2 n): ns_steps (4 m^2 n + 2 m^3), counted in full although
adaopt computes X X^T and A A on one side of the diagonal (what it saves shows as speed).
"""

import os
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if os.environ.get("ADAOPT_TEST_INSTALLED") != "1":
    sys.path.insert(0, os.path.join(HERE, "..", "python"))
import adaopt.torch as at  # noqa: E402

SHAPES = [(1024, 1024), (4096, 1024)]
REPS = int(os.environ.get("ADAOPT_MUON_REPS", "5"))


def median_time(fn, reps):
    fn()  # warm
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    if not hasattr(torch.optim, "Muon"):
        print("muon: torch %s has no torch.optim.Muon (torch >= 2.9): skipped" % torch.__version__)
        return
    print("Muon step, median of %d (ns_steps 5); torch %s" % (REPS, torch.__version__))
    print("| matrix | threads | adaopt (float32 NS) | torch.optim.Muon (bf16 NS) | speedup | "
          "adaopt step, NS GFLOP/s | torch fp32 GEMM GFLOP/s | adaopt / GEMM |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for rows, cols in SHAPES:
        m, n = min(rows, cols), max(rows, cols)
        flops = 5 * (4 * m * m * n + 2 * m ** 3)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            p1 = torch.randn(rows, cols, requires_grad=True)
            p2 = p1.detach().clone().requires_grad_(True)
            g = torch.randn(rows, cols)
            p1.grad, p2.grad = g.clone(), g.clone()
            ours, theirs = at.Muon([p1], lr=0.02), torch.optim.Muon([p2], lr=0.02)
            ours.threads = threads
            t_ours = median_time(ours.step, REPS)
            t_theirs = median_time(theirs.step, REPS)
            X = torch.randn(m, n)
            t_gemm = median_time(lambda: torch.mm(X, X.T), REPS)
            gemm = 2 * m * m * n / t_gemm / 1e9
            ns = flops / t_ours / 1e9
            print("| %d x %d | %d | %.3f s | %.3f s | %.2fx | %.1f | %.1f | %.0f%% |" % (
                rows, cols, threads, t_ours, t_theirs, t_theirs / t_ours, ns, gemm,
                100 * ns / gemm))


if __name__ == "__main__":
    main()

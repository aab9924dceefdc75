"""adaopt.torch against torch.optim on the CPU, in one run: medians over repetitions.

    make bench-torch        # torch 2.x (.venv) and Debian's torch 1.13
    python bench/torch_bench.py [--quick]

1. The optimizer step of a real model: a 24-layer transformer language model (d=512, separate
   q/k/v/o projections: 108M parameters in 391 tensors), gradients from one backward pass,
   with torch.optim's AdamW (the default for-each path; fused=True where this torch has it on
   the CPU), DeepSpeed's DeepSpeedCPUAdam when it is installed (make bench-torch installs it
   into .venv) and adaopt.torch's AdamW; 1 and 2 threads.
2. A whole training iteration of that model (forward, backward, step: batch 2 x 32 tokens).
3. One 16M-element float32 tensor (the issue's target size), and bf16 parameters: torch's
   fastest path (fused, bf16 state) against adaopt's stochastic rounding with 8-bit state.
4. Python overhead: 500 tensors of 1,000 elements against one of 500,000 (adaopt.torch).
Times are medians; ratios are taken within this run only.
"""

import argparse
import statistics
import sys
import time
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import adaopt.torch as at
except ImportError:
    sys.path.insert(0, os.path.join(HERE, "..", "python"))
    import adaopt.torch as at

TORCH2 = int(torch.__version__.split(".")[0]) >= 2
try:  # DeepSpeed's CPU Adam (its C++ op is compiled on first use: about a minute)
    import logging
    logging.getLogger("DeepSpeed").setLevel(logging.ERROR)
    from deepspeed.ops.adam import DeepSpeedCPUAdam
except Exception:  # not installed, or its op does not build here
    DeepSpeedCPUAdam = None


def median_time(fn, reps, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


class Block(torch.nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.q, self.k, self.v, self.o = (torch.nn.Linear(d, d) for _ in range(4))
        self.ff1, self.ff2 = torch.nn.Linear(d, 4 * d), torch.nn.Linear(4 * d, d)
        self.n1, self.n2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.heads = heads

    def forward(self, x):
        b, t, d = x.shape
        h = self.n1(x)
        q, k, v = (f(h).view(b, t, self.heads, d // self.heads).transpose(1, 2)
                   for f in (self.q, self.k, self.v))
        att = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5
                            + torch.triu(torch.full((t, t), float("-inf")), 1), -1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(b, t, d))
        return x + self.ff2(torch.nn.functional.gelu(self.ff1(self.n2(x))))


class LM(torch.nn.Module):
    def __init__(self, vocab=32000, d=512, layers=24, heads=8, ctx=64):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, d)
        self.pos = torch.nn.Parameter(torch.zeros(ctx, d))
        self.blocks = torch.nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.norm = torch.nn.LayerNorm(d)
        self.head = torch.nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        x = self.emb(idx) + self.pos[:idx.shape[1]]
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x))


def optimizers(params, dtype=torch.float32):
    """(label, factory) for this torch: the for-each default, fused where the CPU has it."""
    out = [("torch AdamW (foreach)" if TORCH2 else "torch AdamW (default)",
            lambda: torch.optim.AdamW(params, lr=1e-4, **({"foreach": True} if TORCH2 else {})))]
    if TORCH2:
        try:
            probe = torch.nn.Parameter(torch.zeros(4, dtype=dtype))
            probe.grad = torch.zeros(4, dtype=dtype)
            torch.optim.AdamW([probe], fused=True).step()
            out.append(("torch AdamW (fused)",
                        lambda: torch.optim.AdamW(params, lr=1e-4, fused=True)))
        except (RuntimeError, TypeError):
            pass
    if DeepSpeedCPUAdam is not None and dtype is torch.float32:
        out.append(("DeepSpeedCPUAdam (adamw_mode)",
                    lambda: DeepSpeedCPUAdam(params, lr=1e-4, adamw_mode=True,
                                             weight_decay=0.01)))
    out.append(("adaopt.torch AdamW", lambda: at.AdamW(params, lr=1e-4)))
    return out


def table(title, header, rows):
    print("\n%s\n" % title)
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("--:" if i else "---" for i in range(len(header))) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def bench_model(threads, reps, quick):
    torch.manual_seed(0)
    model = LM(layers=6 if quick else 24)
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    idx = torch.randint(0, 32000, (2, 32))

    def backward():
        for p in params:
            p.grad = None
        out = model(idx)
        torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), idx.reshape(-1)).backward()

    backward()
    grads = [p.grad.clone() for p in params]
    rows, base = [], {}
    for t in threads:
        torch.set_num_threads(t)
        for label, make in optimizers(params):
            opt = make()
            for p, g in zip(params, grads):
                p.grad = g
            step = median_time(opt.step, reps)
            it = median_time(lambda: (backward(), opt.step()), max(2, reps // 2))
            base.setdefault(t, step)
            rows.append(["%s" % label, str(t), "%.1f" % (step * 1e3), "%.2f" % (base[t] / step),
                         "%.2f" % (n * 16 / step / 1e9), "%.0f" % (it * 1e3)])
            del opt
    table("Model: %.0fM parameters in %d tensors, torch %s (speed-up: over the first row of "
          "the same thread count; GB/s: 16 bytes/parameter, the least AdamW moves)"
          % (n / 1e6, len(params), torch.__version__),
          ["optimizer", "threads", "step ms", "speed-up", "GB/s", "iteration ms"], rows)


def bench_flat(threads, reps, numel):
    rows = []
    for dtype, modes in ((torch.float32, [{}]),
                         (torch.bfloat16, [dict(param_update="sr", state_storage="8bit"),
                                           dict(param_update="master", state_storage="8bit"),
                                           dict(param_update="sr", state_storage="bf16")])):
        p = torch.nn.Parameter(torch.randn(numel).to(dtype))
        p.grad = torch.randn(numel).to(dtype) * 1e-3
        for t in threads:
            torch.set_num_threads(t)
            results = []
            for label, make in optimizers([p], dtype):
                if label.startswith("adaopt"):
                    for kw in (modes if dtype is not torch.float32 else [{}]):
                        opt = at.AdamW([p], lr=1e-4, **kw)
                        name = label + ("" if not kw else " %s/%s" % (kw["param_update"],
                                                                       kw["state_storage"]))
                        results.append((name, median_time(opt.step, reps)))
                        del opt
                else:
                    opt = make()
                    results.append((label, median_time(opt.step, reps)))
                    del opt
            fastest_torch = min(s for name, s in results if name.startswith("torch"))
            for name, s in results:
                rows.append([name, str(dtype).replace("torch.", ""), str(t), "%.2f" % (s * 1e3),
                             "%.2f" % (fastest_torch / s)])
    table("One tensor of %dM elements (speed-up: over torch's fastest path for that dtype and "
          "thread count)" % (numel >> 20),
          ["optimizer", "params", "threads", "step ms", "speed-up"], rows)


def bench_overhead(reps):
    torch.set_num_threads(1)
    one = [torch.nn.Parameter(torch.randn(500000))]
    many = [torch.nn.Parameter(torch.randn(1000)) for _ in range(500)]
    rows = []
    for label, ps in (("1 x 500,000", one), ("500 x 1,000", many)):
        for p in ps:
            p.grad = torch.randn_like(p)
        times = {}
        for name, make in (("torch", lambda: torch.optim.AdamW(ps, **({"foreach": True}
                                                                      if TORCH2 else {}))),
                           ("adaopt", lambda: at.AdamW(ps))):
            opt = make()
            times[name] = median_time(opt.step, reps * 4, warmup=3)
        rows.append((label, times))
    one_t = rows[0][1]
    table("Per-tensor overhead, 1 thread (ratio: 500 tensors against one of the same total)",
          ["tensors", "torch ms", "adaopt.torch ms", "torch ratio", "adaopt ratio"],
          [[label, "%.3f" % (t["torch"] * 1e3), "%.3f" % (t["adaopt"] * 1e3),
            "%.2f" % (t["torch"] / one_t["torch"]), "%.2f" % (t["adaopt"] / one_t["adaopt"])]
           for label, t in rows])


def bench_lion(threads, reps, numel):
    """adaopt.torch.Lion against its reference, lion-pytorch's Lion (when installed)."""
    try:
        import lion_pytorch
    except ImportError:
        return
    p = torch.nn.Parameter(torch.randn(numel))
    p.grad = torch.randn(numel)
    rows = []
    for t in threads:
        torch.set_num_threads(t)
        ref = median_time(lion_pytorch.Lion([p], lr=1e-4, weight_decay=0.1).step, reps)
        ours = median_time(at.Lion([p], lr=1e-4, weight_decay=0.1).step, reps)
        rows.append([str(t), "%.2f" % (ref * 1e3), "%.2f" % (ours * 1e3), "%.2f" % (ref / ours),
                     "%.2f" % (numel * 20 / ours / 1e9)])
    table("Lion, one tensor of %dM elements: lion-pytorch %s against adaopt.torch.Lion "
          "(20 bytes/element)" % (numel >> 20, getattr(lion_pytorch, "__version__", "")),
          ["threads", "lion-pytorch ms", "adaopt ms", "speed-up", "adaopt GB/s"], rows)


def _version(package):
    try:
        from importlib.metadata import version
        return version(package)
    except Exception:  # (not installed as a distribution)
        return ""


def bench_schedule_free(threads, reps, numel):
    """adaopt.torch.AdamWScheduleFree against its reference, schedulefree's (when installed)."""
    try:
        import schedulefree
    except ImportError:
        return
    p = torch.nn.Parameter(torch.randn(numel))
    g = torch.randn(numel)
    rows = []
    for t in threads:
        torch.set_num_threads(t)
        ref_opt = schedulefree.AdamWScheduleFree([p], lr=1e-3, weight_decay=0.01)
        ref_opt.train()

        def ref_step():  # the reference overwrites p.grad with the normalized gradient
            p.grad = g.clone()
            ref_opt.step()

        def clone_only():
            p.grad = g.clone()
        ours_opt = at.AdamWScheduleFree([p], lr=1e-3, weight_decay=0.01)
        ours_opt.train()
        p.grad = g
        ours = median_time(ours_opt.step, reps)
        ref = median_time(ref_step, reps) - median_time(clone_only, reps)
        rows.append([str(t), "%.2f" % (ref * 1e3), "%.2f" % (ours * 1e3), "%.2f" % (ref / ours),
                     "%.2f" % (numel * 28 / ours / 1e9)])
    table("Schedule-Free AdamW, one tensor of %dM elements: schedulefree %s (foreach) against "
          "adaopt.torch.AdamWScheduleFree (28 bytes/element; the reference's time excludes the "
          "gradient copy its step needs)" % (numel >> 20, _version("schedulefree")),
          ["threads", "schedulefree ms", "adaopt ms", "speed-up", "adaopt GB/s"], rows)


def bench_lamb(threads, reps):
    """adaopt.torch.Lamb against pytorch-optimizer's Lamb (its default foreach path), on one
    tensor of 16M elements and on 64 of 256K; and adaopt's LAMB step over its AdamW step, also
    with overwrite_grads (u stored over .grad: one array fewer for the second pass to read)."""
    try:
        import pytorch_optimizer
    except ImportError:
        return
    rows = []
    for shapes in ([1 << 24], [1 << 18] * 64):
        ps = [torch.nn.Parameter(torch.randn(n)) for n in shapes]
        for t in threads:
            for p in ps:
                p.grad = torch.randn(p.numel())
            torch.set_num_threads(t)
            ref = median_time(pytorch_optimizer.Lamb(ps, lr=1e-3, weight_decay=0.01).step, reps)
            ours = median_time(at.Lamb(ps, lr=1e-3, weight_decay=0.01).step, reps)
            adamw = median_time(at.AdamW(ps, lr=1e-3, weight_decay=0.01).step, reps)
            over_opt = at.Lamb(ps, lr=1e-3, weight_decay=0.01)
            over_opt.overwrite_grads = True  # (each step's .grad is then the last step's u)
            over = median_time(over_opt.step, reps)
            rows.append(["%d x %dK" % (len(shapes), shapes[0] >> 10), str(t), "%.2f" % (ref * 1e3),
                         "%.2f" % (ours * 1e3), "%.2f" % (ref / ours), "%.2f" % (ours / adamw),
                         "%.2f" % (over / adamw)])
    table("LAMB: pytorch-optimizer %s against adaopt.torch.Lamb, and adaopt's LAMB step over its "
          "AdamW step (target <= 1.5)" % _version("pytorch_optimizer"),
          ["tensors", "threads", "pytorch-optimizer ms", "adaopt ms", "speed-up",
           "LAMB / AdamW", "overwrite_grads / AdamW"], rows)


def bench_adafactor(threads, reps):
    """adaopt.torch.Adafactor against torch.optim.Adafactor (torch >= 2.5) on a 4096 x 4096
    matrix (factored) and a vector of 16M elements."""
    if not hasattr(torch.optim, "Adafactor"):
        return
    rows = []
    for shape in ((4096, 4096), (1 << 24,)):
        p = torch.nn.Parameter(torch.randn(*shape))
        p.grad = torch.randn(*shape)
        for t in threads:
            torch.set_num_threads(t)
            ref = median_time(torch.optim.Adafactor([p], lr=1e-3).step, reps)
            ours = median_time(at.Adafactor([p], lr=1e-3).step, reps)
            rows.append([" x ".join(map(str, shape)), str(t), "%.2f" % (ref * 1e3),
                         "%.2f" % (ours * 1e3), "%.2f" % (ref / ours)])
    table("Adafactor: torch %s against adaopt.torch.Adafactor"
          % torch.__version__, ["shape", "threads", "torch ms", "adaopt ms", "speed-up"], rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a 6-layer model, fewer repetitions")
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    reps = 3 if args.quick else 5
    print("torch %s, %s" % (torch.__version__, time.strftime("%Y-%m-%d")))
    bench_model(threads, reps, args.quick)
    bench_flat(threads, reps, 1 << 24)
    bench_overhead(reps)
    bench_lion(threads, reps, 1 << 24)
    bench_schedule_free(threads, reps, 1 << 24)
    bench_lamb(threads, reps)
    bench_adafactor(threads, reps)


if __name__ == "__main__":
    main()

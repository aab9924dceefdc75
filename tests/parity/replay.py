"""What the same-gradients comparisons share (tests/parity/same_gradients.py asserts,
bench/torch_bits.py measures): the digits MLP and its data, and torch's sqrt made IEEE's."""

import gzip
import inspect
import os

import numpy as np
import torch

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def digits():
    with gzip.open(os.path.join(ROOT, "labs", "data", "digits.csv.gz"), "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float32)
    return torch.from_numpy(rows[:, :64] / 16.0), torch.from_numpy(rows[:, 64].astype(np.int64))


def mlp():
    """The digits MLP, 64-32-10 with tanh (4,458 parameters), the same weights every call."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))


def batches(X, steps):
    """The minibatches (64 rows each) of `steps` steps, the same every call."""
    g = torch.Generator().manual_seed(1)
    return [torch.randint(0, X.shape[0], (64,), generator=g) for _ in range(steps)]


def torch_kwargs(cls, kw):
    """torch.optim's keywords for its single-tensor path (the default on CPU where foreach
    exists)."""
    return dict(kw, foreach=False) if "foreach" in inspect.signature(cls).parameters else dict(kw)


def norm_diff(a, t):
    """The largest |a - t| / max(|t|, RMS of t) (the README's norm)."""
    t = t.double()
    rms = float(t.pow(2).mean().sqrt())
    return float(((a.double() - t).abs() / torch.maximum(t.abs(), torch.full_like(t, rms))).max())


def sqrt_is_ieee():
    """Whether this torch's float32 sqrt is correctly rounded (PyPI's torch 2.15 is not)."""
    rng = np.random.default_rng(0)
    x = (rng.random(100_000) * 10.0 ** rng.integers(-10, 3, 100_000)).astype(np.float32)
    got = torch.from_numpy(x).sqrt().numpy().view(np.int32)
    return bool((got == np.sqrt(x).view(np.int32)).all())


class IeeeSqrt:
    """Within this block, torch's Tensor.sqrt and sqrt_ of float32 tensors are IEEE's."""

    def __enter__(self):
        self.saved = torch.Tensor.sqrt, torch.Tensor.sqrt_
        plain = self.saved[0]

        def sqrt(t):
            if t.dtype != torch.float32 or t.requires_grad:
                return plain(t)
            return torch.from_numpy(np.sqrt(t.detach().numpy()))

        def sqrt_(t):
            t.copy_(sqrt(t))
            return t
        torch.Tensor.sqrt, torch.Tensor.sqrt_ = sqrt, sqrt_

    def __exit__(self, *exc):
        torch.Tensor.sqrt, torch.Tensor.sqrt_ = self.saved

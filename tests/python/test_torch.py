"""adaopt.torch against torch.optim, on real nn.Modules, with whichever torch runs this file.

    /usr/bin/python3 tests/python/test_torch.py            # Debian's torch 1.13, source tree
    .venv/bin/python tests/python/test_torch.py             # torch 2.x from PyPI, pip-installed
                                                            # adaopt (ADAOPT_TEST_INSTALLED=1)

- every optimizer, with options, trains the digits MLP (scikit-learn's 8x8 digits, 64-32-10,
  tanh) 500 steps as torch.optim does: every loss and every parameter within 1e-5;
- an EmbeddingBag model with sparse gradients: SparseAdam, sparse Adagrad and SGD;
- state_dicts cross over both ways mid-run (through torch.save / torch.load) and training goes
  on as if it had never switched;
- StepLR, OneCycleLR (which cycles momentum / betas), CosineAnnealingWarmRestarts and LambdaLR
  give the same learning rates and the same training;
- the Optimizer protocol: closure, zero_grad, add_param_group, state, pickling and deepcopy
  (bit-exact continuation), the step hooks (torch 2.x), and the refusals;
- bf16 parameters: the same bits as adaopt's numpy binding in each low-precision mode.
"""

import copy
import gzip
import inspect
import io
import os
import pickle
import sys
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
if os.environ.get("ADAOPT_TEST_INSTALLED") != "1":
    sys.path.insert(0, os.path.join(ROOT, "python"))
import adaopt  # noqa: E402
import adaopt.torch as at  # noqa: E402

torch.set_num_threads(1)
TOL = 1e-5
STEPS = 500
TORCH2 = int(torch.__version__.split(".")[0]) >= 2


def has_kw(cls, name):
    return name in inspect.signature(cls.__init__).parameters


def digits():
    with gzip.open(os.path.join(ROOT, "labs", "data", "digits.csv.gz"), "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float32)
    return torch.tensor(rows[:, :64] / 16.0), torch.tensor(rows[:, 64], dtype=torch.int64)


X, Y = digits()


def mlp(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(),
                               torch.nn.Linear(32, 10)).to(dtype)


def batches(n, seed=1, size=64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, X.shape[0], (size,), generator=g) for _ in range(n)]


BATCHES = batches(STEPS)


def train(model, opt, steps, sched=None, start=0, set_to_none=True):
    losses, lrs = [], []
    for k in range(start, start + steps):
        b = BATCHES[k % len(BATCHES)]
        opt.zero_grad(set_to_none=set_to_none)
        loss = torch.nn.functional.cross_entropy(model(X[b].to(next(model.parameters()).dtype)),
                                                 Y[b])
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if sched is not None:
            lrs.append([g["lr"] for g in opt.param_groups])
            sched.step()
    return losses, lrs


def check_crossover(classes, kw, steps=300):
    """Training that switches optimizer halfway through a state dict (torch.save / torch.load),
    from classes[0] to classes[1] and back: the losses of the run that never switched."""
    ref = mlp()
    ref_losses, _ = train(ref, classes[0](ref.parameters(), **kw), steps)
    for first, second in (classes, classes[::-1]):
        m = mlp()
        o1 = first(m.parameters(), **kw)
        la, _ = train(m, o1, steps // 2)
        buf = io.BytesIO()
        torch.save(o1.state_dict(), buf)
        buf.seek(0)
        o2 = second(m.parameters(), **kw)
        o2.load_state_dict(torch.load(buf))
        lb, _ = train(m, o2, steps - steps // 2, start=steps // 2)
        np.testing.assert_allclose(la + lb, ref_losses, rtol=0, atol=TOL)


def check_signature_prefix(test, theirs_cls, ours_cls):
    """Our constructor's parameters begin with the reference's: the same names, order, defaults."""
    theirs = inspect.signature(theirs_cls.__init__).parameters
    ours = inspect.signature(ours_cls.__init__).parameters
    test.assertEqual([(k, p.default) for k, p in theirs.items()],
                     [(k, p.default) for k, p in ours.items()][:len(theirs)])


def params_of(model):
    return [p.detach().clone() for p in model.parameters()]


# (name, options): the optimizer's own options, on the MLP.
CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1)),
    ("Adagrad", dict(lr=0.05)),
    ("Adagrad", dict(lr=0.05, lr_decay=1e-3, weight_decay=1e-4, initial_accumulator_value=0.1,
                     eps=1e-8)),
    ("RMSprop", dict(lr=1e-3)),
    # (with eps=1e-8, alpha=0.9 drives the centered variance of some weights to ~0 and
    # 1/sqrt amplifies last-bit differences exponentially after ~300 steps: 2e-4 at 500)
    ("RMSprop", dict(lr=5e-4, alpha=0.9, eps=1e-6, centered=True, momentum=0.5,
                     weight_decay=1e-4)),
    ("Adam", dict(lr=1e-3)),
    ("Adam", dict(lr=1e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-3, amsgrad=True)),
    ("AdamW", dict(lr=1e-3, weight_decay=0.1)),
    ("AdamW", dict(lr=1e-3, amsgrad=True)),
    ("Adamax", dict(lr=2e-3)),
    ("Adamax", dict(lr=1e-3, betas=(0.8, 0.99), weight_decay=1e-3)),
    ("NAdam", dict(lr=1e-3)),
    ("NAdam", dict(lr=1e-3, momentum_decay=8e-3, weight_decay=1e-3)),
    ("NAdam", dict(lr=1e-3, weight_decay=1e-2, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=1e-3)),
    ("RAdam", dict(lr=1e-3, weight_decay=1e-2, decoupled_weight_decay=True)),
    ("Adadelta", dict(lr=1.0)),
    ("Adadelta", dict(lr=0.5, rho=0.95, weight_decay=1e-4)),
    ("Rprop", dict(lr=1e-3, step_sizes=(1e-6, 1e-2))),
    ("ASGD", dict(lr=0.05, t0=100)),
]


def torch_kw(name, kw):
    """torch.optim's keywords for a case: its default (single-tensor) CPU path, whose rounding
    adaopt.torch repeats for the installed torch (TORCH_ARITH) -- torch 1.13's NAdam bug
    included (docs/ALGORITHMS.md, "NAdam and torch 1.13")."""
    return kw


def usable(name, kw):
    return all(has_kw(getattr(torch.optim, name), k) for k in kw)


class Parity(unittest.TestCase):
    def assertClose(self, ours, theirs, what, tol=TOL):
        for k, (a, b) in enumerate(zip(ours, theirs)):
            err = (a.float() - b.float()).abs().max().item()
            self.assertLessEqual(err, tol, "%s[%d]: max |diff| %.3g" % (what, k, err))

    def test_training_matches_torch(self):
        for name, kw in CASES:
            if not usable(name, kw):
                continue
            with self.subTest(name=name, **kw):
                m1, m2 = mlp(), mlp()
                l1, _ = train(m1, getattr(torch.optim, name)(m1.parameters(), **torch_kw(name, kw)),
                              STEPS)
                l2, _ = train(m2, getattr(at, name)(m2.parameters(), **kw), STEPS)
                self.assertTrue(l1[-1] < 0.8 * l1[0], "%s did not train" % name)
                np.testing.assert_allclose(l2, l1, rtol=0, atol=TOL)
                self.assertClose(params_of(m2), params_of(m1), name)

    def test_state_dicts_cross_over(self):
        half = STEPS // 2
        for name, kw in CASES:
            if not usable(name, kw):
                continue
            with self.subTest(name=name, **kw):
                ref = mlp()
                ref_losses, _ = train(ref, getattr(torch.optim, name)(
                    ref.parameters(), **torch_kw(name, kw)), STEPS)
                for first, second in ((torch.optim, at), (at, torch.optim)):
                    m = mlp()
                    o1 = getattr(first, name)(m.parameters(), **torch_kw(name, kw))
                    la, _ = train(m, o1, half)
                    buf = io.BytesIO()
                    torch.save(o1.state_dict(), buf)
                    buf.seek(0)
                    o2 = getattr(second, name)(m.parameters(), lr=123.0)  # overwritten by load
                    o2.load_state_dict(torch.load(buf))
                    self.assertEqual(o2.param_groups[0]["lr"], kw["lr"])
                    lb, _ = train(m, o2, STEPS - half, start=half)
                    np.testing.assert_allclose(la + lb, ref_losses, rtol=0, atol=TOL)
                    self.assertClose(params_of(m), params_of(ref), "%s via %s" % (
                        name, first.__name__))

    def test_state_reads_as_torch(self):
        m1, m2 = mlp(), mlp()
        o1 = torch.optim.Adam(m1.parameters(), amsgrad=True)
        o2 = at.Adam(m2.parameters(), amsgrad=True)
        self.assertEqual(len(o2.state), 0)
        train(m1, o1, 20)
        train(m2, o2, 20)
        for p1, p2 in zip(m1.parameters(), m2.parameters()):
            s1, s2 = o1.state[p1], o2.state[p2]
            self.assertEqual(sorted(s1), sorted(s2))
            self.assertEqual(float(s1["step"]), float(s2["step"]))
            self.assertEqual(type(s1["step"]), type(s2["step"]))
            for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                self.assertEqual(s2[k].shape, p2.shape)
                self.assertClose([s2[k]], [s1[k]], k, tol=1e-6)
        self.assertEqual(len(o2.state), 4)
        sd1, sd2 = o1.state_dict(), o2.state_dict()
        self.assertEqual(sorted(sd1["param_groups"][0]), sorted(sd2["param_groups"][0]))

    def test_schedulers(self):
        S = torch.optim.lr_scheduler
        makers = [
            ("StepLR", lambda o: S.StepLR(o, step_size=60, gamma=0.5)),
            ("OneCycleLR", lambda o: S.OneCycleLR(o, max_lr=0.01, total_steps=STEPS)),
            ("CosineAnnealingWarmRestarts",
             lambda o: S.CosineAnnealingWarmRestarts(o, T_0=50, T_mult=2, eta_min=1e-5)),
            ("LambdaLR", lambda o: S.LambdaLR(o, lambda k: 1.0 / (1.0 + 0.01 * k))),
        ]
        for sname, make in makers:
            for name, kw in (("AdamW", dict(lr=1e-3)), ("SGD", dict(lr=0.05, momentum=0.9))):
                with self.subTest(scheduler=sname, optimizer=name):
                    m1, m2 = mlp(), mlp()
                    o1 = getattr(torch.optim, name)(m1.parameters(), **kw)
                    o2 = getattr(at, name)(m2.parameters(), **kw)
                    l1, lr1 = train(m1, o1, STEPS, make(o1))
                    l2, lr2 = train(m2, o2, STEPS, make(o2))
                    self.assertEqual(lr1, lr2)
                    self.assertGreater(len(set(map(tuple, lr1))), 3)
                    np.testing.assert_allclose(l2, l1, rtol=0, atol=TOL)
                    self.assertClose(params_of(m2), params_of(m1), sname)
                    if sname == "OneCycleLR":  # it cycles the momentum too
                        key = "betas" if name == "AdamW" else "momentum"
                        self.assertEqual(o1.param_groups[0][key], o2.param_groups[0][key])


try:
    import lion_pytorch
except ImportError:  # in .venv (scripts/requirements-venv.txt), not in Debian's Python
    lion_pytorch = None


@unittest.skipIf(lion_pytorch is None, "lion-pytorch is not installed (it is in .venv)")
class LionParity(unittest.TestCase):
    """adaopt.torch.Lion against lion-pytorch's Lion: the MLP 300 steps, options, state dicts
    both ways (lion-pytorch's is {'exp_avg'} per parameter, no step)."""

    CASES = [dict(lr=1e-3), dict(lr=3e-4, betas=(0.8, 0.95), weight_decay=0.1),
             dict(lr=3e-4, weight_decay=1e-3, decoupled_weight_decay=True)]

    def test_signature(self):
        check_signature_prefix(self, lion_pytorch.Lion, at.Lion)

    def test_training_and_state_dicts(self):
        for kw in self.CASES:
            with self.subTest(**kw):
                m1, m2 = mlp(), mlp()
                l1, _ = train(m1, lion_pytorch.Lion(m1.parameters(), **kw), 300)
                l2, _ = train(m2, at.Lion(m2.parameters(), **kw), 300)
                self.assertLess(l1[-1], 0.8 * l1[0])
                np.testing.assert_allclose(l2, l1, rtol=0, atol=TOL)
                for a, b in zip(m1.parameters(), m2.parameters()):
                    self.assertLessEqual((a - b).abs().max().item(), TOL)
                check_crossover((lion_pytorch.Lion, at.Lion), kw)

    def test_numpy_binding_on_every_isa(self):
        """adaopt.Lion (numpy) against lion-pytorch, 300 steps, every kernel ISA here."""
        for isa in adaopt.supported_isas():
            for kw in self.CASES[:2]:
                rng = np.random.default_rng(0)
                w0 = rng.standard_normal(10007).astype(np.float32)
                ours, theirs = w0.copy(), torch.tensor(w0.copy(), requires_grad=True)
                o = adaopt.Lion([ours], **kw)
                o.isa = isa
                ref = lion_pytorch.Lion([theirs], **kw)
                for s in range(300):
                    g = rng.standard_normal(10007).astype(np.float32) * (1 + s % 3)
                    o.step([g])
                    theirs.grad = torch.tensor(g)
                    ref.step()
                err = np.abs(ours - theirs.detach().numpy()).max()
                self.assertLessEqual(err, TOL, "%s %s" % (isa, kw))
                np.testing.assert_allclose(o.state[0]["exp_avg"],
                                           ref.state[theirs]["exp_avg"].numpy(), rtol=0,
                                           atol=1e-6)

    def test_refusals(self):
        with self.assertRaisesRegex(ValueError, "triton"):
            at.Lion(mlp().parameters(), use_triton=True)
        with self.assertRaisesRegex(ValueError, "learning rate"):
            at.Lion(mlp().parameters(), lr=0.0)


try:
    import schedulefree
except ImportError:  # in .venv (scripts/requirements-venv.txt), not in Debian's Python
    schedulefree = None


def train_sf(model, opt, steps, start=0, every=50):
    """train() / eval() as schedulefree asks: train mode for the steps, and every `every` steps
    the loss of the whole set in eval mode (the average x), then back to train mode."""
    losses, evals = [], []
    model.train()
    opt.train()
    for k in range(start, start + steps):
        b = BATCHES[k % len(BATCHES)]
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(X[b]), Y[b])
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (k + 1) % every == 0:
            opt.eval()
            with torch.no_grad():
                evals.append(torch.nn.functional.cross_entropy(model(X), Y).item())
            opt.train()
    return losses, evals


@unittest.skipIf(schedulefree is None, "schedulefree is not installed (it is in .venv)")
class ScheduleFreeParity(unittest.TestCase):
    """adaopt.torch.AdamWScheduleFree against schedulefree's: the MLP 300 steps with eval-mode
    losses every 50 (the swap both ways), options, the group keys, state dicts both ways."""

    CASES = [dict(lr=0.01), dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.01, warmup_steps=50),
             dict(lr=0.01, eps=1e-6, warmup_steps=20, r=1.0, weight_lr_power=1.0)]

    def test_signature(self):
        check_signature_prefix(self, schedulefree.AdamWScheduleFree, at.AdamWScheduleFree)

    def test_training_eval_and_state_dicts(self):
        for kw in self.CASES:
            with self.subTest(**kw):
                m1, m2 = mlp(), mlp()
                o1 = schedulefree.AdamWScheduleFree(m1.parameters(), **kw)
                o2 = at.AdamWScheduleFree(m2.parameters(), **kw)
                l1, e1 = train_sf(m1, o1, 300)
                l2, e2 = train_sf(m2, o2, 300)
                self.assertLess(e1[-1], 0.5 * e1[0] + 0.5)
                np.testing.assert_allclose(l2, l1, rtol=0, atol=TOL)
                np.testing.assert_allclose(e2, e1, rtol=0, atol=TOL)
                for g1, g2 in zip(o1.param_groups, o2.param_groups):
                    self.assertEqual(g1["k"], g2["k"])
                    for key in ("weight_sum", "lr_max", "scheduled_lr"):
                        self.assertAlmostEqual(g1[key], g2[key], delta=1e-12 * abs(g1[key]))
                for mode in ("eval", "train"):
                    getattr(o1, mode)()
                    getattr(o2, mode)()
                    for a, b in zip(m1.parameters(), m2.parameters()):
                        self.assertLessEqual((a - b).abs().max().item(), TOL)
                ref = mlp()
                ref_losses, ref_evals = train_sf(ref, schedulefree.AdamWScheduleFree(
                    ref.parameters(), **kw), 300)
                for first, second in ((schedulefree, at), (at, schedulefree)):
                    m = mlp()
                    o1 = first.AdamWScheduleFree(m.parameters(), **kw)
                    la, ea = train_sf(m, o1, 150)
                    o1.eval()  # saved in eval mode, as schedulefree says
                    buf = io.BytesIO()
                    torch.save(o1.state_dict(), buf)
                    buf.seek(0)
                    o2 = second.AdamWScheduleFree(m.parameters(), **kw)
                    o2.load_state_dict(torch.load(buf))
                    lb, eb = train_sf(m, o2, 150, start=150)
                    np.testing.assert_allclose(la + lb, ref_losses, rtol=0, atol=TOL)
                    np.testing.assert_allclose(ea + eb, ref_evals, rtol=0, atol=TOL)

    def test_modes_and_refusals(self):
        m = mlp()
        opt = at.AdamWScheduleFree(m.parameters(), lr=0.01)
        self.assertFalse(opt.param_groups[0]["train_mode"])  # schedulefree starts in eval
        m(X[:4]).sum().backward()
        with self.assertRaisesRegex(Exception, "not in train mode"):
            opt.step()
        opt.train()
        opt.step()
        self.assertEqual(opt.param_groups[0]["k"], 1)
        self.assertEqual(sorted(opt.state[next(m.parameters())]), ["exp_avg_sq", "z"])
        with self.assertRaisesRegex(adaopt.AdaoptError, "beta1"):
            at.AdamWScheduleFree(m.parameters(), betas=(0.0, 0.999))
        copy.deepcopy(opt).step()  # through the checkpoint bytes, group scalars included
        twin = pickle.loads(pickle.dumps(opt))
        self.assertEqual(twin.param_groups[0]["k"], 1)

    def test_numpy_binding_on_every_isa(self):
        """adaopt.AdamWScheduleFree (numpy) against schedulefree, 300 steps, every ISA here."""
        kw = self.CASES[1]
        for isa in adaopt.supported_isas():
            rng = np.random.default_rng(0)
            w0 = rng.standard_normal(10007).astype(np.float32)
            ours, theirs = w0.copy(), torch.tensor(w0.copy(), requires_grad=True)
            o = adaopt.AdamWScheduleFree([ours], **kw)
            o.isa = isa
            ref = schedulefree.AdamWScheduleFree([theirs], **kw)
            ref.train()
            for s in range(300):
                g = rng.standard_normal(10007).astype(np.float32) * np.float32(1 + s % 3)
                o.step([g])
                theirs.grad = torch.tensor(g)
                ref.step()
            o.eval()
            ref.eval()
            err = np.abs(ours - theirs.detach().numpy()).max()
            self.assertLessEqual(err, TOL, isa)
            sd = o.state_dict()
            self.assertEqual(sd["param_groups"][0]["k"], 300)
            np.testing.assert_allclose(o.state[0]["z"], ref.state[theirs]["z"].numpy(),
                                       rtol=0, atol=TOL)


try:
    import pytorch_optimizer
except ImportError:  # in .venv (scripts/requirements-venv.txt), not in Debian's Python
    pytorch_optimizer = None


@unittest.skipIf(pytorch_optimizer is None, "pytorch-optimizer is not installed (it is in .venv)")
class LambParity(unittest.TestCase):
    """adaopt.torch.Lamb against pytorch-optimizer's Lamb: the MLP 300 steps with options, the
    per-parameter norms, state dicts both ways; the numpy class on every ISA."""

    CASES = [dict(lr=1e-2), dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.01),
             dict(lr=3e-3, weight_decay=1e-4, fixed_decay=True, grad_averaging=False, eps=1e-8),
             dict(lr=3e-3, weight_decay=0.01, weight_decouple=False),
             dict(lr=1e-3, adam=True, maximize=False)]

    def test_signature(self):
        theirs = inspect.signature(pytorch_optimizer.Lamb.__init__).parameters
        ours = inspect.signature(at.Lamb.__init__).parameters
        self.assertEqual([(k, p.default) for k, p in theirs.items()],
                         [(k, p.default) for k, p in ours.items() if k in theirs])

    def test_training_and_state_dicts(self):
        for kw in self.CASES:
            with self.subTest(**kw):
                m1, m2 = mlp(), mlp()
                o1, o2 = pytorch_optimizer.Lamb(m1.parameters(), **kw), at.Lamb(m2.parameters(), **kw)
                l1, _ = train(m1, o1, 300)
                l2, _ = train(m2, o2, 300)
                self.assertLess(l1[-1], 0.8 * l1[0])
                np.testing.assert_allclose(l2, l1, rtol=0, atol=TOL)
                for a, b in zip(m1.parameters(), m2.parameters()):
                    self.assertLessEqual((a - b).abs().max().item(), TOL)
                    for key in ("weight_norm", "adam_norm", "trust_ratio"):
                        self.assertAlmostEqual(float(o1.state[a][key]), float(o2.state[b][key]),
                                               delta=1e-5 * max(1.0, float(o1.state[a][key])))
                self.assertEqual(o1.param_groups[0]["step"], o2.param_groups[0]["step"])
                check_crossover((pytorch_optimizer.Lamb, at.Lamb), kw)

    def test_missing_gradients(self):
        """A parameter without a gradient on some steps: pytorch-optimizer counts steps per
        group (its bias correction's t advances at every step), so does adaopt; a state dict
        crossing mid-run, both ways, carries the count (param_groups' 'step')."""
        def run(model, opt, steps, start=0):
            for k in range(start, start + steps):
                b = BATCHES[k % len(BATCHES)]
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(model(X[b]), Y[b]).backward()
                if k % 3 == 1:
                    model[0].bias.grad = None  # skipped by both at this step
                opt.step()
        kw = dict(lr=1e-2, weight_decay=0.01)
        m1, m2 = mlp(), mlp()
        o1, o2 = pytorch_optimizer.Lamb(m1.parameters(), **kw), at.Lamb(m2.parameters(), **kw)
        run(m1, o1, 300)
        run(m2, o2, 300)
        for a, b in zip(m1.parameters(), m2.parameters()):
            self.assertLessEqual((a - b).abs().max().item(), TOL)
        self.assertEqual(o1.param_groups[0]["step"], o2.param_groups[0]["step"])
        for first, second in ((pytorch_optimizer.Lamb, at.Lamb), (at.Lamb, pytorch_optimizer.Lamb)):
            m = mlp()
            a = first(m.parameters(), **kw)
            run(m, a, 100)
            b = second(m.parameters(), **kw)
            b.load_state_dict(a.state_dict())
            self.assertEqual(b.param_groups[0]["step"], 100)
            run(m, b, 200, start=100)
            for x, y in zip(m.parameters(), m1.parameters()):
                self.assertLessEqual((x - y).abs().max().item(), TOL, first.__module__)
        # the numpy class, its state_dict and its checkpoint carry the count too
        rng = np.random.default_rng(0)
        ws = [rng.standard_normal(n).astype(np.float32) for n in (50, 7)]
        ts = [torch.tensor(w.copy(), requires_grad=True) for w in ws]
        o, ref = adaopt.Lamb([w.copy() for w in ws], **kw), pytorch_optimizer.Lamb(ts, **kw)
        for s in range(40):
            gs = [rng.standard_normal(w.size).astype(np.float32) for w in ws]
            if s == 20:
                sd = o.state_dict()
                self.assertEqual(sd["param_groups"][0]["step"], 20)
                arrays = [p.copy() for p in o.param_groups[0]["params"]]
                o = adaopt.Lamb(arrays, **kw)
                o.load_state_dict(sd)
            o.step([gs[0], gs[1] if s % 4 else None])
            for t, g, has in zip(ts, gs, (True, s % 4 != 0)):
                t.grad = torch.tensor(g) if has else None
            ref.step()
        for w, t in zip(o.param_groups[0]["params"], ts):
            self.assertLessEqual(np.abs(w - t.detach().numpy()).max(), TOL)

    def test_numpy_binding_on_every_isa(self):
        """adaopt.Lamb (numpy) against pytorch-optimizer, 300 steps, tensors of several sizes
        (chunks, vector tails), every kernel ISA here."""
        kw = dict(lr=1e-2, weight_decay=0.1)
        for isa in adaopt.supported_isas():
            rng = np.random.default_rng(0)
            shapes = [70001, 37, 1]
            ours = [rng.standard_normal(n).astype(np.float32) for n in shapes]
            theirs = [torch.tensor(w.copy(), requires_grad=True) for w in ours]
            o = adaopt.Lamb(ours, **kw)
            o.isa = isa
            ref = pytorch_optimizer.Lamb(theirs, **kw)
            for s in range(300):
                gs = [rng.standard_normal(n).astype(np.float32) * np.float32(1 + s % 3)
                      for n in shapes]
                o.step(gs)
                for t, g in zip(theirs, gs):
                    t.grad = torch.tensor(g)
                ref.step()
            for w, t in zip(ours, theirs):
                self.assertLessEqual(np.abs(w - t.detach().numpy()).max(), TOL, isa)
            self.assertAlmostEqual(o.state[0]["trust_ratio"],
                                   float(ref.state[theirs[0]]["trust_ratio"]), delta=1e-5)

    def test_refusals(self):
        for kw in (dict(rectify=True), dict(pre_norm=True), dict(adanorm=True)):
            with self.assertRaisesRegex(ValueError, "not supported"):
                at.Lamb(mlp().parameters(), **kw)
        with self.assertRaisesRegex(ValueError, "learning rate"):
            at.Lamb(mlp().parameters(), lr=-1.0)

    def test_clamp_attribute(self):
        """pytorch-optimizer's clamp is a class attribute; a subclass changes it in both."""
        class Ref(pytorch_optimizer.Lamb):
            clamp = 0.5

        class Ours(at.Lamb):
            clamp = 0.5
        m1, m2 = mlp(), mlp()
        l1, _ = train(m1, Ref(m1.parameters(), lr=1e-2), 50)
        l2, _ = train(m2, Ours(m2.parameters(), lr=1e-2), 50)
        np.testing.assert_allclose(l2, l1, rtol=0, atol=TOL)
        self.assertLessEqual(float(Ours(m2.parameters()).param_groups[0]["clamp"]), 0.5)


class _Pair:
    """Muon on the matrices, AdamW on the rest (torch's recipe for Muon, MuonWithAuxAdam's
    split), stepped together as one optimizer."""

    def __init__(self, muon, adamw):
        self.opts = [muon, adamw]
        self.param_groups = muon.param_groups + adamw.param_groups

    def zero_grad(self, set_to_none=True):
        for o in self.opts:
            o.zero_grad(set_to_none=set_to_none)

    def step(self):
        for o in self.opts:
            o.step()


def muon_pair(lib, model, **kw):
    mats = [p for p in model.parameters() if p.ndim == 2]
    rest = [p for p in model.parameters() if p.ndim != 2]
    return _Pair(lib.Muon(mats, **kw), lib.AdamW(rest, lr=1e-3))


@unittest.skipUnless(hasattr(torch.optim, "Muon"), "torch.optim.Muon needs torch >= 2.9")
class MuonParity(unittest.TestCase):
    """adaopt.torch.Muon (the Newton-Schulz iteration in float32) against torch.optim.Muon
    (in bf16): the same training within bf16's rounding; state dicts both ways."""

    def test_signature(self):
        check_signature_prefix(self, torch.optim.Muon, at.Muon)

    def test_training_and_state_dicts(self):
        for kw in (dict(lr=0.02), dict(lr=0.02, nesterov=False, adjust_lr_fn="match_rms_adamw",
                                       weight_decay=0.01, ns_steps=4)):
            with self.subTest(**kw):
                m1, m2 = mlp(), mlp()
                l1, _ = train(m1, muon_pair(torch.optim, m1, **kw), 100)
                l2, _ = train(m2, muon_pair(at, m2, **kw), 100)
                self.assertLess(l1[-1], 0.5 * l1[0])
                self.assertLess(l2[-1], 0.5 * l2[0])
                # bf16 NS differs from float32's in the third digit; over 100 steps the two
                # trainings stay within a few percent of each other
                np.testing.assert_allclose(l2, l1, rtol=0.05, atol=0.02)
                theirs = torch.optim.Muon([p for p in m1.parameters() if p.ndim == 2], **kw)
                ours = at.Muon([p for p in m2.parameters() if p.ndim == 2], **kw)
                o = muon_pair(torch.optim, m1, **kw)
                train(m1, o, 3)
                ours.load_state_dict(o.opts[0].state_dict())  # torch's state into adaopt's
                theirs.load_state_dict(ours.state_dict())     # and back
                for a, b in zip(ours.state_dict()["state"].values(),
                                o.opts[0].state_dict()["state"].values()):
                    self.assertTrue(torch.equal(a["momentum_buffer"], b["momentum_buffer"]))

    def test_muon_with_aux_adam(self):
        """One optimizer with use_muon groups: the bits of Muon and AdamW stepped apart, and a
        state dict that resumes exactly (the AdamW groups keep their step)."""
        def split(m):
            return ([p for p in m.parameters() if p.ndim == 2],
                    [p for p in m.parameters() if p.ndim != 2])

        def one(m):
            hidden, rest = split(m)
            return at.MuonWithAuxAdam([dict(params=hidden, use_muon=True),
                                       dict(params=rest, use_muon=False)])
        m1, m2, m3 = mlp(), mlp(), mlp()
        train(m1, one(m1), 60)
        hidden, rest = split(m2)
        train(m2, _Pair(at.Muon(hidden, lr=0.02, weight_decay=0.0),
                        at.AdamW(rest, lr=3e-4, betas=(0.9, 0.95), eps=1e-10,
                                 weight_decay=0.0)), 60)
        for a, b in zip(m1.parameters(), m2.parameters()):
            self.assertTrue(torch.equal(a, b))
        o = one(m3)
        train(m3, o, 30)
        buf = io.BytesIO()
        torch.save(o.state_dict(), buf)
        buf.seek(0)
        o2 = one(m3)
        o2.load_state_dict(torch.load(buf))
        train(m3, o2, 30, start=30)
        for a, b in zip(m1.parameters(), m3.parameters()):
            self.assertTrue(torch.equal(a, b))
        with self.assertRaisesRegex(ValueError, "use_muon"):
            at.MuonWithAuxAdam([dict(params=rest)])

    def test_refusals(self):
        with self.assertRaisesRegex(ValueError, "2D"):
            at.Muon([torch.zeros(3, requires_grad=True)])
        p = torch.zeros(4, 4, requires_grad=True)
        o = at.Muon([p])
        p.grad = torch.ones(4, 4)
        o.step()
        self.assertFalse(torch.equal(p, torch.zeros(4, 4)))


class OverwriteGrads(unittest.TestCase):
    """overwrite_grads (an adaopt extension, LAMB and Adafactor): the same training bit for bit,
    each .grad holding LAMB's u = m / (sqrt(v) + eps) afterwards; kept by pickling; refusals."""

    def twins(self, cls, **kw):
        """The MLP trained 60 steps without and with overwrite_grads: the same losses and
        parameters, and every .grad of the second run overwritten.  Returns its optimizer."""
        m1, m2 = mlp(), mlp()
        o1, o2 = cls(m1.parameters(), **kw), cls(m2.parameters(), **kw)
        o2.overwrite_grads = True
        self.assertTrue(o2.overwrite_grads and not o1.overwrite_grads)
        l1, _ = train(m1, o1, 60)
        l2, _ = train(m2, o2, 60)
        self.assertEqual(l1, l2)
        for a, b in zip(m1.parameters(), m2.parameters()):
            self.assertTrue(torch.equal(a, b))
            self.assertFalse(torch.equal(a.grad, b.grad))
        return o2

    def test_same_bits_and_grad_holds_u(self):
        for kw in (dict(lr=1e-2, weight_decay=0.01),
                   dict(lr=3e-3, weight_decay=0.01, weight_decouple=False)):
            with self.subTest(**kw):
                o2 = self.twins(at.Lamb, **kw)
                for group in o2.param_groups:
                    for b in group["params"]:
                        if not kw.get("weight_decouple", True):  # (u also has wd p then)
                            continue
                        # in numpy: IEEE sqrt; torch's CPU sqrt may differ by an ulp
                        v, m = (o2.state[b][k].numpy() for k in ("exp_avg_sq", "exp_avg"))
                        u = (np.float32(1) / (np.sqrt(v) + np.float32(1e-6))) * m
                        np.testing.assert_array_equal(b.grad.numpy(), u)
                o3 = pickle.loads(pickle.dumps(o2))
                self.assertTrue(o3.overwrite_grads)

    @unittest.skipIf(not hasattr(torch.optim, "Adafactor"), "adaopt.torch.Adafactor: torch >= 2.5")
    def test_adafactor(self):
        self.twins(at.Adafactor, lr=1e-2)

    def test_refusals(self):
        with self.assertRaisesRegex(adaopt.AdaoptError, "LAMB and Adafactor only"):
            at.Adam(mlp().parameters()).overwrite_grads = True
        o = at.Lamb(mlp().parameters())
        with self.assertRaisesRegex(ValueError, "True or False"):
            o.overwrite_grads = 1
        m = mlp()
        o = at.Lamb(m.parameters(), lr=1e-2)
        o.overwrite_grads = True
        w, b = m[0].weight, m[0].bias
        shared = torch.ones(w.numel() + b.numel())
        w.grad = shared[:w.numel()].view_as(w)
        b.grad = shared[w.numel() - 1:w.numel() - 1 + b.numel()]  # one element shared
        with self.assertRaisesRegex(adaopt.AdaoptError, "must not overlap"):
            o.step()
        before = w.detach().clone()
        b.grad = shared[w.numel():]  # adjacent only: fine
        o.step()
        self.assertFalse(torch.equal(before, w))


@unittest.skipIf(not hasattr(torch.optim, "Adafactor"), "torch.optim.Adafactor is torch >= 2.5")
class AdafactorParity(unittest.TestCase):
    """adaopt.torch.Adafactor against torch.optim.Adafactor: the MLP (its matrices factored) 300
    steps with options, the factored state's shapes, state dicts both ways; the numpy class on a
    batch of matrices and a vector; the memory of a 4096 x 4096 matrix."""

    CASES = [dict(lr=1e-2), dict(lr=3e-2, weight_decay=0.01, d=2.0),
             dict(lr=1e-2, eps=(1e-5, 1e-2), beta2_decay=-0.6), dict(lr=1e-2, maximize=True)]

    def test_training_and_state_dicts(self):
        for kw in self.CASES:
            with self.subTest(**kw):
                m1, m2 = mlp(), mlp()
                o1 = torch.optim.Adafactor(m1.parameters(), **kw)
                o2 = at.Adafactor(m2.parameters(), **kw)
                l1, _ = train(m1, o1, 300)
                l2, _ = train(m2, o2, 300)
                if not kw.get("maximize"):
                    self.assertLess(l1[-1], 0.8 * l1[0])
                np.testing.assert_allclose(l2, l1, rtol=0, atol=TOL)
                for a, b in zip(m1.parameters(), m2.parameters()):
                    self.assertLessEqual((a - b).abs().max().item(), TOL)
                    for key, value in o1.state[a].items():
                        self.assertEqual(tuple(o2.state[b][key].shape), tuple(value.shape), key)
                check_crossover((torch.optim.Adafactor, at.Adafactor), kw)

    def test_numpy_binding(self):
        """adaopt.Adafactor (numpy), 300 steps: a batch of matrices (2 x 30 x 70), a matrix whose
        rows are longer than a vector width, a vector."""
        kw = dict(lr=1e-2, weight_decay=0.01)
        rng = np.random.default_rng(0)
        shapes = [(2, 30, 70), (300, 17), (1001,)]
        ours = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        theirs = [torch.tensor(w.copy(), requires_grad=True) for w in ours]
        o = adaopt.Adafactor(ours, **kw)
        ref = torch.optim.Adafactor(theirs, **kw)
        for s in range(300):
            gs = [rng.standard_normal(sh).astype(np.float32) * np.float32(1 + s % 3)
                  for sh in shapes]
            o.step(gs)
            for t, g in zip(theirs, gs):
                t.grad = torch.tensor(g)
            ref.step()
        for w, t in zip(ours, theirs):
            self.assertLessEqual(np.abs(w - t.detach().numpy()).max(), TOL)
        np.testing.assert_allclose(o.state[0]["row_var"], ref.state[theirs[0]]["row_var"].numpy(),
                                   rtol=1e-5)

    def test_memory(self):
        """Issue 16's target: 32 KiB of state for a 4096 x 4096 matrix (torch's row_var and
        col_var hold the same 8,192 floats), against Adam's 128 MiB."""
        w = torch.nn.Parameter(torch.zeros(4096, 4096))
        self.assertEqual(at.Adafactor([w]).state_bytes, 32768)
        self.assertEqual(at.Adam([w]).state_bytes, 2 * 4096 * 4096 * 4)


class Sparse(unittest.TestCase):
    ROWS, DIM = 1000, 16

    def model(self):
        torch.manual_seed(3)
        return torch.nn.ModuleDict({"emb": torch.nn.EmbeddingBag(self.ROWS, self.DIM,
                                                                 mode="sum", sparse=True),
                                    "head": torch.nn.Linear(self.DIM, 1)})

    def run_model(self, model, opts, steps=STEPS):
        g = torch.Generator().manual_seed(5)
        target = torch.randn(self.ROWS, generator=g)
        losses = []
        for _ in range(steps):
            # Zipf-like rows, repeats common, unsorted; bags of 1..8
            idx = torch.clamp(torch.distributions.Pareto(1.0, 0.7).sample((64,)).long() - 1,
                              max=self.ROWS - 1)
            offsets = torch.arange(0, 64, 8)
            y = target[idx].reshape(8, 8).sum(1, keepdim=True)
            for o in opts:
                o.zero_grad()
            out = model["head"](model["emb"](idx, offsets))
            loss = torch.nn.functional.mse_loss(out, y)
            loss.backward()
            for o in opts:
                o.step()
            losses.append(loss.item())
        return losses

    def compare(self, make):
        runs = []
        for lib in (torch.optim, at):
            torch.manual_seed(11)
            m = self.model()
            runs.append((self.run_model(m, make(lib, m)), params_of(m)))
        (l1, p1), (l2, p2) = runs
        np.testing.assert_allclose(l2, l1, rtol=0, atol=TOL * max(1.0, max(l1)))
        for a, b in zip(p2, p1):
            self.assertLessEqual((a - b).abs().max().item(),
                                 TOL * max(1.0, b.abs().max().item()))
        self.assertLess(np.mean(l1[-50:]), np.mean(l1[:50]))

    def test_sparse_adam(self):
        # the embedding with (adaopt's or torch's) SparseAdam, the head with torch's Adam
        self.compare(lambda lib, m: [lib.SparseAdam(list(m["emb"].parameters()), lr=0.01),
                                     torch.optim.Adam(m["head"].parameters(), lr=0.01)])

    def test_sparse_adagrad_and_sgd(self):
        self.compare(lambda lib, m: [lib.Adagrad(m.parameters(), lr=0.1)])
        self.compare(lambda lib, m: [lib.SGD(m.parameters(), lr=0.01)])

    def test_sparse_refusals(self):
        m = self.model()
        opt = at.Adam(m.parameters())
        m["emb"](torch.tensor([1, 2]), torch.tensor([0])).sum().backward()
        with self.assertRaisesRegex(RuntimeError, "does not support sparse gradients"):
            opt.step()
        dense = torch.nn.Linear(3, 1)
        opt = at.SparseAdam(dense.parameters())
        dense(torch.ones(3)).sum().backward()
        with self.assertRaisesRegex(RuntimeError, "does not support dense gradients"):
            opt.step()


class Protocol(unittest.TestCase):
    def test_signatures_are_torchs(self):
        for name in at.__all__:
            if name in ("Lion", "AdamWScheduleFree", "Lamb", "MuonWithAuxAdam"):  # their own
                continue  # Parity classes (MuonWithAuxAdam: the muon package's, not torch's)
            theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
            ours = inspect.signature(getattr(at, name).__init__).parameters
            self.assertEqual(list(theirs.items()), list(ours.items())[:len(theirs)])
            m = mlp()
            if name == "SparseAdam":
                continue
            if name == "Muon":  # (2-D parameters only)
                m = [p for p in m.parameters() if p.ndim == 2]
            kw = {} if has_kw(torch.optim.SGD, "lr") and name != "SGD" else dict(lr=0.1)
            if name == "SGD" and inspect.signature(torch.optim.SGD.__init__).parameters[
                    "lr"].default is not inspect.Parameter.empty:
                kw = {}
            params = (lambda: list(m)) if isinstance(m, list) else m.parameters
            try:
                ref = getattr(torch.optim, name)(params(), **kw)
            except ValueError:  # torch 1.13's SGD requires lr
                kw = dict(lr=0.1)
                ref = getattr(torch.optim, name)(params(), **kw)
            self.assertEqual(getattr(at, name)(params(), **kw).defaults, ref.defaults)
        with self.assertRaises(TypeError):
            at.Adam(mlp().parameters(), 1e-3, (0.9, 0.99), 1e-8, 0, False, True)  # too many
        with self.assertRaises(TypeError):
            at.Adam(mlp().parameters(), learning_rate=1e-3)
        with self.assertRaises(ValueError):
            at.Adam(mlp().parameters(), lr=-1.0)

    def test_closure_zero_grad_and_groups(self):
        m1, m2 = mlp(), mlp()
        o1 = torch.optim.Adam(list(m1.parameters())[:2], lr=1e-3)
        o2 = at.Adam(list(m2.parameters())[:2], lr=1e-3)
        for m, o in ((m1, o1), (m2, o2)):
            b = BATCHES[0]

            def closure():
                o.zero_grad()
                loss = torch.nn.functional.cross_entropy(m(X[b]), Y[b])
                loss.backward()
                return loss
            self.assertIsInstance(o.step(closure), torch.Tensor)
            train(m, o, 20, set_to_none=False)
            o.add_param_group({"params": list(m.parameters())[2:], "lr": 3e-3,
                               "weight_decay": 0.01})
            o.param_groups[0]["lr"] = 2e-3
            train(m, o, 30, start=20)
        for a, b in zip(m1.parameters(), m2.parameters()):
            self.assertLessEqual((a - b).abs().max().item(), TOL)
        self.assertEqual(o2.param_groups[1]["betas"], (0.9, 0.999))
        o2.zero_grad(set_to_none=True)
        self.assertTrue(all(p.grad is None for p in m2.parameters()))
        o2.step()  # no gradients: nothing moves
        with self.assertRaisesRegex(ValueError, "more than one parameter group"):
            o2.add_param_group({"params": [next(m2.parameters())]})
        o2.param_groups[0]["params"].append(torch.nn.Parameter(torch.zeros(3)))
        with self.assertRaisesRegex(RuntimeError, "add_param_group"):
            o2.step()

    def test_a_refused_group_changes_nothing(self):
        m1, m2 = mlp(), mlp()
        o1, o2 = at.Adam(list(m1.parameters())[:2]), at.Adam(list(m2.parameters())[:2])
        train(m1, o1, 5)
        train(m2, o2, 5)
        for bad in ({"lr": -1.0}, {"betas": (0.9, 1.5)}, {"capturable": True}):
            with self.assertRaises(ValueError):
                o2.add_param_group(dict(bad, params=list(m2.parameters())[2:]))
            self.assertEqual(len(o2.param_groups), 1)
        train(m1, o1, 5, start=5)
        train(m2, o2, 5, start=5)
        for a, b in zip(m1.parameters(), m2.parameters()):
            self.assertTrue(torch.equal(a, b))

    def test_pickle_and_deepcopy_continue_exactly(self):
        for name, kw in (("AdamW", dict(lr=1e-3)), ("NAdam", dict(lr=1e-3)),
                         ("SGD", dict(lr=0.05, momentum=0.9))):
            m = mlp()
            o = getattr(at, name)(m.parameters(), **kw)
            train(m, o, 30)
            m2, o2 = pickle.loads(pickle.dumps((m, o)))
            m3, o3 = copy.deepcopy((m, o))
            for mm, oo in ((m, o), (m2, o2), (m3, o3)):
                train(mm, oo, 30, start=30)
            for a, b, c in zip(m.parameters(), m2.parameters(), m3.parameters()):
                self.assertTrue(torch.equal(a, b) and torch.equal(a, c), name)
            self.assertEqual(float(o2.state[next(m2.parameters())].get("step", 60)), 60.0)

    @unittest.skipUnless(TORCH2, "torch 1.13 takes no named parameters")
    def test_named_parameters(self):
        m1, m2 = mlp(), mlp()
        o1 = torch.optim.AdamW(m1.named_parameters())
        o2 = at.AdamW(m2.named_parameters())
        train(m1, o1, 10)
        train(m2, o2, 10)
        sd1, sd2 = o1.state_dict(), o2.state_dict()
        self.assertEqual(sd1["param_groups"][0].get("param_names"),
                         sd2["param_groups"][0].get("param_names"))
        for a, b in zip(m1.parameters(), m2.parameters()):
            self.assertLessEqual((a - b).abs().max().item(), TOL)

    @unittest.skipUnless(TORCH2, "torch 1.13 has no optimizer step hooks")
    def test_step_hooks(self):
        m = mlp()
        o = at.AdamW(m.parameters())
        calls = []
        o.register_step_pre_hook(lambda opt, args, kwargs: calls.append("pre"))
        o.register_step_post_hook(lambda opt, args, kwargs: calls.append("post"))
        train(m, o, 2)
        self.assertEqual(calls, ["pre", "post", "pre", "post"])

    def test_refusals(self):
        with self.assertRaisesRegex(ValueError, "on the CPU"):
            at.Adam([torch.nn.Parameter(torch.empty(3, device="meta"))])
        with self.assertRaisesRegex(ValueError, "not contiguous"):
            at.Adam([torch.nn.Parameter(torch.randn(4, 5).t())])
        with self.assertRaisesRegex(TypeError, "float32, bfloat16 or float16"):
            at.Adam([torch.nn.Parameter(torch.randn(4, dtype=torch.float64))])
        for kw in ("capturable", "differentiable"):
            if has_kw(torch.optim.Adam, kw):
                with self.assertRaisesRegex(ValueError, kw):
                    at.Adam(mlp().parameters(), **{kw: True})
        if has_kw(torch.optim.Adam, "decoupled_weight_decay"):
            with self.assertRaisesRegex(ValueError, "AdamW"):
                at.Adam(mlp().parameters(), decoupled_weight_decay=True)
        for kw in ("foreach", "fused"):  # accepted, ignored
            if has_kw(torch.optim.AdamW, kw):
                at.AdamW(mlp().parameters(), **{kw: True})
        m = mlp()
        o = at.Adam(m.parameters())
        train(m, o, 3)
        before = [p.detach().clone() for p in m.parameters()]
        p0 = next(m.parameters())
        p0.grad = torch.ones_like(p0)
        p0.grad.data = torch.ones(p0.numel() + 1)  # wrong size (assigned around torch's check)
        with self.assertRaises(ValueError):
            o.step()
        bad = o.state_dict()
        bad["state"][0]["exp_avg"] = torch.zeros(3)
        with self.assertRaisesRegex(ValueError, "exp_avg"):
            o.load_state_dict(bad)
        self.assertEqual(float(o.state[p0]["step"]), 3.0)  # a refused load changed nothing
        for a, b in zip(m.parameters(), before):
            self.assertTrue(torch.equal(a, b))

    def test_threads_follow_torch_and_do_not_change_results(self):
        outs = []
        for n in (1, 2):
            torch.set_num_threads(n)
            m = mlp()
            o = at.AdamW(m.parameters())
            self.assertEqual(o.threads, n)
            # the model's forward and backward on one thread (torch's own GEMMs may round
            # differently on two: MKL on AMD does), the optimizer's step on n
            o.threads = n
            torch.set_num_threads(1)
            train(m, o, 20)
            outs.append(params_of(m))
        torch.set_num_threads(1)
        for a, b in zip(*outs):
            self.assertTrue(torch.equal(a, b))

    def test_checkpoint_file(self):
        import tempfile
        m = mlp()
        o = at.AdamW(m.parameters(), lr=1e-3)
        train(m, o, 10)
        with tempfile.TemporaryDirectory() as d:
            o.save(os.path.join(d, "opt.ckpt"))
            snapshot = params_of(m)
            train(m, o, 10, start=10)
            after = params_of(m)
            with torch.no_grad():
                for p, s in zip(m.parameters(), snapshot):
                    p.copy_(s)
            o2 = at.AdamW(m.parameters(), lr=5.0)
            o2.load(os.path.join(d, "opt.ckpt"))
            self.assertEqual(o2.param_groups[0]["lr"], 1e-3)
            train(m, o2, 10, start=10)
        for a, b in zip(params_of(m), after):
            self.assertTrue(torch.equal(a, b))


class LowPrecision(unittest.TestCase):
    @staticmethod
    def as_numpy(t):
        """The bits of a bf16 / fp16 tensor as the numpy binding takes them (a copy)."""
        a = t.detach().view(torch.int16).numpy().view(np.uint16).copy()
        return adaopt.as_bf16(a) if t.dtype is torch.bfloat16 else a.view(np.float16)

    def test_low_precision_same_bits_as_the_numpy_binding(self):
        for dtype, opts in ((torch.bfloat16, dict()), (torch.bfloat16, dict(param_update="sr")),
                            (torch.bfloat16, dict(param_update="nearest", state_storage="bf16")),
                            (torch.bfloat16, dict(param_update="master_sr", state_storage="8bit",
                                                  min_8bit_numel=256)),
                            (torch.float16, dict()), (torch.float16, dict(param_update="sr"))):
            with self.subTest(dtype=dtype, **opts):
                m = mlp(dtype=dtype)
                arrays = [self.as_numpy(p) for p in m.parameters()]
                o = at.AdamW(m.parameters(), lr=1e-2, **opts)
                ref = adaopt.AdamW(arrays, lr=1e-2, torch=at.TORCH_ARITH, **opts)
                twin = mlp()  # float32 forward and backward (torch 1.13 has no fp16 matmul)
                for k in range(30):
                    b = BATCHES[k]
                    with torch.no_grad():
                        for q, p in zip(twin.parameters(), m.parameters()):
                            q.copy_(p.float())
                    twin.zero_grad()
                    torch.nn.functional.cross_entropy(twin(X[b]), Y[b]).backward()
                    for q, p in zip(twin.parameters(), m.parameters()):
                        p.grad = q.grad.to(dtype)
                    ref.step([self.as_numpy(p.grad) for p in m.parameters()])
                    o.step()
                for p, a in zip(m.parameters(), arrays):
                    np.testing.assert_array_equal(p.detach().view(torch.int16).numpy()
                                                  .view(np.uint16), a.view(np.uint16))
                self.assertEqual(o.state_bytes, ref.state_bytes)

    def test_mixed_dtypes_in_one_group(self):
        """bf16 weights and float32 biases in one group, param_update='sr': the float32
        parameters step as float32 AdamW does (param_update is for bf16/fp16 ones only)."""
        m = mlp()
        with torch.no_grad():
            for layer in (m[0], m[2]):
                layer.weight.data = layer.weight.data.bfloat16()
        o = at.AdamW(m.parameters(), lr=1e-2, param_update="sr")
        biases = [m[0].bias, m[2].bias]
        ref_b = [torch.nn.Parameter(b.detach().clone()) for b in biases]
        ref = torch.optim.AdamW(ref_b, lr=1e-2)
        for k in range(5):
            for p in m.parameters():
                p.grad = torch.full_like(p, 0.01 * (k + 1))
            for rb in ref_b:
                rb.grad = torch.full_like(rb, 0.01 * (k + 1))
            o.step()
            ref.step()
        self.assertEqual(m[0].weight.dtype, torch.bfloat16)
        for b, rb in zip(biases, ref_b):
            self.assertLessEqual((b - rb).abs().max().item(), 1e-6)

    def test_bf16_state_dict_resume_is_exact(self):
        m = mlp(dtype=torch.bfloat16)
        o = at.AdamW(m.parameters(), lr=1e-2)
        train(m, o, 10)
        sd = o.state_dict()
        self.assertIn("master", sd["state"][0])
        self.assertEqual(sd["state"][0]["exp_avg"].dtype, torch.float32)
        m2 = copy.deepcopy(m)
        o2 = at.AdamW(m2.parameters(), lr=1e-2)
        o2.load_state_dict(sd)
        train(m, o, 10, start=10)
        train(m2, o2, 10, start=10)
        for a, b in zip(m.parameters(), m2.parameters()):
            self.assertTrue(torch.equal(a, b))
        # and torch's AdamW takes it (its state in the parameters' dtype)
        ref = torch.optim.AdamW(m2.parameters(), lr=1e-2)
        ref.load_state_dict(o2.state_dict())
        train(m2, ref, 2, start=20)


class Hostile(unittest.TestCase):
    """Deliberate misuse (docs/SECURITY.md): a bad value in a later parameter's state applied
    half a state dict before its check; NUL bytes and huge thread counts reached C."""

    def trained(self, cls=at.Adam, **kw):
        m = mlp()
        o = cls(m.parameters(), **kw)
        train(m, o, 2)
        return m, o

    def test_load_state_dict_checks_everything_first(self):
        cases = [(at.Adam, "step", v) for v in (-1.0, 2.5, 2.0 ** 60, float("nan"))]
        cases += [(at.NAdam, "mu_product", 2.0), (at.Adam, "exp_avg", float("nan")),
                  (at.Adam, "exp_avg_sq", -1.0)]
        for cls, key, value in cases:
            m, o = self.trained(cls)
            before = copy.deepcopy(o.state_dict())
            sd = copy.deepcopy(o.state_dict())
            sd["param_groups"][0]["lr"] = 0.25
            last = max(sd["state"])
            if key in ("step", "mu_product"):
                sd["state"][last][key] = torch.tensor(value) if key == "step" else value
            else:
                sd["state"][last][key] = torch.full_like(sd["state"][last][key], value)
            with self.assertRaises(ValueError, msg="%s=%r" % (key, value)):
                o.load_state_dict(sd)
            after = o.state_dict()
            self.assertEqual(after["param_groups"][0]["lr"], before["param_groups"][0]["lr"])
            for i, entry in before["state"].items():
                for k, v in entry.items():
                    w = after["state"][i][k]
                    self.assertTrue(torch.equal(torch.as_tensor(w), torch.as_tensor(v)), k)

    def test_resized_parameters_are_refused(self):
        for size in (2, 100000):  # smaller and larger than the memory the optimizer knew
            m, o = self.trained(at.Adam)
            w = m[0].weight
            w.data = torch.zeros(size)
            w.grad = torch.ones(size)
            with self.assertRaises(ValueError):
                o.step()
            self.assertTrue(torch.equal(w.data, torch.zeros(size)))

    def test_paths_threads_and_values(self):
        import tempfile
        m, o = self.trained(at.AdamW)
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaises(ValueError):
                o.save(os.path.join(d, "a\0b"))
            self.assertEqual(os.listdir(d), [])
            os.mkfifo(os.path.join(d, "fifo"))
            with self.assertRaises(adaopt.AdaoptError):
                o.load(os.path.join(d, "fifo"))  # refused at once, not blocked
        for n in (2 ** 64, 4097, 0, -1, True):
            with self.assertRaises(ValueError, msg=repr(n)):
                o.threads = n
        with self.assertRaises(ValueError):
            at.AdamW(mlp().parameters(), lr=1e300)
        o.param_groups[0]["lr"] = 1e39
        with self.assertRaises(ValueError):
            train(m, o, 1, start=2)
        self.assertTrue(all(torch.isfinite(p).all() for p in m.parameters()))


class Installed(unittest.TestCase):
    @unittest.skipUnless(os.environ.get("ADAOPT_TEST_INSTALLED") == "1", "source tree run")
    def test_imports_the_installed_package(self):
        here = os.path.dirname(os.path.abspath(adaopt.__file__))
        self.assertNotEqual(here, os.path.join(ROOT, "python", "adaopt"))
        self.assertIn("site-packages", here)
        self.assertEqual(os.path.dirname(adaopt.library_path), here)


if __name__ == "__main__":
    unittest.main()

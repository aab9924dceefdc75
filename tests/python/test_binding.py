"""The numpy binding's own behaviour: torch.optim's interface, zero-copy, and its errors."""

import os
import sys
import unittest

import numpy as np

if os.environ.get("ADAOPT_TEST_INSTALLED") != "1":  # else: the pip-installed package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import adaopt  # noqa: E402


class Interface(unittest.TestCase):
    def test_defaults_mirror_torch(self):
        w = np.zeros(3, np.float32)
        self.assertEqual(adaopt.Adam([w]).defaults,
                         dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                              amsgrad=False, maximize=False, eps_mode="outside",
                              param_update="master", state_storage="float32",
                              min_8bit_numel=4096, torch=2))
        self.assertEqual(adaopt.AdamW([w]).defaults["weight_decay"], 1e-2)
        d = adaopt.Adagrad([w]).defaults
        self.assertEqual((d["lr"], d["eps"], d["lr_decay"], d["initial_accumulator_value"]),
                         (1e-2, 1e-10, 0.0, 0.0))
        d = adaopt.RMSprop([w]).defaults
        self.assertEqual((d["alpha"], d["centered"], d["momentum"]), (0.99, False, 0.0))
        self.assertEqual(adaopt.NAdam([w]).defaults["momentum_decay"], 4e-3)
        self.assertEqual(adaopt.RAdam([w]).defaults["eps_mode"], "hat")

    def test_low_precision(self):
        rng = np.random.default_rng(0)
        w32 = rng.standard_normal(5000).astype(np.float32)
        grads = [rng.standard_normal(5000).astype(np.float32) for _ in range(5)]
        # float16 parameters rounded to nearest after each step (no master): numpy's own
        # float16 rounding applied to a float32 run gives the same bits
        w16 = w32.astype(np.float16)
        ref = w16.astype(np.float32)
        a = adaopt.AdamW([w16], lr=1e-2, param_update="nearest", grad_dtype="float32")
        b = adaopt.AdamW([ref], lr=1e-2)
        for g in grads:
            a.step([g])
            b.step([g])
            ref[:] = ref.astype(np.float16).astype(np.float32)
            np.testing.assert_array_equal(w16.view(np.uint16), ref.astype(np.float16).view(np.uint16))
        # bf16 parameters with master weights: the master is the float32 path exactly
        wb = adaopt.to_bf16(w32)
        f = adaopt.from_bf16(wb)
        c = adaopt.Adam([wb], lr=1e-2, grad_dtype="float32")
        d = adaopt.Adam([f], lr=1e-2)
        for g in grads:
            c.step([g])
            d.step([g])
        np.testing.assert_array_equal(np.asarray(wb).view(np.uint16), np.asarray(adaopt.to_bf16(f)))
        # 8-bit state: a quarter of the bytes; the state reads back as float32 arrays
        e = adaopt.Adam([adaopt.to_bf16(w32)], lr=1e-3, param_update="sr", state_storage="8bit")
        self.assertEqual(e.state_bytes, 2 * (5000 + 20 * 4))
        e.step([adaopt.to_bf16(grads[0])])
        st = e.state[0]
        self.assertEqual(st["exp_avg"].dtype, np.float32)
        self.assertGreater(np.abs(st["exp_avg"]).max(), 0)
        # misuse is refused clearly
        with self.assertRaises(TypeError):
            e.step([grads[0]])  # float32 gradient for a bf16 group
        with self.assertRaises(TypeError):
            adaopt.Adam([w32, w16.copy()])  # mixed dtypes in one group
        with self.assertRaises(ValueError):
            adaopt.Adam([w32.copy()], state_storage="4bit")
        with self.assertRaises(adaopt.AdaoptError):
            adaopt.Adam([w32.copy()], param_update="sr")  # float32 parameters
        with self.assertRaises(TypeError):
            adaopt.as_bf16(w32)

    def test_updates_in_place_zero_copy(self):
        w = np.ones((2, 3), np.float32)
        address = w.ctypes.data
        opt = adaopt.SGD([w], lr=0.5)
        opt.step([np.ones((2, 3), np.float32)])
        self.assertEqual(w.ctypes.data, address)
        np.testing.assert_array_equal(w, np.full((2, 3), 0.5, np.float32))

    def test_positional_and_groups(self):
        a, b = np.zeros(2, np.float32), np.zeros(2, np.float32)
        opt = adaopt.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], 0.1, 0.9)
        self.assertEqual(opt.param_groups[0]["lr"], 0.1)
        self.assertEqual(opt.param_groups[1]["momentum"], 0.9)
        opt.step([np.ones(2, np.float32), np.ones(2, np.float32)])
        np.testing.assert_allclose(a, -0.1)
        np.testing.assert_allclose(b, -0.5)
        opt.param_groups[1]["lr"] = 0.0  # picked up by the next step
        opt.step([np.ones(2, np.float32), np.ones(2, np.float32)])
        np.testing.assert_allclose(b, -0.5)

    def test_state_and_effective_lr(self):
        w = np.zeros(4, np.float32)
        opt = adaopt.Adagrad([w], lr=0.1, eps=0.0)
        self.assertEqual(opt.state[w], {})
        opt.step([np.full(4, 2.0, np.float32)])
        st = opt.state[w]
        self.assertEqual(st["step"], 1)
        np.testing.assert_array_equal(st["sum"], np.full(4, 4.0, np.float32))
        np.testing.assert_allclose(opt.effective_lr(w), 0.05)
        np.testing.assert_array_equal(opt.state[0]["sum"], st["sum"])

    def test_none_gradient_skips(self):
        a, b = np.zeros(2, np.float32), np.zeros(2, np.float32)
        opt = adaopt.Adam([a, b])
        opt.step([np.ones(2, np.float32), None])
        self.assertTrue((a != 0).all())
        self.assertTrue((b == 0).all())
        self.assertEqual(opt.state[b], {})

    def test_lamb_overwrite_grads(self):
        """overwrite_grads: the same parameters, and each gradient left holding u = m / (sqrt(v)
        + eps) (computed here in float32); read-only gradients and other algorithms refused."""
        rng = np.random.default_rng(3)
        w0 = rng.standard_normal(70001).astype(np.float32)
        a, b = w0.copy(), w0.copy()
        plain, over = adaopt.Lamb([a], lr=1e-2), adaopt.Lamb([b], lr=1e-2)
        over.overwrite_grads = True
        self.assertTrue(over.overwrite_grads and not plain.overwrite_grads)
        for _ in range(5):
            g = rng.standard_normal(70001).astype(np.float32)
            plain.step([g.copy()])
            over.step([g])
        np.testing.assert_array_equal(a, b)
        v, m = over.state[b]["exp_avg_sq"], over.state[b]["exp_avg"]
        np.testing.assert_array_equal(g, (np.float32(1) / (np.sqrt(v) + np.float32(1e-6))) * m)
        ro = rng.standard_normal(70001).astype(np.float32)
        ro.flags.writeable = False
        before = b.copy()
        with self.assertRaisesRegex(ValueError, "read-only"):
            over.step([ro])
        np.testing.assert_array_equal(b, before)
        plain.step([ro])  # (read only is fine when nothing writes it)
        with self.assertRaisesRegex(adaopt.AdaoptError, "LAMB and Adafactor only"):
            adaopt.Adam([a]).overwrite_grads = True
        with self.assertRaisesRegex(ValueError, "True or False"):
            over.overwrite_grads = "yes"

    def test_adafactor_overwrite_grads(self):
        """Adafactor with overwrite_grads (pass 2 leaves u in the gradient): the parameters of
        a matrix (factored) and a vector keep their bits, and both gradients were written."""
        rng = np.random.default_rng(4)
        shapes = [(300, 257), (70001,)]
        w0 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        a, b = [w.copy() for w in w0], [w.copy() for w in w0]
        plain, over = adaopt.Adafactor(a, lr=1e-2), adaopt.Adafactor(b, lr=1e-2)
        over.overwrite_grads = True
        for _ in range(4):
            gs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
            kept = [g.copy() for g in gs]
            plain.step([g.copy() for g in gs])
            over.step(gs)
        for x, y, g, k in zip(a, b, gs, kept):
            np.testing.assert_array_equal(x, y)
            self.assertFalse(np.array_equal(g, k))

    def test_clipping(self):
        g = [np.array([3.0, 0.0], np.float32), np.array([4.0], np.float32)]
        self.assertAlmostEqual(adaopt.clip_grad_norm_(g, 1.0), 5.0, places=6)
        self.assertAlmostEqual(float(np.hypot(g[0][0], g[1][0])), 1.0, places=5)
        adaopt.clip_grad_value_(g, 0.1)
        self.assertTrue(max(abs(g[0]).max(), abs(g[1]).max()) <= np.float32(0.1))


class Checkpoints(unittest.TestCase):
    def run_steps(self, opt, params, start, stop):
        for t in range(start, stop):
            rng = np.random.default_rng(t)
            opt.step([rng.standard_normal(p.shape).astype(np.float32) for p in params])

    def test_state_dict_round_trip_and_exact_resume(self):
        for cls, kw in ((adaopt.Adam, dict(amsgrad=True)), (adaopt.NAdam, {}),
                        (adaopt.SGD, dict(momentum=0.9)), (adaopt.RMSprop, dict(centered=True))):
            a, b = np.ones(6, np.float32), np.ones(6, np.float32)
            whole = cls([a], **kw)
            self.run_steps(whole, [a], 0, 30)
            first = cls([b], **kw)
            self.run_steps(first, [b], 0, 17)
            sd = first.state_dict()
            c = b.copy()
            resumed = cls([c])  # defaults: the state dict brings the hyperparameters
            resumed.load_state_dict(sd)
            self.assertEqual(resumed.param_groups[0]["lr"], first.param_groups[0]["lr"])
            self.run_steps(resumed, [c], 17, 30)
            np.testing.assert_array_equal(c, a, err_msg=cls.__name__)

    def test_file_round_trip(self):
        import tempfile
        a, b = np.ones(5, np.float32), np.ones(5, np.float32)
        opt = adaopt.AdamW([a], lr=0.01, weight_decay=0.2)
        self.run_steps(opt, [a], 0, 10)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "opt.ckpt")
            opt.save(path)
            other = adaopt.AdamW([b])
            other.load(path)
            self.assertEqual(other.param_groups[0]["weight_decay"], 0.2)
            np.testing.assert_array_equal(other.state[0]["exp_avg"], opt.state[0]["exp_avg"])
            with open(path, "r+b") as f:  # damage it
                f.seek(100)
                f.write(b"\xff")
            fresh = adaopt.AdamW([np.ones(5, np.float32)])
            with self.assertRaises(adaopt.AdaoptError):
                fresh.load(path)
            self.assertEqual(fresh.state[0], {})
            with self.assertRaises(adaopt.AdaoptError):
                adaopt.Adam([np.ones(5, np.float32)]).load(os.path.join(d, "missing"))

    def test_bad_state_dicts_change_nothing(self):
        a = np.ones(4, np.float32)
        opt = adaopt.Adam([a])
        opt.step([np.ones(4, np.float32)])
        before = opt.state_dict()
        bad = opt.state_dict()
        bad["state"][0]["exp_avg"] = np.zeros(5, np.float32)
        with self.assertRaises(ValueError):
            opt.load_state_dict(bad)
        bad = opt.state_dict()
        bad["param_groups"][0]["lr"] = -1.0
        with self.assertRaises(adaopt.AdaoptError):
            opt.load_state_dict(bad)
        bad = opt.state_dict()
        bad["state"][0]["sum"] = np.zeros(4, np.float32)
        with self.assertRaises(ValueError):
            opt.load_state_dict(bad)
        np.testing.assert_array_equal(opt.state[0]["exp_avg"], before["state"][0]["exp_avg"])
        self.assertEqual(opt.param_groups[0]["lr"], before["param_groups"][0]["lr"])

    def test_nonfinite_policy(self):
        a = np.zeros(3, np.float32)
        opt = adaopt.Adam([a])
        self.assertEqual(opt.nonfinite, "propagate")
        opt.nonfinite = "skip"
        opt.step([np.array([1, np.nan, 1], np.float32)])
        self.assertTrue(opt.last_step_skipped)
        self.assertEqual(opt.steps_skipped, 1)
        np.testing.assert_array_equal(a, 0)
        opt.nonfinite = "error"
        with self.assertRaises(adaopt.AdaoptError):
            opt.step([np.array([1, np.inf, 1], np.float32)])
        with self.assertRaises(ValueError):
            opt.nonfinite = "ignore"


class Errors(unittest.TestCase):
    def setUp(self):
        self.w = np.zeros(3, np.float32)

    def test_bad_hyperparameters(self):
        for kwargs in (dict(lr=-1), dict(lr=float("nan")), dict(betas=(1.0, 0.9)),
                       dict(betas=(0.9, -0.1)), dict(eps=-1e-8), dict(weight_decay=-1),
                       dict(eps_mode="sideways")):
            with self.assertRaises(ValueError, msg=str(kwargs)):
                adaopt.Adam([self.w], **kwargs)
        with self.assertRaises(TypeError):
            adaopt.Adam([self.w], momentum=0.9)  # not an Adam option
        with self.assertRaises(TypeError):
            adaopt.Adam([self.w], lr="fast")
        with self.assertRaises(TypeError):
            adaopt.Adam([self.w], betas=0.9)
        with self.assertRaises(ValueError):
            adaopt.Adam([])

    def test_bad_arrays(self):
        with self.assertRaises(TypeError):
            adaopt.Adam([np.zeros(3, np.float64)])
        with self.assertRaises(TypeError):
            adaopt.Adam([np.zeros((4, 4), np.float32)[:, 1]])  # not contiguous
        with self.assertRaises(TypeError):
            adaopt.Adam([[0.0, 1.0]])
        with self.assertRaises(ValueError):
            adaopt.Adam([self.w, self.w])
        opt = adaopt.Adam([self.w])
        with self.assertRaises(ValueError):
            opt.step([])
        with self.assertRaises(ValueError):
            opt.step([np.zeros(4, np.float32)])
        with self.assertRaises(TypeError):
            opt.step([np.zeros(3, np.float64)])
        np.testing.assert_array_equal(self.w, 0)

    def test_bad_assignment_is_reported_and_changes_nothing(self):
        opt = adaopt.SGD([self.w], lr=0.1)
        opt.param_groups[0]["lr"] = -0.5
        with self.assertRaises(adaopt.AdaoptError) as ctx:
            opt.step([np.ones(3, np.float32)])
        self.assertIn("lr must be >= 0", str(ctx.exception))
        np.testing.assert_array_equal(self.w, 0)
        opt.param_groups[0]["lr"] = 0.1
        opt.param_groups[0]["nesterov"] = True  # without momentum: a conflict
        with self.assertRaises(adaopt.AdaoptError) as ctx:
            opt.step([np.ones(3, np.float32)])
        self.assertIn("nesterov", str(ctx.exception))
        np.testing.assert_array_equal(self.w, 0)

    def test_state_of_unknown_parameter(self):
        opt = adaopt.Adam([self.w])
        with self.assertRaises(KeyError):
            opt.state[np.zeros(3, np.float32)]
        with self.assertRaises(IndexError):
            opt.state[5]
        with self.assertRaises(adaopt.AdaoptError):
            opt.effective_lr(self.w)  # before the first step


class Hostile(unittest.TestCase):
    """Deliberate misuse (docs/SECURITY.md): each case wrote freed or read-only memory, applied
    half a state dict, or wrote another file before its check."""

    def trained(self, cls=adaopt.Adam, n=2, **kw):
        params = [np.ones(4, np.float32) for _ in range(n)]
        opt = cls(params, **kw)
        opt.step([np.full(4, 0.5, np.float32) for _ in range(n)])
        return opt, params

    def test_resized_or_read_only_parameters_are_refused(self):
        opt, (w, v) = self.trained()
        w.resize(4096, refcheck=False)  # a new buffer; the old one is freed
        with self.assertRaises(ValueError) as ctx:
            opt.step([np.ones(4, np.float32), np.ones(4, np.float32)])
        self.assertIn("parameter 0 changed", str(ctx.exception))
        np.testing.assert_array_equal(w[4:], 0)  # nothing written past the old size
        opt, (w, v) = self.trained()
        before = v.copy()
        v.setflags(write=False)
        with self.assertRaises(ValueError) as ctx:
            opt.step([np.ones(4, np.float32), np.ones(4, np.float32)])
        self.assertIn("read-only", str(ctx.exception))
        np.testing.assert_array_equal(v, before)
        # a buffer that moved (the same size) is followed: the array is the parameter
        opt, (w, v) = self.trained(adaopt.SGD, lr=0.5)
        w.resize(8, refcheck=False)
        w.resize(4, refcheck=False)
        w[:] = 1
        opt.step([np.ones(4, np.float32), np.ones(4, np.float32)])
        np.testing.assert_array_equal(w, 0.5)

    def test_load_state_dict_checks_everything_first(self):
        bad_scalars = [("step", -1.0), ("step", 2.5), ("step", 2.0 ** 60), ("step", float("nan")),
                       ("step", "x")]
        for cls, key, value in [(adaopt.Adam, k, v) for k, v in bad_scalars] + \
                [(adaopt.NAdam, "mu_product", 2.0), (adaopt.NAdam, "mu_product", float("nan"))]:
            opt, _ = self.trained(cls)
            before = opt.state_dict()
            sd = opt.state_dict()
            sd["param_groups"][0]["lr"] = 0.25  # a change that must not be applied either
            sd["state"][0]["exp_avg"] = sd["state"][0]["exp_avg"] + 1.0
            sd["state"][1][key] = value  # the later parameter is the bad one
            with self.assertRaises(ValueError, msg="%s=%r" % (key, value)):
                opt.load_state_dict(sd)
            after = opt.state_dict()
            self.assertEqual(after["param_groups"][0]["lr"], before["param_groups"][0]["lr"])
            for i in (0, 1):
                for k, v in before["state"][i].items():
                    np.testing.assert_array_equal(after["state"][i][k], v, err_msg=k)
        for key, value in (("exp_avg", np.nan), ("exp_avg_sq", -1.0), ("exp_avg_sq", np.inf)):
            opt, _ = self.trained()
            sd = opt.state_dict()
            sd["state"][1][key] = np.full(4, value, np.float32)
            with self.assertRaises(ValueError, msg="%s=%r" % (key, value)):
                opt.load_state_dict(sd)
            np.testing.assert_array_equal(opt.state[1]["exp_avg"], opt.state[0]["exp_avg"])

    def test_paths_and_thread_counts(self):
        import tempfile
        opt, _ = self.trained()
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaises(ValueError):
                opt.save(os.path.join(d, "a\0b"))
            self.assertEqual(os.listdir(d), [])  # no file "a"
            with self.assertRaises(ValueError):
                opt.load(os.path.join(d, "a\0b"))
            os.mkfifo(os.path.join(d, "fifo"))
            with self.assertRaises(adaopt.AdaoptError) as ctx:
                opt.save(os.path.join(d, "fifo"))
            self.assertIn("not a regular file", str(ctx.exception))
            with self.assertRaises(adaopt.AdaoptError):
                opt.load(os.path.join(d, "fifo"))  # refused at once, not blocked
        for n in (2 ** 64, 2 ** 64 + 1, 4097, -1, 1.5, True):
            with self.assertRaises(ValueError, msg=repr(n)):
                opt.threads = n
        self.assertNotEqual(opt.threads, 0)

    def test_values_past_float32(self):
        for kw in (dict(lr=1e300), dict(lr=1e39), dict(weight_decay=1e300), dict(eps=4e38)):
            with self.assertRaises(ValueError, msg=str(kw)):
                adaopt.AdamW([np.zeros(3, np.float32)], **kw)
        opt, (w, _) = self.trained(adaopt.AdamW)
        opt.param_groups[0]["lr"] = 1e300
        with self.assertRaises(adaopt.AdaoptError):
            opt.step([np.ones(4, np.float32), np.ones(4, np.float32)])
        self.assertTrue(np.isfinite(w).all())


if __name__ == "__main__":
    unittest.main()

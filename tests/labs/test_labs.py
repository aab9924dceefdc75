"""The `adaopt` program: trace's output, every lab's numbers, and the CLI's errors.

Run with ADAOPT_CLI=path/to/adaopt /usr/bin/python3 tests/labs/test_labs.py.  The labs run once
(`adaopt lab all --sweep`) into a temporary folder; their CSV files are checked against
independent computations (the seeds' own numpy code, in float64) and against the seeds' claims.
Pictures are not checked pixel by pixel; that they were drawn is.
"""

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

CLI = os.environ.get("ADAOPT_CLI", os.path.join(os.path.dirname(__file__), "..", "..", "build",
                                                "adaopt"))


def run(*args, check=True):
    p = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError("adaopt %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr))
    return p


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def rosenbrock_grad(t):
    x, y = t
    return np.array([-2 * (1 - x) - 400 * x * (y - x ** 2), 200 * (y - x ** 2)])


def schedule_free_numpy(grad, x0, steps, lr, beta1=0.9, beta2=0.999, eps=1e-8, warmup=0, r=0.0,
                        power=2.0):
    """schedulefree's AdamWScheduleFree.step, written out in float64 numpy (weight decay 0); the
    average x at the end (its eval())."""
    y, z, v = np.array(x0, float), np.array(x0, float), np.zeros(len(x0))
    lr_max, weight_sum = -1.0, 0.0
    for k in range(steps):
        lr_k = lr * ((k + 1) / warmup if k < warmup else 1.0)
        lr_max = max(lr_max, lr_k)
        weight = (k + 1) ** r * lr_max ** power
        weight_sum += weight
        c = weight / weight_sum
        g = grad(y)
        v = beta2 * v + (1 - beta2) * g * g
        u = g / (np.sqrt(v / (1 - beta2 ** (k + 1))) + eps)
        y = (1 - c) * y + c * z + lr_k * (beta1 * (1 - c) - 1) * u
        z = z - lr_k * u
    return (y - (1 - beta1) * z) / beta1


def lamb_numpy(grad, x0, steps, lr, beta1=0.9, beta2=0.999, eps=1e-6, wd=0.0, clamp=10.0):
    """pytorch-optimizer's Lamb (decoupled decay, grad averaging), written out in float64 numpy:
    one tensor, its trust ratio min(||p||, clamp) / (||u|| + eps)."""
    p, m, v = np.array(x0, float), np.zeros(len(x0)), np.zeros(len(x0))
    for t in range(1, steps + 1):
        g = grad(p)
        p = p * (1 - lr * wd)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        u = m / (np.sqrt(v) + eps)
        wn, un = min(np.linalg.norm(p), clamp), np.linalg.norm(u)
        trust = wn / (un + eps) if wn != 0 and un != 0 else 1.0
        p = p - lr / (1 - beta1 ** t) * trust * u
    return p


def adafactor_numpy(grad, x0, steps, lr, beta2_decay=-0.8, eps1=np.finfo(np.float32).eps,
                    eps2=1e-3, d=1.0, wd=0.0):
    """torch.optim.Adafactor's single-tensor step for a vector, written out in float64 numpy."""
    p, v = np.array(x0, float), np.zeros(len(x0))
    for t in range(1, steps + 1):
        g = grad(p)
        rho = min(lr, 1 / t ** 0.5)
        alpha = max(eps2, np.linalg.norm(p) / len(p) ** 0.5) * rho
        p = p * (1 - lr * wd)
        v = v + (g * g - v) * t ** beta2_decay
        u = g / np.sqrt(np.maximum(v, eps1 * eps1))
        denom = max(1.0, np.linalg.norm(u) / (len(u) ** 0.5 * d))
        p = p - alpha / denom * u
    return p


class Trace(unittest.TestCase):
    def test_adafactor_matches_numpy(self):
        """adaopt trace with adafactor: torch's algorithm (a vector) in float64 numpy agrees on
        Rosenbrock (2000 steps, weight decay, d)."""
        want = adafactor_numpy(rosenbrock_grad, [-1.0, 1.0], 2000, 0.05, wd=0.01, d=2.0)
        out = json.loads(run("trace", "--problem", "rosenbrock", "--optimizer", "adafactor", "--lr",
                             "0.05", "--weight-decay", "0.01", "--d", "2", "--x0=-1,1", "--steps",
                             "2000", "--json").stdout)
        np.testing.assert_allclose(out["x"], want, atol=1e-3)


    def test_lamb_matches_numpy(self):
        """adaopt trace with lamb: pytorch-optimizer's algorithm in float64 numpy agrees on
        Rosenbrock (1000 steps, weight decay)."""
        want = lamb_numpy(rosenbrock_grad, [-1.0, 1.0], 1000, 0.01, wd=0.01)
        out = json.loads(run("trace", "--problem", "rosenbrock", "--optimizer", "lamb", "--lr",
                             "0.01", "--weight-decay", "0.01", "--x0=-1,1", "--steps", "1000",
                             "--json").stdout)
        np.testing.assert_allclose(out["x"], want, atol=1e-3)


    def test_schedule_free_matches_numpy(self):
        """adaopt trace with adamw_schedulefree prints the average x: schedulefree's algorithm in
        float64 numpy agrees on Rosenbrock (3000 steps, warmup 100)."""
        want = schedule_free_numpy(rosenbrock_grad, [-1.0, 1.0], 3000, 0.01, warmup=100)
        out = json.loads(run("trace", "--problem", "rosenbrock", "--optimizer",
                             "adamw_schedulefree", "--lr", "0.01", "--warmup-steps", "100",
                             "--x0=-1,1", "--steps", "3000", "--json").stdout)
        np.testing.assert_allclose(out["x"], want, atol=1e-3)


    def test_rosenbrock_matches_the_seeds_numpy_code(self):
        # seed 003's code, verbatim in float64
        sgd = np.array([-1.0, 1.0])
        for _ in range(5000):
            sgd -= 0.001 * rosenbrock_grad(sgd)
        adam, m, v = np.array([-1.0, 1.0]), np.zeros(2), np.zeros(2)
        for t in range(1, 5001):
            g = rosenbrock_grad(adam)
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g ** 2
            adam -= 0.001 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        for name, want in (("sgd", sgd), ("adam", adam)):
            out = json.loads(run("trace", "--problem", "rosenbrock", "--optimizer", name, "--lr",
                                 "0.001", "--x0=-1,1", "--steps", "5000", "--json").stdout)
            np.testing.assert_allclose(out["x"], want, atol=1e-4, err_msg=name)
            x, y = out["x"]
            self.assertAlmostEqual(out["loss"], (1 - x) ** 2 + 100 * (y - x * x) ** 2, places=6)

    def test_json_trajectory_and_csv(self):
        out = json.loads(run("trace", "--problem", "quadratic", "--a", "10", "--x0", "5",
                             "--optimizer", "adagrad", "--lr", "0.5", "--eps", "0", "--steps",
                             "3", "--every", "1", "--json").stdout)
        xs = [p["x"][0] for p in out["trajectory"]]
        self.assertEqual([round(x, 3) for x in xs], [5.0, 4.5, 4.166, 3.902])  # seed 004 ex. 1
        self.assertIsNone(out["trajectory"][0]["effective_lr"][0])  # no step yet
        self.assertAlmostEqual(out["effective_lr"][0], 0.0032, places=4)
        lines = run("trace", "--problem", "sparse-regression", "--optimizer", "adam", "--steps",
                    "10", "--every", "5", "--csv").stdout.splitlines()
        self.assertEqual(lines[0], "step,x0,x1,loss,effective_lr0,effective_lr1")
        self.assertEqual([l.split(",")[0] for l in lines[1:]], ["0", "5", "10"])
        table = run("trace", "--problem", "rosenbrock", "--optimizer", "rmsprop", "--centered",
                    "--momentum", "0.5", "--steps", "4").stdout
        self.assertIn("rmsprop on rosenbrock", table)

    def test_hyperparameters_reach_the_optimizer(self):
        base = ["trace", "--problem", "quadratic", "--x0", "1", "--steps", "1", "--json"]
        a = json.loads(run(*base, "--optimizer", "sgd", "--lr", "0.25").stdout)["x"][0]
        self.assertAlmostEqual(a, 1 - 0.25 * 2, places=6)
        b = json.loads(run(*base, "--optimizer", "sgd", "--lr=0.25", "--maximize").stdout)["x"][0]
        self.assertAlmostEqual(b, 1 + 0.25 * 2, places=6)
        c = json.loads(run(*base, "--optimizer", "adamw", "--lr", "0.1", "--weight-decay", "0.5",
                           "--betas", "0.5,0.9", "--eps", "0").stdout)["x"][0]
        self.assertAlmostEqual(c, 1 * (1 - 0.05) - 0.1, places=6)


class CliErrors(unittest.TestCase):
    def check_usage(self, *args):
        p = run(*args, check=False)
        self.assertNotEqual(p.returncode, 0, args)
        self.assertIn("usage:", p.stderr, args)
        return p.stderr

    def test_errors_print_usage_and_fail(self):
        self.assertIn("unknown optimizer", self.check_usage("trace", "--problem", "rosenbrock",
                                                            "--optimizer", "adamz"))
        self.assertIn("not a number", self.check_usage("trace", "--problem", "rosenbrock",
                                                       "--optimizer", "adam", "--lr", "fast"))
        self.assertIn("needs a value", self.check_usage("trace", "--problem", "rosenbrock",
                                                        "--optimizer", "adam", "--lr"))
        self.assertIn("not valid", self.check_usage("trace", "--problem", "rosenbrock",
                                                    "--optimizer", "adam", "--lr", "-1"))
        self.assertIn("not valid", self.check_usage("trace", "--problem", "rosenbrock",
                                                    "--optimizer", "sgd", "--amsgrad"))
        self.assertIn("unknown problem", self.check_usage("trace", "--problem", "bowl",
                                                          "--optimizer", "sgd"))
        self.assertIn("--x0", self.check_usage("trace", "--problem", "rosenbrock", "--optimizer",
                                               "sgd", "--x0", "1,x"))
        self.assertIn("--steps", self.check_usage("trace", "--problem", "rosenbrock",
                                                  "--optimizer", "sgd", "--steps", "-3"))
        self.assertIn("--betas", self.check_usage("trace", "--problem", "rosenbrock",
                                                  "--optimizer", "adam", "--betas", "0.9"))
        # A diverging run still writes valid JSON (null for NaN), and says so.
        out = json.loads(run("trace", "--problem", "rosenbrock", "--optimizer", "sgd", "--lr",
                             "1", "--steps", "40", "--json").stdout)
        self.assertIsNone(out["loss"])
        self.assertIsNone(out["x"][0])
        # Found by fuzz_cli: a huge --every or --seed was cast to an integer out of range.
        self.assertIn("--every", self.check_usage("trace", "--problem", "quadratic", "--optimizer",
                                                  "adagrad", "--every", "7" * 150))
        self.assertIn("--seed", self.check_usage("trace", "--problem", "sparse-regression",
                                                 "--optimizer", "sgd", "--seed", "1e300"))
        self.assertIn("needs --optimizer", self.check_usage("trace", "--problem", "rosenbrock"))
        self.assertIn("unknown lab", self.check_usage("lab", "everything"))
        self.assertIn("unknown argument", self.check_usage("lab", "worked", "--colour"))
        self.assertIn("unknown command", self.check_usage("train"))
        self.assertIn("missing command", self.check_usage())
        self.assertEqual(run("--help").returncode, 0)

    def test_hostile_arguments(self):
        # A folder name with quotes is a folder name, never gnuplot code (whose system() would
        # run a shell): the lab runs in it and draws, and nothing else happens.
        with tempfile.TemporaryDirectory() as d:
            witness = os.path.join(d, "PWNED")
            out = os.path.join(d, "x'.system('touch %s').'\"; `touch %s` $(touch %s)"
                               % (witness, witness, witness))
            run("lab", "long-run", "--quiet", "--out", out)
            self.assertFalse(os.path.exists(witness))
            self.assertTrue(os.path.exists(os.path.join(out, "long_run.csv")))
            if shutil.which("gnuplot"):
                self.assertGreater(os.path.getsize(os.path.join(out, "long_run_x.png")), 10000)
            for gp in ("long_run_x.gp", "long_run_effective_lr.gp"):
                if os.path.exists(os.path.join(out, gp)):
                    with open(os.path.join(out, gp)) as f:
                        self.assertNotIn(d, f.read())  # the folder is not in the script
            # --data that is no data file: refused at once (a FIFO or /dev/zero never ends)
            fifo = os.path.join(d, "fifo")
            os.mkfifo(fifo)
            zeros = os.path.join(d, "zeros.csv")
            with open(zeros, "wb") as f:
                f.write(b"\0" * 100000)
            for data, why in (("/dev/zero", "not a regular file"), (fifo, "not a regular file"),
                              (zeros, "NUL byte")):
                p = subprocess.run([CLI, "lab", "digits", "--quiet", "--data", data, "--out", d],
                                   capture_output=True, text=True, timeout=60)
                self.assertNotEqual(p.returncode, 0, data)
                self.assertIn(why, p.stderr, data)
        # A diverging trace is still JSON: null for NaN and infinities, and it says so.
        p = run("trace", "--problem", "quadratic", "--optimizer", "sgd", "--lr", "10", "--steps",
                "60", "--every", "1", "--json")
        out = json.loads(p.stdout)  # bare inf/nan would not parse
        self.assertTrue(out["diverged"])
        self.assertIsNone(out["x"][0])
        self.assertIn("null", p.stderr)
        self.assertFalse(json.loads(run("trace", "--problem", "quadratic", "--optimizer", "sgd",
                                        "--steps", "3", "--json").stdout)["diverged"])
        # A starting point past float32 is refused, not started at infinity.
        self.assertIn("--x0", self.check_usage("trace", "--problem", "rosenbrock", "--optimizer",
                                               "sgd", "--x0=1e39,1"))
        self.assertIn("--a", self.check_usage("trace", "--problem", "quadratic", "--optimizer",
                                              "sgd", "--a", "1e300"))


class Labs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = tempfile.mkdtemp(prefix="adaopt-lab-")
        cls.stdout = run("lab", "all", "--sweep", "--out", cls.out).stdout

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out)

    def path(self, name):
        return os.path.join(self.out, name)

    def test_all_ran_and_drew(self):
        self.assertIn("9 labs run, 0 failed", self.stdout)
        if shutil.which("gnuplot"):
            for png in ("rosenbrock", "long_run_effective_lr", "long_run_x", "regression_loss",
                        "sparse_contours", "sparse_loss", "sparse_effective_lr", "sparse_burst",
                        "sparse_sweep", "digits_default", "digits_tuned", "precision_long_run",
                        "precision_digits", "schedule_free", "muon"):
                self.assertGreater(os.path.getsize(self.path(png + ".png")), 10000, png)

    def test_worked_numbers(self):
        claims = {r["claim"]: r for r in rows(self.path("worked.csv"))}
        self.assertEqual(len(claims), 21)
        expect = {"AdaGrad x1 on 10x^2 (eta 0.5)": 4.5, "AdaGrad x2": 4.16552, "AdaGrad x3": 3.90228,
                  "effective lr at step 3": 0.0031597, "Adam m1 (beta1 0.9, x0 1)": 0.2,
                  "rho 0.9: half-life (steps)": math.log(0.5) / math.log(0.9),
                  "rho 0.99: half-life (steps)": math.log(0.5) / math.log(0.99),
                  "beta2 0.999: window (steps)": 1000, "rho 0.9: window ~10 steps": 10,
                  "AdaGrad effective lr at t = 100 (|g| = 1)": 0.01,
                  "AdaGrad effective lr at t = 10,000": 0.001}
        for claim, value in expect.items():
            self.assertAlmostEqual(float(claims[claim]["computed"]), value,
                                   delta=2e-3 * abs(value), msg=claim)
        wrong = {c for c, r in claims.items() if r["agrees"] == "no"}
        self.assertEqual(wrong, {"AdaGrad sum of g^2 after 1000 steps",
                                 "AdaGrad effective lr after 1000 steps"})

    def test_long_run_against_numpy(self):
        x_ada, G, x_rms, E = 10.0, 0.0, 10.0, 0.0
        for _ in range(1000):  # seed 002's code, float64
            g = 2 * x_ada
            G += g * g
            x_ada -= 0.1 / (math.sqrt(G) + 1e-8) * g
            g = 2 * x_rms
            E = 0.9 * E + 0.1 * g * g
            x_rms -= 0.1 / (math.sqrt(E) + 1e-8) * g
        last = rows(self.path("long_run.csv"))[-1]
        self.assertAlmostEqual(float(last["adagrad_x"]), x_ada, delta=1e-4)
        self.assertAlmostEqual(float(last["adagrad_effective_lr"]), 0.1 / (math.sqrt(G) + 1e-8),
                               delta=1e-8)
        # RMSProp ends in its limit cycle around 0, of amplitude about lr / 2
        self.assertLess(abs(float(last["rmsprop_x"])), 0.06)
        self.assertLess(abs(x_rms), 0.06)

    def test_rosenbrock_final_points(self):
        final = {r["optimizer"]: r for r in rows(self.path("rosenbrock_final.csv"))}
        self.assertEqual(len(final), 17)
        for name in ("SGD+momentum", "Adamax", "NAdam", "Rprop"):
            self.assertLess(float(final[name]["distance"]), 1e-3, name)
        self.assertLess(float(final["Adam"]["distance"]), float(final["SGD"]["distance"]))
        self.assertLess(float(final["SF-AdamW"]["loss"]), 0.01)  # (its average x)

    def test_sparse_claims(self):
        eff = {r["optimizer"]: r for r in rows(self.path("sparse_effective_lr.csv"))}
        ada = eff["AdaGrad"]
        self.assertGreater(float(ada["effective_lr_w2_rare"]), float(ada["effective_lr_w1_dense"]))
        self.assertEqual(eff["SGD"]["effective_lr_w1_dense"], eff["SGD"]["effective_lr_w2_rare"])
        burst = rows(self.path("sparse_burst.csv"))[-1]  # step 600
        rms = float(burst["RMSProp_burst"]) / float(burst["RMSProp_no_burst"])
        ada = float(burst["AdaGrad_burst"]) / float(burst["AdaGrad_no_burst"])
        self.assertAlmostEqual(rms, 1.0, delta=0.05)  # recovered
        self.assertLess(ada, 0.8)                      # remembers the burst for good
        sweep = rows(self.path("sparse_sweep.csv"))
        ratios = [float(r["adagrad_ratio"]) for r in sweep]  # activity falling
        self.assertEqual(ratios, sorted(ratios))
        self.assertGreater(ratios[-1], 3 * ratios[0])

    def test_regression_reaches_the_noise_floor(self):
        last = rows(self.path("regression_loss.csv"))[-1]
        floor = float(last["least_squares"])
        for name in ("AdaGrad", "RMSprop", "Adam"):
            self.assertLess(float(last[name]), 1.2 * floor, name)
            self.assertGreater(float(last[name]), 0.9 * floor, name)

    def test_digits(self):
        summary = {r["optimizer"]: r for r in rows(self.path("digits_summary.csv"))}
        sgd = float(summary["SGD"]["default_test_accuracy"])
        for name in ("AdaGrad", "RMSProp", "Adam", "AdamW", "Adamax", "NAdam", "RAdam",
                     "SF-AdamW", "LAMB", "Adafactor"):
            self.assertGreater(float(summary[name]["default_test_accuracy"]), sgd + 0.5, name)
        self.assertGreater(float(summary["Adam"]["default_test_accuracy"]), 0.90)
        for name, r in summary.items():
            self.assertGreater(float(r["tuned_test_accuracy"]), 0.93, name)

    def test_muon(self):
        runs = rows(self.path("muon_summary.csv"))
        self.assertEqual(sorted({r["method"] for r in runs}), ["AdamW", "Muon+AdamW"])
        self.assertEqual(len(runs), 6)  # three initial weights each
        for r in runs:
            self.assertGreater(float(r["test_accuracy"]), 0.93, r)
            self.assertGreater(float(r["microseconds_per_step"]), 0.0, r)
        mean = {m: sum(float(r["test_loss"]) for r in runs if r["method"] == m) / 3
                for m in ("AdamW", "Muon+AdamW")}
        # (both tuned on the validation set; Muon ahead on test loss on this machine and
        # data, but only within a factor: the claim is that both learn, not a ranking)
        self.assertLess(mean["Muon+AdamW"], 1.5 * mean["AdamW"])
        curves = rows(self.path("muon_curves.csv"))
        self.assertLess(float(curves[-1]["Muon+AdamW_test_loss"]),
                        0.5 * float(curves[0]["Muon+AdamW_test_loss"]))

    def test_adafactor_memory(self):
        """Issue 16's lab: Adafactor's state against Adam's, measured by the library, equals the
        sizes worked out here from the shapes (rows + columns per matrix, numel per vector)."""
        mem = {r["model"]: r for r in rows(self.path("adafactor_memory.csv"))}
        shapes = {"digits MLP": [(64, 64), (64,), (10, 64), (10,)],
                  "6-block transformer (width 512)": [(32000, 512)] + [(512, 512)] * 24 +
                  [(512, 2048)] * 6 + [(2048, 512)] * 6 + [(512,)] * 12}
        for model, tensors in shapes.items():
            numel = sum(int(np.prod(s)) for s in tensors)
            factored = sum(s[0] + s[1] if len(s) == 2 else s[0] for s in tensors)
            self.assertEqual(int(mem[model]["parameters"]), numel)
            self.assertEqual(int(mem[model]["adam_state_bytes"]), 8 * numel)
            self.assertEqual(int(mem[model]["adafactor_state_bytes"]), 4 * factored)

    def test_schedule_free_against_cosine(self):
        """Issue 16's lab: Schedule-Free without a schedule, AdamW with warmup+cosine and AdamW
        at a constant lr, tuned alike: all learn the digits (test accuracy above 96%, training
        loss below 0.01 at the end), and Schedule-Free's average is ahead of the cosine run a
        quarter of the way in, where the schedule has barely started to decay."""
        summary = {r["method"]: r for r in rows(self.path("schedule_free_summary.csv"))}
        self.assertEqual(sorted(summary), ["AdamW_constant", "AdamW_cosine", "ScheduleFree_AdamW"])
        for name, r in summary.items():
            self.assertGreater(float(r["test_accuracy_end"]), 0.96, name)
            self.assertLess(float(r["train_loss_end"]), 0.01, name)
        sf, cos = summary["ScheduleFree_AdamW"], summary["AdamW_cosine"]
        self.assertLess(float(sf["test_loss_25pct"]), float(cos["test_loss_25pct"]))
        curves = rows(self.path("schedule_free_curves.csv"))
        self.assertEqual(len(curves), 40)

    def test_precision(self):
        """Issue 13's claims: bf16 with round-to-nearest stalls where stochastic rounding and
        master weights keep learning (the lab itself fails otherwise); 8-bit state and bf16 with
        stochastic rounding end within 0.5 points of float32's test accuracy; the bytes each
        mode keeps per parameter."""
        long_run = rows(self.path("precision_long_run.csv"))
        first, last = long_run[0], long_run[-1]
        self.assertEqual(float(last["bf16-nearest_loss"]), float(first["bf16-nearest_loss"]))
        for name in ("bf16-stochastic", "bf16-master", "float32"):
            self.assertLess(float(last[name + "_loss"]), 0.01 * float(first[name + "_loss"]), name)
        digits = {r["mode"]: r for r in rows(self.path("precision_digits.csv"))}
        self.assertGreater(float(digits["float32"]["test_accuracy"]), 0.95)
        for name in ("8bit-state", "bf16-stochastic", "bf16-sr+8bit", "bf16-master"):
            self.assertGreaterEqual(float(digits[name]["accuracy_minus_float32"]), -0.005, name)
        bytes_per = {k: float(v["bytes_per_parameter"]) for k, v in digits.items()}
        self.assertEqual(bytes_per["float32"], 12.0)
        self.assertEqual(bytes_per["bf16-master"], 14.0)
        self.assertEqual(bytes_per["bf16-state"], 8.0)
        self.assertLess(bytes_per["bf16-sr+8bit"], 4.2)


if __name__ == "__main__":
    unittest.main(verbosity=2)

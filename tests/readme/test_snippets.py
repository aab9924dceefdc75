"""The README's C snippets compile and run, as printed.

Every ```c block of README.md is compiled with -Wall -Wextra -Werror against the library and run.
A block with a main() is a program as it stands.  Any other block is a fragment: its #include
lines go to the top, the rest into a main() that first declares what the README leaves to the
reader, by what the fragment does:
- it creates its optimizer (the API tour): a model's arrays w, b, dw, db of its sizes, eff, m;
- it steps a flat buffer (the C trainer): an AdamW of two tensors, and the fragment runs inside
  the training loop over t = 1..3; then tensor 0 must have taken 3 steps and parameter 0 be
  AdamW's after 3 steps with bias corrections 1 - beta^t (a step count set after the step
  instead of before fails this);
- it steps bf16 tensors (low precision): an AdamW, numels, n, bf16 params and grads;
- it uses adaopt_zero (ZeRO-1): MPI initialised, a model, its gradients and an error buffer;
  compiled with mpicc and run on one rank, where there is MPI (else skipped, and said).

    python3 tests/readme/test_snippets.py CC INCLUDE_DIR LIBADAOPT_A LIBADAOPT_MPI_A [FLAGS...]
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(HERE, "..", "..", "README.md")

TOUR = """
    static float w[784 * 128], b[128], dw[784 * 128], db[128], eff_buf[784 * 128];
    float *eff = eff_buf;
    const float *m = NULL;
    for (int i = 0; i < 784 * 128; i++) {
        w[i] = 0.5f;
        dw[i] = 0.01f;
    }
%s
"""

TRAINER = """
    static float params_memory[784 * 128 + 128], grads_memory[784 * 128 + 128];
    for (int i = 0; i < 784 * 128 + 128; i++) {
        grads_memory[i] = 0.01f * (float)(i %% 7 + 1);
        params_memory[i] = 0.5f;
    }
    adaopt_optimizer *opt;
    size_t sizes[2] = {784 * 128, 128};
    if (adaopt_create(ADAOPT_ALGO_ADAMW, &opt) != ADAOPT_OK ||
        adaopt_add_group(opt, sizes, 2, NULL) != ADAOPT_OK)
        return 1;
    for (uint64_t t = 1; t <= 3; t++) {
%s
    }
    /* the loop's steps: 3 of them, with AdamW's bias corrections at t = 1, 2, 3 */
    double steps;
    if (adaopt_state_scalar(opt, 0, ADAOPT_STATE_STEP, &steps) != ADAOPT_OK || steps != 3) {
        fprintf(stderr, "after the loop tensor 0 has taken %%g steps, not 3\\n", steps);
        return 1;
    }
    double g = grads_memory[0], vt = 0, mt = 0, p = 0.5, lr = 6e-4;
    for (int t = 1; t <= 3; t++) { /* AdamW, torch's formula, in double */
        p *= 1 - lr * 0.1;
        mt = 0.9 * mt + 0.1 * g;
        vt = 0.95 * vt + 0.05 * g * g;
        p -= lr / (1 - pow(0.9, t)) * mt / (sqrt(vt / (1 - pow(0.95, t))) + 1e-8);
    }
    if (fabs(params_memory[0] - p) > 1e-6 * fabs(p)) {
        fprintf(stderr, "parameter 0 is %%.9g after 3 steps; AdamW's formula gives %%.9g\\n",
                params_memory[0], p);
        return 1;
    }
    adaopt_destroy(opt);
"""

LOWP = """
    adaopt_optimizer *opt;
    if (adaopt_create(ADAOPT_ALGO_ADAMW, &opt) != ADAOPT_OK)
        return 1;
    size_t numels[1] = {4096}, n = 1;
    static uint16_t p16[4096], g16[4096];
    for (int i = 0; i < 4096; i++)
        p16[i] = 0x3f80, g16[i] = 0x3c00; /* bf16 1.0 and 2^-7 */
    void *params[1] = {p16};
    const void *grads[1] = {g16};
%s
    int moved = 0; /* (stochastic rounding: about 1 in 8 moves down by an ulp at 1.0) */
    for (int i = 0; i < 4096; i++)
        moved += p16[i] < 0x3f80;
    if (moved < 100 || moved > 1500) {
        fprintf(stderr, "%%d of 4096 bf16 parameters moved down\\n", moved);
        return 1;
    }
    adaopt_destroy(opt);
"""

ZERO = """
    MPI_Init(NULL, NULL);
    size_t numels[2] = {1000, 10}, n_tensors = 2, group_sizes[1] = {2}, n_groups = 1;
    static float w[1000], b[10], gw[1000], gb[10];
    for (int i = 0; i < 1000; i++)
        gw[i] = 0.01f;
    float *params[2] = {w, b};
    const float *local_grads[2] = {gw, gb};
    char err[256];
%s
    adaopt_zero_destroy(z);
    MPI_Finalize();
"""


def blocks(text):
    return re.findall(r"```c\n(.*?)```", text, re.S)


def program(block):
    """(source, kind)"""
    if re.search(r"\bint\s+main\s*\(", block):
        return block, "program"
    lines = block.splitlines()
    includes = [l for l in lines if l.startswith("#include")]
    body = "\n".join(("    " + l) if l else "" for l in lines if not l.startswith("#include"))
    head = ["#include <math.h>", "#include <stdint.h>", "#include <stdio.h>",
            "#include <adaopt.h>"]
    if "adaopt_zero" in block:
        kind, frame = "zero", ZERO
        head.append("#include <adaopt_mpi.h>")
    elif "adaopt_step_flat" in block:
        kind, frame = "trainer", TRAINER
        body = "\n".join("    " + l for l in body.splitlines())
    elif "adaopt_step_typed" in block:
        kind, frame = "low precision", LOWP
    else:
        kind, frame = "tour", TOUR
    src = "%s\n\nint main(void)\n{\n%s\n    return 0;\n}\n" % (
        "\n".join(head + includes), frame % body)
    return src, kind


def main():
    cc, include, archive, mpi_archive, *link = sys.argv[1:]
    with open(README) as f:
        found = blocks(f.read())
    assert found, "no C block in the README"
    failed = skipped = 0
    mpicc = shutil.which("mpicc")
    with tempfile.TemporaryDirectory() as d:
        os.mkdir(os.path.join(d, "ckpt"))  # the ZeRO fragment saves to ckpt/opt
        for k, block in enumerate(found):
            src, kind = program(block)
            path, exe = os.path.join(d, "snippet%d.c" % k), os.path.join(d, "snippet%d" % k)
            with open(path, "w") as f:
                f.write(src)
            compiler, libs = cc, [archive]
            if kind == "zero":
                if mpicc is None or not os.path.exists(mpi_archive):
                    print("README C block %d (ZeRO): skipped, no MPI here" % (k + 1))
                    skipped += 1
                    continue
                compiler, libs = mpicc, [mpi_archive, archive]
            cmd = [compiler, "-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-variable",
                   "-Wno-unused-but-set-variable", "-I" + include, path, *libs, *link, "-o", exe]
            built = subprocess.run(cmd, capture_output=True, text=True)
            env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
            ran = subprocess.run([exe], capture_output=True, text=True, timeout=120, cwd=d,
                                 env=env) if built.returncode == 0 else None
            ok = ran is not None and ran.returncode == 0
            print("README C block %d (%s): %s" % (k + 1, kind, "ok" if ok else "FAILED"))
            if not ok:
                failed += 1
                print(src)
                print(built.stderr if ran is None else ran.stderr + ran.stdout)
    print("%d passed, %d failed, %d skipped" % (len(found) - failed - skipped, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

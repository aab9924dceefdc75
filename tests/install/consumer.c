/* A small program built against the installed library (tests/install/run.sh): the enum API and
 * the one-string, one-buffer calls of a C trainer. */
#include <adaopt.h>
#include <stdio.h>

int main(void)
{
    adaopt_optimizer *opt;
    size_t n = 1, group;
    float x = 1.0f, g = 2.0f, *p[1] = {&x};
    const float *gr[1] = {&g};
    if (adaopt_create(ADAOPT_ALGO_ADAM, &opt) || adaopt_add_group(opt, &n, 1, &group) ||
        adaopt_step(opt, p, gr, 1))
        return 1;
    printf("adaopt %u: x = %.6f\n", adaopt_version_number(), x);
    int bad = x < 0.9989f || x > 0.9991f; /* one Adam step of lr 1e-3 */
    /* the second step at lr 0.1 moves x by about 0.1 more */
    if (adaopt_set_options(opt, 0, "lr=0.1, betas=0.9,0.999") || adaopt_step_flat(opt, &x, &g))
        return 1;
    bad |= x < 0.8985f || x > 0.8995f;
    adaopt_destroy(opt);
    return bad;
}

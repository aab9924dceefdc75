/* A ten-line program built against the installed library (tests/install/run.sh). */
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
    adaopt_destroy(opt);
    return x < 0.9989f || x > 0.9991f; /* one Adam step of lr 1e-3 */
}

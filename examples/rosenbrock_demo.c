/*
 * rosenbrock_demo.c -- every optimizer of adaopt on seed 003's Rosenbrock problem.
 *
 * f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from (-1, 1), 5000 steps, each optimizer at torch.optim's
 * default hyperparameters (SGD at lr 1e-3 as in the seed).  Prints where each one ends.
 */
#include <math.h>
#include <stdio.h>

#include "adaopt.h"
#include "../labs/problems.h"

typedef struct {
    const char *label;
    adaopt_algorithm algorithm;
    adaopt_option option; /* one non-default option, or 0 */
    double value;
} config;

int main(void)
{
    const config configs[] = {
        {"SGD", ADAOPT_ALGO_SGD, 0, 0},
        {"SGD momentum 0.9", ADAOPT_ALGO_SGD, ADAOPT_MOMENTUM, 0.9},
        {"AdaGrad", ADAOPT_ALGO_ADAGRAD, 0, 0},
        {"RMSProp", ADAOPT_ALGO_RMSPROP, 0, 0},
        {"RMSProp centered", ADAOPT_ALGO_RMSPROP, ADAOPT_CENTERED, 1},
        {"Adam", ADAOPT_ALGO_ADAM, 0, 0},
        {"AMSGrad", ADAOPT_ALGO_ADAM, ADAOPT_AMSGRAD, 1},
        {"AdamW", ADAOPT_ALGO_ADAMW, 0, 0},
        {"Adamax", ADAOPT_ALGO_ADAMAX, 0, 0},
        {"NAdam", ADAOPT_ALGO_NADAM, 0, 0},
        {"RAdam", ADAOPT_ALGO_RADAM, 0, 0},
    };
    const int steps = 5000;
    printf("Rosenbrock f(x,y) = (1-x)^2 + 100(y-x^2)^2 from (-1, 1), %d steps, torch.optim "
           "defaults\n\n", steps);
    printf("%-18s %8s %11s %11s %12s %12s\n", "optimizer", "lr", "x", "y", "f(x,y)",
           "|(x,y)-(1,1)|");
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
        adaopt_optimizer *opt;
        size_t numel = 2, group;
        double lr;
        if (adaopt_create(configs[c].algorithm, &opt) != ADAOPT_OK ||
            adaopt_add_group(opt, &numel, 1, &group) != ADAOPT_OK ||
            (configs[c].option && adaopt_set(opt, group, configs[c].option, configs[c].value) !=
                                      ADAOPT_OK) ||
            adaopt_get(opt, group, ADAOPT_LR, &lr) != ADAOPT_OK) {
            fprintf(stderr, "%s: %s\n", configs[c].label, adaopt_last_error(opt));
            adaopt_destroy(opt);
            return 1;
        }
        float xy[2] = {-1.0f, 1.0f}, grad[2];
        float *params[1] = {xy};
        const float *grads[1] = {grad};
        for (int t = 0; t < steps; t++) {
            rosenbrock_grad(xy, grad);
            if (adaopt_step(opt, params, grads, 1) != ADAOPT_OK) {
                fprintf(stderr, "%s: %s\n", configs[c].label, adaopt_last_error(opt));
                adaopt_destroy(opt);
                return 1;
            }
        }
        double dist = hypot(xy[0] - 1.0, xy[1] - 1.0);
        printf("%-18s %8.0e %11.6f %11.6f %12.4e %12.4e\n", configs[c].label, lr, xy[0], xy[1],
               rosenbrock_loss(xy), dist);
        adaopt_destroy(opt);
    }
    return 0;
}

/*
 * lab_after_adam.c -- what the methods after Adam claim, measured (issue 16):
 *
 *   Schedule-Free AdamW without a schedule against AdamW with seed 003's standard recipe,
 *   linear warmup then cosine decay to 0, and against AdamW at a constant lr, on the digits MLP
 *   (lab_digits.c's data, split and model).  Each arm's lr is tuned on the validation set over
 *   the same grid, each run is repeated for three initial weights and shuffles, and the test
 *   loss is recorded every epoch: the cosine schedule is built for the whole budget, so its
 *   curve only reaches its best at the end, while Schedule-Free's average x can be used at any
 *   point.  Schedule-Free is evaluated at x (adaopt_eval), as it must be.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "adaopt.h"
#include "digits.h"
#include "lab.h"
#include "problems.h"

enum { N_TRAIN = 1150, N_VAL = 287, BATCH = 32, EPOCHS = 40, SEEDS = 3 };
enum { STEPS_PER_EPOCH = (N_TRAIN + BATCH - 1) / BATCH, TOTAL = EPOCHS * STEPS_PER_EPOCH,
       WARMUP = TOTAL / 20 };

typedef enum { ARM_COSINE, ARM_CONSTANT, ARM_SCHEDULE_FREE, N_ARMS } arm;
static const char *const ARM_NAMES[N_ARMS] = {"AdamW+warmup+cosine", "AdamW constant",
                                              "Schedule-Free AdamW"};
static const char *const ARM_LABELS[N_ARMS] = {"AdamW_cosine", "AdamW_constant",
                                               "ScheduleFree_AdamW"};
static const double GRID[] = {1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2};
enum { N_GRID = sizeof GRID / sizeof GRID[0] };

typedef struct {
    double test_loss[EPOCHS], test_acc[EPOCHS], train_loss[EPOCHS]; /* the mean over the seeds */
    double val_loss, val_acc, lr;
} result;

/* One run of `a` at base lr `lr`, initial weights and shuffle `seed`; adds its curves into out
 * (divided by SEEDS).  0, or -1 with a message. */
static int run(const digits *d, const int *order, int n_test, arm a, double lr, int seed,
               result *out)
{
    adaopt_optimizer *opt;
    size_t group;
    adaopt_algorithm algo = a == ARM_SCHEDULE_FREE ? ADAOPT_ALGO_ADAMW_SCHEDULE_FREE
                                                   : ADAOPT_ALGO_ADAMW;
    if (adaopt_create(algo, &opt) != ADAOPT_OK)
        return -1;
    adaopt_status st = adaopt_add_group(opt, MLP_NUMELS, MLP_TENSORS, &group);
    if (st == ADAOPT_OK) /* the same decay (none) and betas for every arm: only the lr differs */
        st = adaopt_set_options(opt, group, "weight_decay=0, betas=0.9,0.999, eps=1e-8");
    if (st == ADAOPT_OK && a == ARM_SCHEDULE_FREE)
        st = adaopt_set(opt, group, ADAOPT_WARMUP_STEPS, WARMUP);
    if (st == ADAOPT_OK)
        st = adaopt_set(opt, group, ADAOPT_LR, lr);
    if (st == ADAOPT_OK)
        st = adaopt_set_threads(opt, 1);
    if (st != ADAOPT_OK) {
        fprintf(stderr, "adaopt: %s\n", adaopt_last_error(opt));
        adaopt_destroy(opt);
        return -1;
    }
    adaopt_schedule cosine = {.kind = ADAOPT_SCHED_WARMUP_COSINE, .t_max = TOTAL,
                              .eta_min = 0.0, .warmup_steps = WARMUP};
    static mlp model, grad;
    mlp_init(&model, 1 + (uint64_t)seed);
    float *params[MLP_TENSORS], *gptr[MLP_TENSORS];
    mlp_tensors(&model, params);
    mlp_tensors(&grad, gptr);
    int idx[N_TRAIN];
    memcpy(idx, order, sizeof idx);
    lab_rng r;
    lab_rng_seed(&r, 100 + (uint64_t)seed);
    uint64_t step = 0;
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        lab_shuffle(idx, N_TRAIN, &r);
        for (int start = 0; start < N_TRAIN; start += BATCH, step++) {
            int b = start + BATCH <= N_TRAIN ? BATCH : N_TRAIN - start;
            mlp_loss_grad(&model, d, idx + start, b, &grad);
            if (a == ARM_COSINE)
                adaopt_set(opt, group, ADAOPT_LR, adaopt_schedule_lr(&cosine, lr, step));
            if (adaopt_step(opt, params, (const float *const *)gptr, MLP_TENSORS) != ADAOPT_OK) {
                fprintf(stderr, "adaopt: %s\n", adaopt_last_error(opt));
                adaopt_destroy(opt);
                return -1;
            }
        }
        adaopt_eval(opt, (void *const *)params, MLP_TENSORS); /* x (the rest: no-op) */
        double acc, loss = mlp_evaluate(&model, d, order + N_TRAIN + N_VAL, n_test, &acc);
        out->test_loss[epoch] += loss / SEEDS;
        out->test_acc[epoch] += acc / SEEDS;
        out->train_loss[epoch] += mlp_evaluate(&model, d, order, N_TRAIN, &acc) / SEEDS;
        if (epoch + 1 < EPOCHS)
            adaopt_train(opt, (void *const *)params, MLP_TENSORS);
    }
    double acc, loss = mlp_evaluate(&model, d, order + N_TRAIN, N_VAL, &acc);
    out->val_loss += loss / SEEDS;
    out->val_acc += acc / SEEDS;
    adaopt_destroy(opt);
    return 0;
}

/* Schedule-Free against warmup+cosine; 0 or 1. */
static int schedule_free_vs_cosine(const lab_ctx *ctx)
{
    static digits d;
    static int order[DIGITS_MAX];
    if (lab_digits_data(ctx, &d, order, N_TRAIN + N_VAL + 10) != 0)
        return 1;
    int n_test = d.n - N_TRAIN - N_VAL;
    printf("Schedule-Free AdamW (no schedule) against AdamW with %d warmup steps and cosine decay "
           "to 0 over\nthe whole budget (%d epochs, %d steps), and AdamW at a constant lr: the "
           "digits MLP, weight\ndecay 0, each lr tuned on validation over {1e-3 .. 5e-2}, the "
           "mean of %d initial weights.\nSchedule-Free warms up over the same %d steps and is "
           "evaluated at its average x.\n\n", WARMUP, EPOCHS, TOTAL, SEEDS, WARMUP);
    static result best[N_ARMS], trial;
    long done = 0;
    for (int a = 0; a < N_ARMS; a++) {
        best[a].val_loss = INFINITY;
        for (int g = 0; g < N_GRID; g++) {
            memset(&trial, 0, sizeof trial);
            trial.lr = GRID[g];
            for (int seed = 0; seed < SEEDS; seed++)
                if (run(&d, order, n_test, (arm)a, GRID[g], seed, &trial) != 0)
                    return 1;
            if (trial.val_loss < best[a].val_loss)
                best[a] = trial;
            lab_progress(ctx, "after-adam", ++done, (long)N_ARMS * N_GRID);
        }
    }
    static const int AT[3] = {EPOCHS / 4, EPOCHS / 2, EPOCHS};
    printf("%-21s %7s | %-65s | %s\n", "", "", "test loss and accuracy at x", "train loss");
    printf("%-21s %7s | %9s epoch %-5d | %9s epoch %-5d | %9s epoch %-5d | %-5s %-5d\n", "method",
           "lr", "", AT[0], "", AT[1], "", AT[2], "epoch", AT[2]);
    FILE *f = lab_open(ctx, "schedule_free_summary.csv");
    if (f == NULL)
        return 1;
    fprintf(f, "method,lr,validation_loss,test_loss_25pct,test_accuracy_25pct,test_loss_50pct,"
               "test_accuracy_50pct,test_loss_end,test_accuracy_end,train_loss_end\n");
    for (int a = 0; a < N_ARMS; a++) {
        printf("%-21s %7g |", ARM_NAMES[a], best[a].lr);
        fprintf(f, "%s,%g,%.6g", ARM_LABELS[a], best[a].lr, best[a].val_loss);
        for (int k = 0; k < 3; k++) {
            int e = AT[k] - 1;
            printf("  %8.4f   %6.2f%%    |", best[a].test_loss[e], 100 * best[a].test_acc[e]);
            fprintf(f, ",%.6g,%.4f", best[a].test_loss[e], best[a].test_acc[e]);
        }
        printf("   %.5f\n", best[a].train_loss[EPOCHS - 1]);
        fprintf(f, ",%.6g\n", best[a].train_loss[EPOCHS - 1]);
    }
    fclose(f);
    f = lab_open(ctx, "schedule_free_curves.csv");
    if (f == NULL)
        return 1;
    fprintf(f, "epoch");
    for (int a = 0; a < N_ARMS; a++)
        fprintf(f, ",%s_test_loss,%s_test_accuracy,%s_train_loss", ARM_LABELS[a], ARM_LABELS[a],
                ARM_LABELS[a]);
    fprintf(f, "\n");
    for (int e = 0; e < EPOCHS; e++) {
        fprintf(f, "%d", e + 1);
        for (int a = 0; a < N_ARMS; a++)
            fprintf(f, ",%.6g,%.4f,%.6g", best[a].test_loss[e], best[a].test_acc[e],
                    best[a].train_loss[e]);
        fprintf(f, "\n");
    }
    fclose(f);
    const result *sf = &best[ARM_SCHEDULE_FREE], *cos = &best[ARM_COSINE];
    const int q = EPOCHS / 4 - 1, end = EPOCHS - 1;
    double lo = 1, hi = 0;
    for (int a = 0; a < N_ARMS; a++) {
        lo = fmin(lo, best[a].test_acc[end]);
        hi = fmax(hi, best[a].test_acc[end]);
    }
    double spread = hi - lo;
    printf("\nSchedule-Free, told nothing about the budget, against the cosine schedule built for "
           "it:\ntest loss %.4f vs %.4f at epoch %d (%s), %.4f vs %.4f at the end (%s);\n"
           "training loss at the end %.5f vs %.5f.  On a data set this small the three end "
           "within\n%.1f points of test accuracy of each other.\n", sf->test_loss[q],
           cos->test_loss[q], q + 1,
           sf->test_loss[q] < cos->test_loss[q] ? "Schedule-Free ahead" : "cosine ahead",
           sf->test_loss[end], cos->test_loss[end],
           sf->test_loss[end] < cos->test_loss[end] ? "Schedule-Free ahead" : "cosine ahead",
           sf->train_loss[end], cos->train_loss[end], 100 * spread);
    int rc = lab_plot(ctx, "schedule_free",
                      "set title 'Digits MLP: no schedule (Schedule-Free) vs warmup+cosine'\n"
                      "set xlabel 'epoch'\nset ylabel 'cross-entropy (mean of 3)'\n"
                      "set logscale y\n"
                      "names = 'AdamW+warmup+cosine AdamW-constant Schedule-Free-AdamW'\n"
                      "plot for [k=0:2] '$OUT/schedule_free_curves.csv' skip 1 using "
                      "1:(column(2+3*k)) with linespoints lw 2 pt 7 ps 0.4 "
                      "title word(names, k+1).' test', "
                      "for [k=0:2] '' skip 1 using 1:(column(4+3*k)) with lines dt 2 lw 2 "
                      "title word(names, k+1).' train'\n");
    printf("wrote %s/schedule_free_summary.csv, schedule_free_curves.csv, schedule_free.png\n",
           ctx->out_dir);
    return rc != 0;
}

int lab_after_adam(const lab_ctx *ctx)
{
    lab_heading("after-adam: the methods after Adam, measured (Schedule-Free vs warmup+cosine)");
    return schedule_free_vs_cosine(ctx);
}

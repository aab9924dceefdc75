/*
 * lab_after_adam.c -- what the methods after Adam claim, measured (issue 16):
 *
 *   Adafactor's state memory against Adam's, measured (adaopt_state_bytes) on the digits MLP and
 *   on a transformer's shapes; and
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
                      "plot for [k=0:2] 'schedule_free_curves.csv' skip 1 using "
                      "1:(column(2+3*k)) with linespoints lw 2 pt 7 ps 0.4 "
                      "title word(names, k+1).' test', "
                      "for [k=0:2] '' skip 1 using 1:(column(4+3*k)) with lines dt 2 lw 2 "
                      "title word(names, k+1).' train'\n");
    printf("wrote %s/schedule_free_summary.csv, schedule_free_curves.csv, schedule_free.png\n",
           ctx->out_dir);
    return rc != 0;
}

/* A model's tensors: name, shape (up to 3 dimensions), how many of them. */
typedef struct {
    const char *name;
    size_t dims[3];
    int ndim, count;
} layer;

/* The state bytes of `algo` over the layers (each tensor given its shape). */
static size_t state_bytes(adaopt_algorithm algo, const layer *layers, int n_layers,
                          size_t *params)
{
    size_t numels[64], n = 0, group;
    const size_t *shapes[64];
    int ndims[64];
    *params = 0;
    for (int l = 0; l < n_layers; l++)
        for (int c = 0; c < layers[l].count && n < 64; c++, n++) {
            numels[n] = 1;
            for (int d = 0; d < layers[l].ndim; d++)
                numels[n] *= layers[l].dims[d];
            shapes[n] = layers[l].dims;
            ndims[n] = layers[l].ndim;
            *params += numels[n];
        }
    adaopt_optimizer *opt;
    if (adaopt_create(algo, &opt) != ADAOPT_OK)
        return 0;
    size_t bytes = 0;
    if (adaopt_add_group(opt, numels, n, &group) == ADAOPT_OK) {
        int ok = 1;
        for (size_t i = 0; i < n && ok; i++)
            ok = adaopt_set_shape(opt, i, shapes[i], (size_t)ndims[i]) == ADAOPT_OK;
        bytes = ok ? adaopt_state_bytes(opt) : 0;
    }
    adaopt_destroy(opt);
    return bytes;
}

/* Adafactor's state against Adam's; 0 or 1. */
static int adafactor_memory(const lab_ctx *ctx)
{
    /* The digits MLP; and 6 transformer blocks of width 512 (attention's four 512 x 512
     * projections, the MLP's 512 x 2048 and 2048 x 512, two layer norms' gains) with a
     * 32,000 x 512 embedding -- a small language model's shapes. */
    static const layer digits_mlp[] = {{"w1", {64, 64, 0}, 2, 1}, {"b1", {64, 0, 0}, 1, 1},
                                {"w2", {10, 64, 0}, 2, 1}, {"b2", {10, 0, 0}, 1, 1}};
    static const layer lm[] = {{"embedding", {32000, 512, 0}, 2, 1},
                               {"attention", {512, 512, 0}, 2, 24},
                               {"mlp_in", {512, 2048, 0}, 2, 6},
                               {"mlp_out", {2048, 512, 0}, 2, 6},
                               {"norms", {512, 0, 0}, 1, 12}};
    static const struct {
        const char *name;
        const layer *layers;
        int n;
    } models[] = {{"digits MLP", digits_mlp, 4}, {"6-block transformer (width 512)", lm, 5}};
    printf("State memory, measured with adaopt_state_bytes (each tensor given its shape):\n\n");
    printf("%-32s %12s %14s %14s %10s\n", "model", "parameters", "Adam bytes", "Adafactor",
           "ratio");
    FILE *f = lab_open(ctx, "adafactor_memory.csv");
    if (f == NULL)
        return 1;
    fprintf(f, "model,parameters,adam_state_bytes,adafactor_state_bytes\n");
    for (int m = 0; m < 2; m++) {
        size_t params, adam = state_bytes(ADAOPT_ALGO_ADAM, models[m].layers, models[m].n, &params);
        size_t af = state_bytes(ADAOPT_ALGO_ADAFACTOR, models[m].layers, models[m].n, &params);
        if (adam == 0 || af == 0) {
            fprintf(stderr, "adaopt: out of memory measuring %s\n", models[m].name);
            fclose(f);
            return 1;
        }
        printf("%-32s %12zu %14zu %14zu %9.0fx\n", models[m].name, params, adam, af,
               (double)adam / (double)af);
        fprintf(f, "%s,%zu,%zu,%zu\n", models[m].name, params, adam, af);
    }
    fclose(f);
    layer big = {"4096x4096", {4096, 4096, 0}, 2, 1};
    size_t params, af = state_bytes(ADAOPT_ALGO_ADAFACTOR, &big, 1, &params);
    printf("\nA 4096 x 4096 matrix: %zu bytes of Adafactor state (row and column averages), "
           "against %zu\nfor Adam's two moments.  The digits lab has Adafactor's accuracy "
           "beside the others'.\n", af, params * 8);
    printf("wrote %s/adafactor_memory.csv\n\n", ctx->out_dir);
    return 0;
}

int lab_after_adam(const lab_ctx *ctx)
{
    lab_heading("after-adam: the methods after Adam, measured (Adafactor's memory; Schedule-Free "
                "vs warmup+cosine)");
    int rc = adafactor_memory(ctx);
    return rc | schedule_free_vs_cosine(ctx);
}

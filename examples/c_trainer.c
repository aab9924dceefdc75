/*
 * c_trainer.c -- adaopt inside a C training loop, the way llm.c's trainer is written: every
 * parameter in one flat buffer, every gradient in another, and seed 003's standard recipe on
 * top -- AdamW with weight decay on the matrices only (biases and norm gains undecayed), linear
 * warmup then cosine decay, and gradient clipping -- with a checkpoint to stop and resume.
 *
 * The model is a small classifier on data a fixed random "teacher" labels (nothing to download):
 *     a = W1 x + b1,  h = gain * tanh(a),  logits = W2 h + b2,  loss = cross-entropy
 * laid out in one buffer as W1 | b1 | gain | W2 | b2 -- decayed and undecayed tensors interleave,
 * as they do in a transformer, so the optimizer's two groups point into the buffer.
 *
 *   c-trainer                       train, printing loss, accuracy and lr
 *   c-trainer --steps 300 --stop-at 150 --dir DIR   train to step 150, save into DIR, stop
 *   c-trainer --steps 300 --resume DIR              load DIR and train on to step 300
 *   c-trainer --check               all three, and check that the resumed run ends with the
 *                                   bits of the uninterrupted one and that the model learned
 */
#define _POSIX_C_SOURCE 200809L /* mkdir */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "adaopt.h"

enum { D = 16, H = 32, C = 4, N_TRAIN = 1024, N_TEST = 512, BATCH = 64 };

/* The parameter tensors in buffer order, and which are decayed. */
enum { W1, B1, GAIN, W2, B2, N_TENSORS };
static const size_t NUMEL[N_TENSORS] = {H * D, H, H, C * H, C};
static const int DECAYED[N_TENSORS] = {1, 0, 0, 1, 0};
enum { N_PARAMS = H * D + H + H + C * H + C };

typedef struct trainer {
    float params[N_PARAMS], grads[N_PARAMS];
    float *tensor[N_TENSORS]; /* into params */
    float *grad[N_TENSORS];   /* into grads */
    float x_train[N_TRAIN][D], x_test[N_TEST][D];
    int y_train[N_TRAIN], y_test[N_TEST];
    adaopt_optimizer *opt;
    float *group_params[N_TENSORS];        /* the optimizer's tensor order: decayed first */
    const float *group_grads[N_TENSORS];
    adaopt_schedule schedule;
    double base_lr;
    uint64_t step;                         /* the trainer's own counter */
} trainer;

static uint64_t next_random(uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return *state >> 11;
}

static float uniform(uint64_t *state) /* in [-1, 1) */
{
    return (float)((double)next_random(state) / (double)(1ULL << 53) * 2.0 - 1.0);
}

static int check(adaopt_status st, const adaopt_optimizer *opt, const char *what)
{
    if (st != ADAOPT_OK)
        fprintf(stderr, "c-trainer: %s: %s (%s)\n", what, adaopt_status_name(st),
                adaopt_last_error(opt));
    return st == ADAOPT_OK ? 0 : -1;
}

/* Data labelled by a random linear teacher, and the model's initial weights. */
static void make_data_and_model(trainer *tr)
{
    uint64_t rng = 2024;
    float teacher[C][D];
    for (int c = 0; c < C; c++)
        for (int d = 0; d < D; d++)
            teacher[c][d] = uniform(&rng);
    for (int i = 0; i < N_TRAIN + N_TEST; i++) {
        float *x = i < N_TRAIN ? tr->x_train[i] : tr->x_test[i - N_TRAIN];
        for (int d = 0; d < D; d++)
            x[d] = uniform(&rng);
        int best = 0;
        float best_score = -INFINITY;
        for (int c = 0; c < C; c++) {
            float score = 0;
            for (int d = 0; d < D; d++)
                score += teacher[c][d] * x[d];
            if (score > best_score) {
                best_score = score;
                best = c;
            }
        }
        *(i < N_TRAIN ? &tr->y_train[i] : &tr->y_test[i - N_TRAIN]) = best;
    }
    size_t offset = 0;
    for (int t = 0; t < N_TENSORS; t++) {
        tr->tensor[t] = tr->params + offset;
        tr->grad[t] = tr->grads + offset;
        offset += NUMEL[t];
    }
    for (size_t k = 0; k < NUMEL[W1]; k++)
        tr->tensor[W1][k] = uniform(&rng) / sqrtf(D);
    for (size_t k = 0; k < NUMEL[W2]; k++)
        tr->tensor[W2][k] = uniform(&rng) / sqrtf(H);
    for (size_t k = 0; k < NUMEL[GAIN]; k++)
        tr->tensor[GAIN][k] = 1.0f;
    memset(tr->tensor[B1], 0, NUMEL[B1] * sizeof(float));
    memset(tr->tensor[B2], 0, NUMEL[B2] * sizeof(float));
}

/* Mean cross-entropy over rows [first, first + n) of x; accumulates gradients when `grads`.
 * *correct (may be NULL) counts argmax hits. */
static float forward_backward(trainer *tr, const float (*x)[D], const int *y, int first, int n,
                              int grads, int *correct)
{
    const float *w1 = tr->tensor[W1], *b1 = tr->tensor[B1], *gain = tr->tensor[GAIN];
    const float *w2 = tr->tensor[W2], *b2 = tr->tensor[B2];
    double loss = 0;
    if (grads)
        memset(tr->grads, 0, sizeof tr->grads);
    for (int i = first; i < first + n; i++) {
        float th[H], h[H], logits[C], prob[C], maxl = -INFINITY;
        for (int j = 0; j < H; j++) {
            float a = b1[j];
            for (int d = 0; d < D; d++)
                a += w1[j * D + d] * x[i][d];
            th[j] = tanhf(a);
            h[j] = gain[j] * th[j];
        }
        for (int c = 0; c < C; c++) {
            logits[c] = b2[c];
            for (int j = 0; j < H; j++)
                logits[c] += w2[c * H + j] * h[j];
            maxl = logits[c] > maxl ? logits[c] : maxl;
        }
        float z = 0;
        int best = 0;
        for (int c = 0; c < C; c++) {
            prob[c] = expf(logits[c] - maxl);
            z += prob[c];
            best = logits[c] > logits[best] ? c : best;
        }
        for (int c = 0; c < C; c++)
            prob[c] /= z;
        loss -= log(prob[y[i]]);
        if (correct != NULL)
            *correct += best == y[i];
        if (!grads)
            continue;
        float dh[H] = {0};
        for (int c = 0; c < C; c++) {
            float dl = (prob[c] - (c == y[i])) / (float)n;
            tr->grad[B2][c] += dl;
            for (int j = 0; j < H; j++) {
                tr->grad[W2][c * H + j] += dl * h[j];
                dh[j] += dl * w2[c * H + j];
            }
        }
        for (int j = 0; j < H; j++) {
            tr->grad[GAIN][j] += dh[j] * th[j];
            float da = dh[j] * gain[j] * (1.0f - th[j] * th[j]);
            tr->grad[B1][j] += da;
            for (int d = 0; d < D; d++)
                tr->grad[W1][j * D + d] += da * x[i][d];
        }
    }
    return (float)(loss / n);
}

/* The optimizer: group 0 the decayed matrices, group 1 the rest; the tensors' pointer lists in
 * the optimizer's order are made once. */
static int make_optimizer(trainer *tr, uint64_t total_steps)
{
    size_t numels[2][N_TENSORS], count[2] = {0, 0}, group, k = 0;
    for (int g = 0; g < 2; g++)
        for (int t = 0; t < N_TENSORS; t++)
            if (DECAYED[t] == (g == 0)) {
                numels[g][count[g]++] = NUMEL[t];
                tr->group_params[k] = tr->tensor[t];
                tr->group_grads[k++] = tr->grad[t];
            }
    if (check(adaopt_create(ADAOPT_ALGO_ADAMW, &tr->opt), NULL, "create") != 0)
        return -1;
    if (check(adaopt_add_group(tr->opt, numels[0], count[0], &group), tr->opt, "add_group") ||
        check(adaopt_add_group(tr->opt, numels[1], count[1], &group), tr->opt, "add_group") ||
        check(adaopt_set_options(tr->opt, ADAOPT_ALL_GROUPS, "betas=0.9,0.95, eps=1e-8"),
              tr->opt, "options") ||
        check(adaopt_set_options(tr->opt, 0, "weight_decay=0.1"), tr->opt, "options") ||
        check(adaopt_set_options(tr->opt, 1, "weight_decay=0"), tr->opt, "options"))
        return -1;
    tr->base_lr = 1e-2;
    tr->schedule = (adaopt_schedule){.kind = ADAOPT_SCHED_WARMUP_COSINE,
                                     .warmup_steps = total_steps / 10 + 1,
                                     .t_max = total_steps,
                                     .eta_min = tr->base_lr / 10};
    return check(adaopt_schedule_check(&tr->schedule), NULL, "schedule");
}

/* One training step on the next mini-batch: lr from the schedule, clip, update. */
static int train_step(trainer *tr, float *loss, double *lr, double *grad_norm)
{
    int first = (int)(tr->step * BATCH % N_TRAIN);
    *loss = forward_backward(tr, (const float(*)[D])tr->x_train, tr->y_train, first, BATCH, 1, NULL);
    *lr = adaopt_schedule_lr(&tr->schedule, tr->base_lr, tr->step);
    float *flat_grads[1] = {tr->grads};
    size_t n_params = N_PARAMS;
    if (check(adaopt_set(tr->opt, ADAOPT_ALL_GROUPS, ADAOPT_LR, *lr), tr->opt, "lr") ||
        check(adaopt_clip_grad_norm(flat_grads, &n_params, 1, 0.3, 2.0, grad_norm), NULL, "clip") ||
        check(adaopt_step(tr->opt, tr->group_params, tr->group_grads, N_TENSORS), tr->opt, "step"))
        return -1;
    tr->step++;
    return 0;
}

static float test_accuracy(trainer *tr)
{
    int correct = 0;
    forward_backward(tr, (const float(*)[D])tr->x_test, tr->y_test, 0, N_TEST, 0, &correct);
    return (float)correct / N_TEST;
}

static int train_until(trainer *tr, uint64_t stop, int verbose)
{
    while (tr->step < stop) {
        float loss;
        double lr, norm;
        if (train_step(tr, &loss, &lr, &norm) != 0)
            return -1;
        if (verbose && (tr->step % 50 == 0 || tr->step == 1))
            printf("step %4llu  loss %.4f  grad norm %6.3f  lr %.5f  test accuracy %.3f\n",
                   (unsigned long long)tr->step, loss, norm, lr, test_accuracy(tr));
    }
    return 0;
}

/* A checkpoint is two files in DIR: the model's parameters (the trainer's, with its step) and
 * the optimizer's (adaopt's, which also holds the step count and the schedule position). */
/* DIR and its parents, as `mkdir -p` (and as `adaopt lab --out`). */
static int make_dirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return -1;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char was = *p;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "c-trainer: cannot create %s: %s\n", path, strerror(errno));
            return -1;
        }
        *p = was;
        if (was == '\0')
            return 0;
    }
}

static int save(const trainer *tr, const char *dir)
{
    char path[4096];
    if (make_dirs(dir) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/model.bin", dir);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(&tr->step, sizeof tr->step, 1, f) != 1 ||
        fwrite(tr->params, sizeof tr->params, 1, f) != 1 || fclose(f) != 0) {
        fprintf(stderr, "c-trainer: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/optimizer.ckpt", dir);
    return check(adaopt_save_file(tr->opt, path), tr->opt, path);
}

static int load(trainer *tr, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.bin", dir);
    FILE *f = fopen(path, "rb");
    int ok = f != NULL && fread(&tr->step, sizeof tr->step, 1, f) == 1 &&
             fread(tr->params, sizeof tr->params, 1, f) == 1;
    if (f != NULL)
        fclose(f);
    if (!ok) {
        fprintf(stderr, "c-trainer: cannot read %s: %s\n", path, f ? "too short" : strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/optimizer.ckpt", dir);
    if (check(adaopt_load_file(tr->opt, path), tr->opt, path) != 0)
        return -1;
    if (adaopt_steps_taken(tr->opt) != tr->step) { /* the two files belong together */
        fprintf(stderr, "c-trainer: %s is at step %llu but the model at step %llu\n", path,
                (unsigned long long)adaopt_steps_taken(tr->opt), (unsigned long long)tr->step);
        return -1;
    }
    return 0;
}

static trainer *new_trainer(uint64_t total_steps)
{
    trainer *tr = calloc(1, sizeof *tr);
    if (tr == NULL) {
        fprintf(stderr, "c-trainer: out of memory\n");
        return NULL;
    }
    make_data_and_model(tr);
    if (make_optimizer(tr, total_steps) != 0) {
        adaopt_destroy(tr->opt);
        free(tr);
        return NULL;
    }
    return tr;
}

static void free_trainer(trainer *tr)
{
    if (tr != NULL)
        adaopt_destroy(tr->opt);
    free(tr);
}

/* Uninterrupted, then stopped and resumed through files in dir: the same bits, and learned. */
static int run_check(uint64_t steps, const char *dir)
{
    trainer *whole = new_trainer(steps), *first = new_trainer(steps), *second = new_trainer(steps);
    int status = 1;
    if (whole == NULL || first == NULL || second == NULL)
        goto done;
    float loss0 = forward_backward(whole, (const float(*)[D])whole->x_test, whole->y_test, 0,
                                   N_TEST, 0, NULL);
    if (train_until(whole, steps, 1) != 0 || train_until(first, steps / 2, 0) != 0 ||
        save(first, dir) != 0 || load(second, dir) != 0 || train_until(second, steps, 0) != 0)
        goto done;
    float loss1 = forward_backward(whole, (const float(*)[D])whole->x_test, whole->y_test, 0,
                                   N_TEST, 0, NULL);
    float acc = test_accuracy(whole);
    int same = memcmp(whole->params, second->params, sizeof whole->params) == 0;
    printf("test loss %.4f -> %.4f, test accuracy %.3f; resumed at step %llu: %s\n", loss0, loss1,
           acc, (unsigned long long)(steps / 2),
           same ? "bit-identical to the uninterrupted run" : "DIFFERS from the uninterrupted run");
    if (!same || !(loss1 < loss0 / 3) || !(acc > 0.9f)) {
        fprintf(stderr, "c-trainer --check: FAILED (identical %d, loss %.4f -> %.4f, accuracy "
                        "%.3f; want identical, a third of the loss, > 0.9)\n",
                same, loss0, loss1, acc);
        goto done;
    }
    status = 0;
done:
    free_trainer(whole);
    free_trainer(first);
    free_trainer(second);
    return status;
}

int main(int argc, char **argv)
{
    unsigned long long steps = 300, stop_at = 0;
    const char *dir = NULL, *resume = NULL;
    int do_check = 0;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--check") == 0) {
            do_check = 1;
        } else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
            steps = strtoull(argv[++i], &end, 10);
        } else if (strcmp(argv[i], "--stop-at") == 0 && i + 1 < argc) {
            stop_at = strtoull(argv[++i], &end, 10);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--resume") == 0 && i + 1 < argc) {
            resume = argv[++i];
        } else {
            fprintf(stderr, "usage: c-trainer [--steps N] [--stop-at K --dir DIR] [--resume DIR] "
                            "[--check [--dir DIR]]\n");
            return 2;
        }
        if (end != NULL && (*end != '\0' || end == argv[i])) {
            fprintf(stderr, "c-trainer: %s needs a whole number\n", argv[i - 1]);
            return 2;
        }
    }
    if (steps < 2 || steps > 1000000 || stop_at > steps || (stop_at > 0 && dir == NULL)) {
        fprintf(stderr, "c-trainer: need 2 <= --steps <= 1e6, --stop-at <= --steps, and --dir "
                        "with --stop-at\n");
        return 2;
    }
    if (do_check)
        return run_check(steps, dir != NULL ? dir : ".");
    trainer *tr = new_trainer(steps);
    if (tr == NULL)
        return 1;
    int status = (resume != NULL && load(tr, resume) != 0) ||
                 train_until(tr, stop_at > 0 ? stop_at : steps, 1) != 0 ||
                 (stop_at > 0 && save(tr, dir) != 0);
    if (status == 0)
        printf("step %llu: test accuracy %.3f%s\n", (unsigned long long)tr->step, test_accuracy(tr),
               stop_at > 0 ? ", saved" : "");
    free_trainer(tr);
    return status;
}

/*
 * zipf_embeddings.c -- seed 002's argument, run: rare rows of an embedding table learn faster
 * under AdaGrad than under one global learning rate.
 *
 * A synthetic corpus: 5,000 token types whose frequencies follow Zipf's law (s = 1.1), documents
 * of 20 tokens.  Each token t has a hidden 8-dimensional vector E*_t, and a document's target is
 * the sum of its tokens' vectors plus noise.  The model is an embedding table E (5,000 x 8),
 * prediction = sum of the document's rows; the loss is the squared error.  Every mini-batch of
 * 32 documents gives a row-sparse gradient (one row per token occurrence, repeats summed by
 * adaopt), and SGD, AdaGrad and (lazy) Adam train the same table from zero for 2,000 steps,
 * each at a learning rate tuned on this problem (SGD's 0.1 is the largest that stays stable on
 * the frequent rows: at 0.2 it diverges).  The table shows, per frequency bucket, how far the learned rows are from the
 * hidden ones: the rare rows are where one global learning rate falls behind.
 *
 *   zipf_embeddings [--check]     --check: exit 1 unless AdaGrad beats SGD on the rare rows
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adaopt.h"

enum { VOCAB = 5000, DIM = 8, DOC_LEN = 20, BATCH = 32, STEPS = 2000 };

typedef struct {
    uint64_t state;
} rng;

static double uniform(rng *r)
{
    r->state ^= r->state << 13;
    r->state ^= r->state >> 7;
    r->state ^= r->state << 17;
    return (double)(r->state >> 11) / 9007199254740992.0;
}

static double normal(rng *r)
{
    double u = uniform(r) + 1e-300, v = uniform(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Token sampler: inverse CDF of Zipf(1.1) over VOCAB types. */
static int sample_token(const double *cdf, rng *r)
{
    double u = uniform(r);
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct {
    const char *name;
    adaopt_algorithm algorithm;
    double lr;
    float table[VOCAB * DIM];
} learner;

/* Trains one learner on the corpus drawn from `seed`; the same seed gives the same documents. */
static int train(learner *L, const double *cdf, const float *hidden, uint64_t seed)
{
    adaopt_optimizer *opt;
    size_t numel = VOCAB * DIM, group;
    if (adaopt_create(L->algorithm, &opt) != ADAOPT_OK)
        return -1;
    if (adaopt_add_group(opt, &numel, 1, &group) != ADAOPT_OK ||
        adaopt_set(opt, group, ADAOPT_LR, L->lr) != ADAOPT_OK ||
        (L->algorithm == ADAOPT_ALGO_ADAGRAD && adaopt_set(opt, group, ADAOPT_EPS, 1e-8)) ||
        adaopt_reserve_sparse(opt, BATCH * DOC_LEN, DIM, VOCAB) != ADAOPT_OK) {
        fprintf(stderr, "%s: %s\n", L->name, adaopt_last_error(opt));
        adaopt_destroy(opt);
        return -1;
    }
    memset(L->table, 0, sizeof L->table);
    rng r = {seed};
    int64_t indices[BATCH * DOC_LEN];
    float values[BATCH * DOC_LEN * DIM];
    for (int step = 0; step < STEPS; step++) {
        size_t n = 0;
        for (int d = 0; d < BATCH; d++) {
            float pred[DIM] = {0}, target[DIM] = {0};
            int doc[DOC_LEN];
            for (int k = 0; k < DOC_LEN; k++) {
                doc[k] = sample_token(cdf, &r);
                for (int e = 0; e < DIM; e++) {
                    pred[e] += L->table[doc[k] * DIM + e];
                    target[e] += hidden[doc[k] * DIM + e];
                }
            }
            for (int e = 0; e < DIM; e++)
                target[e] += (float)(0.1 * normal(&r));
            /* d loss / d E_t = (pred - target) / BATCH for each occurrence of t */
            for (int k = 0; k < DOC_LEN; k++, n++) {
                indices[n] = doc[k];
                for (int e = 0; e < DIM; e++)
                    values[n * DIM + e] = (pred[e] - target[e]) / BATCH;
            }
        }
        float *params[1] = {L->table};
        const float *none[1] = {NULL};
        adaopt_sparse_grad g = {indices, n, values, DIM};
        if (adaopt_step_sparse(opt, params, none, &g, 1) != ADAOPT_OK) {
            fprintf(stderr, "%s: %s\n", L->name, adaopt_last_error(opt));
            adaopt_destroy(opt);
            return -1;
        }
    }
    adaopt_destroy(opt);
    return 0;
}

int main(int argc, char **argv)
{
    int check = argc > 1 && strcmp(argv[1], "--check") == 0;
    static double cdf[VOCAB];
    static float hidden[VOCAB * DIM];
    double total = 0.0;
    for (int t = 0; t < VOCAB; t++)
        total += pow(t + 1.0, -1.1);
    double acc = 0.0;
    for (int t = 0; t < VOCAB; t++) {
        acc += pow(t + 1.0, -1.1) / total;
        cdf[t] = acc;
    }
    rng r = {12345};
    for (int i = 0; i < VOCAB * DIM; i++)
        hidden[i] = (float)normal(&r);

    static learner learners[] = {
        {"SGD", ADAOPT_ALGO_SGD, 0.1, {0}},
        {"AdaGrad", ADAOPT_ALGO_ADAGRAD, 0.5, {0}},
        {"Adam (lazy)", ADAOPT_ALGO_ADAM, 0.05, {0}},
    };
    const int n_learners = sizeof learners / sizeof learners[0];
    for (int k = 0; k < n_learners; k++)
        if (train(&learners[k], cdf, hidden, 777) != 0)
            return 1;

    /* Buckets by rank: expected occurrences in the whole run = STEPS*BATCH*DOC_LEN * p(t). */
    const struct { const char *label; int lo, hi; } buckets[] = {
        {"top 10 tokens", 0, 10}, {"ranks 10-100", 10, 100}, {"ranks 100-1000", 100, 1000},
        {"ranks 1000-5000 (rare)", 1000, VOCAB}};
    const int n_buckets = sizeof buckets / sizeof buckets[0];
    double err[4][3];
    printf("Embedding rows: RMS distance to the hidden vectors after %d steps (lower is better)\n"
           "(Zipf(1.1) corpus of %d token types, %d-dim rows, batches of %d documents of %d "
           "tokens)\n\n", STEPS, VOCAB, DIM, BATCH, DOC_LEN);
    printf("%-24s %12s", "rows", "seen (mean)");
    for (int k = 0; k < n_learners; k++)
        printf(" %10s", learners[k].name);
    printf("\n");
    for (int b = 0; b < n_buckets; b++) {
        double seen = 0.0;
        for (int t = buckets[b].lo; t < buckets[b].hi; t++)
            seen += (cdf[t] - (t ? cdf[t - 1] : 0.0)) * STEPS * BATCH * DOC_LEN;
        seen /= buckets[b].hi - buckets[b].lo;
        printf("%-24s %12.1f", buckets[b].label, seen);
        for (int k = 0; k < n_learners; k++) {
            double s = 0.0;
            for (int t = buckets[b].lo; t < buckets[b].hi; t++)
                for (int e = 0; e < DIM; e++) {
                    double d = learners[k].table[t * DIM + e] - hidden[t * DIM + e];
                    s += d * d;
                }
            err[b][k] = sqrt(s / ((buckets[b].hi - buckets[b].lo) * DIM));
            printf(" %10.4f", err[b][k]);
        }
        printf("\n");
    }
    printf("\n(learning rates: SGD %.2g, AdaGrad %.2g, Adam %.2g; the hidden vectors have RMS 1)\n",
           learners[0].lr, learners[1].lr, learners[2].lr);
    int rare = n_buckets - 1;
    int ok = err[rare][1] < err[rare][0];
    printf("\nRare rows: AdaGrad %s SGD (%.4f vs %.4f).\n", ok ? "beats" : "does NOT beat",
           err[rare][1], err[rare][0]);
    return check && !ok ? 1 : 0;
}

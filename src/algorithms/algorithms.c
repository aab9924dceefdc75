/*
 * algorithms.c -- the index of the algorithm rows (algorithm.h) and what the rows share.
 */
#include <math.h>
#include <string.h>

#include "algorithm.h"

static const adaopt__algorithm *const ROWS[] = {
    [ADAOPT_ALGO_SGD] = &adaopt__sgd_row,
    [ADAOPT_ALGO_ADAGRAD] = &adaopt__adagrad_row,
    [ADAOPT_ALGO_RMSPROP] = &adaopt__rmsprop_row,
    [ADAOPT_ALGO_ADAM] = &adaopt__adam_row,
    [ADAOPT_ALGO_ADAMW] = &adaopt__adamw_row,
    [ADAOPT_ALGO_ADAMAX] = &adaopt__adamax_row,
    [ADAOPT_ALGO_NADAM] = &adaopt__nadam_row,
    [ADAOPT_ALGO_RADAM] = &adaopt__radam_row,
    [ADAOPT_ALGO_LION] = &adaopt__lion_row,
    [ADAOPT_ALGO_ADAMW_SCHEDULE_FREE] = &adaopt__schedule_free_row,
    [ADAOPT_ALGO_LAMB] = &adaopt__lamb_row,
    [ADAOPT_ALGO_ADAFACTOR] = &adaopt__adafactor_row,
    [ADAOPT_ALGO_ADADELTA] = &adaopt__adadelta_row,
    [ADAOPT_ALGO_RPROP] = &adaopt__rprop_row,
    [ADAOPT_ALGO_ASGD] = &adaopt__asgd_row,
    [ADAOPT_ALGO_MUON] = &adaopt__muon_row,
};

/* (every algorithm has its entry in the kernel tables' by_algorithm) */
_Static_assert(sizeof ROWS / sizeof ROWS[0] <= 32, "kernels.h: by_algorithm[32] is too small");

const adaopt__algorithm *adaopt__algo(adaopt_algorithm algorithm)
{
    size_t a = (size_t)algorithm;
    return (int)algorithm > 0 && a < sizeof ROWS / sizeof ROWS[0] ? ROWS[a] : NULL;
}

int adaopt__torch2(const double *hp)
{
    return hp[ADAOPT_TORCH] == ADAOPT_TORCH_2; /* (0 where the algorithm has no such option) */
}

void adaopt__set_lerp_weight(adaopt_coeffs *c, float w)
{
    /* torch's lerp goes from the nearer end (its is_lerp_weight_small): fma(w - 1, end - start,
     * end) for |w| >= 0.5 */
    c->lerp_from_end = !(fabsf(w) < 0.5f);
    c->lerp_coef = c->lerp_from_end ? w - 1.0f : w;
}

int adaopt__decoupled_decay(const adaopt__algorithm *a, const double *hp)
{
    return a->decay == ADAOPT__DECAY_DECOUPLED ||
           (a->decay == ADAOPT__DECAY_BY_OPTION && hp[ADAOPT_DECOUPLED_WEIGHT_DECAY] != 0.0);
}

void adaopt__common_coeffs(adaopt_coeffs *c, const adaopt__algorithm *a, const double *hp,
                           const adaopt_step_scalars *s)
{
    memset(c, 0, sizeof *c);
    double wd = hp[ADAOPT_WEIGHT_DECAY];
    int dec = adaopt__decoupled_decay(a, hp);
    c->maximize = hp[ADAOPT_MAXIMIZE] != 0.0;
    c->decoupled = dec && wd != 0.0;
    c->decay_factor = (float)(1.0 - s->lr * wd);
    c->weight_decay = dec ? 0.0f : (float)wd;
    c->eps = (float)hp[ADAOPT_EPS];
    c->eps_mode = (int)hp[ADAOPT_EPS_MODE];
    c->lr = (float)s->lr;
    c->neg_lr = (float)-s->lr;
}

double adaopt__denom_for(int eps_mode, double u, double bc2, double eps)
{
    switch (eps_mode) {
    case ADAOPT_EPS_INSIDE:
        return sqrt(u / bc2 + eps);
    case ADAOPT_EPS_HAT:
        return (sqrt(u) + eps) / sqrt(bc2);
    default:
        return sqrt(u) / sqrt(bc2) + eps;
    }
}

unsigned adaopt__slot0(const double *hp)
{
    (void)hp;
    return 1u;
}

unsigned adaopt__slots01(const double *hp)
{
    (void)hp;
    return 3u;
}

adaopt_status adaopt__lr_everywhere(const adaopt__lr_query *q, float *out, size_t n)
{
    for (size_t k = 0; k < n; k++)
        out[k] = (float)q->hp[ADAOPT_LR];
    return ADAOPT_OK;
}


/* Which slot holds which state (the algorithm's row); -1: the algorithm has no such state. */
int adaopt__slot_of_state(adaopt_algorithm algorithm, adaopt_state_kind kind)
{
    const adaopt__algorithm *a = adaopt__algo(algorithm);
    for (int k = 0; a != NULL && k < ADAOPT_MAX_SLOTS && kind != 0; k++)
        if (a->slot_kind[k] == kind || a->alt_kind[k] == kind)
            return k;
    return -1;
}

int adaopt__never_negative(adaopt_state_kind kind)
{
    return kind == ADAOPT_STATE_SUM || kind == ADAOPT_STATE_SQUARE_AVG ||
           kind == ADAOPT_STATE_EXP_AVG_SQ || kind == ADAOPT_STATE_MAX_EXP_AVG_SQ ||
           kind == ADAOPT_STATE_EXP_INF || kind == ADAOPT_STATE_ROW_VAR ||
           kind == ADAOPT_STATE_COL_VAR || kind == ADAOPT_STATE_VARIANCE ||
           kind == ADAOPT_STATE_ACC_DELTA || kind == ADAOPT_STATE_STEP_SIZE;
}

/* Bit mask of the slots a group with hyperparameters `hp` needs. */
unsigned adaopt__slots_needed(adaopt_algorithm algorithm, const double *hp)
{
    const adaopt__algorithm *a = adaopt__algo(algorithm);
    return a != NULL ? a->slots(hp) : 0u;
}

adaopt_state_kind adaopt_algorithm_state(adaopt_algorithm algorithm, size_t index)
{
    const adaopt__algorithm *a = adaopt__algo(algorithm);
    size_t n = 0;
    for (int pass = 0; a != NULL && pass < 2; pass++) /* the slots' kinds, then the others */
        for (int k = 0; k < ADAOPT_MAX_SLOTS; k++) {
            adaopt_state_kind kind = pass == 0 ? a->slot_kind[k] : a->alt_kind[k];
            if (kind != 0 && n++ == index)
                return kind;
        }
    return (adaopt_state_kind)0;
}

/* The kinds of a list in which each run is there when its flag is set. */
static adaopt_state_kind nth_kind(const adaopt_state_kind *kinds, const int *present, size_t n,
                                  size_t index)
{
    for (size_t k = 0, seen = 0; k < n; k++)
        if (present[k] && seen++ == index)
            return kinds[k];
    return (adaopt_state_kind)0;
}

adaopt_state_kind adaopt_algorithm_scalar_state(adaopt_algorithm algorithm, size_t index)
{
    const adaopt__algorithm *a = adaopt__algo(algorithm);
    if (a == NULL)
        return (adaopt_state_kind)0;
    const adaopt_state_kind all[] = {ADAOPT_STATE_STEP, ADAOPT_STATE_MU_PRODUCT,
                                     a->tensor_scalars[0], a->tensor_scalars[1],
                                     a->tensor_scalars[2]};
    const int present[] = {1, a->tracks_mu_product, a->tensor_scalars[0] != 0,
                           a->tensor_scalars[1] != 0, a->tensor_scalars[2] != 0};
    return nth_kind(all, present, 5, index);
}

adaopt_state_kind adaopt_algorithm_group_state(adaopt_algorithm algorithm, size_t index)
{
    const adaopt__algorithm *a = adaopt__algo(algorithm);
    if (a == NULL)
        return (adaopt_state_kind)0;
    static const adaopt_state_kind kinds[] = {ADAOPT_STATE_K, ADAOPT_STATE_WEIGHT_SUM,
                                              ADAOPT_STATE_LR_MAX, ADAOPT_STATE_SCHEDULED_LR,
                                              ADAOPT_STATE_TRAIN_MODE};
    const int present[] = {a->counts_per_group, a->eval_mode, a->eval_mode, a->eval_mode,
                           a->eval_mode};
    return nth_kind(kinds, present, 5, index);
}

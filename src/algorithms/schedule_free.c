/*
 * schedule_free.c -- what Schedule-Free AdamW has beyond its kernel: the per-group scalars that
 * weight the average (schedulefree's group['k'], ['weight_sum'], ['lr_max']), advanced once per
 * step, and the train/eval swap of the parameters between y and x.  docs/ALGORITHMS.md,
 * "Schedule-Free AdamW", has the formulas; the kernel is sf_adamw in src/kernels/.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "algorithm.h"
#include "../precision.h"

void adaopt__sf_init_group(adaopt_group *g)
{
    g->steps = 0;
    g->sf_weight_sum = 0.0;
    g->sf_lr_max = -1.0;
    g->sf_lr = g->sf_ckp1 = g->sf_bc2 = 0.0;
}

double adaopt__sf_lr_at(const adaopt_group *g, uint64_t k)
{
    double warmup = g->hp[ADAOPT_WARMUP_STEPS];
    return g->hp[ADAOPT_LR] * ((double)k < warmup ? ((double)k + 1.0) / warmup : 1.0);
}

/* AdamWScheduleFree.step's scalars, in double as Python computes them:
 *   sched = (k+1)/warmup_steps while k < warmup_steps, else 1;  lr_k = lr sched;
 *   lr_max = max(lr_max, lr_k);  weight = (k+1)^r lr_max^weight_lr_power;
 *   weight_sum += weight;  c = weight / weight_sum (0 when weight_sum is 0);  bc2 = 1-b2^(k+1). */
void adaopt__sf_advance(adaopt_group *g)
{
    const double *hp = g->hp;
    double k1 = (double)g->steps + 1.0;
    double lr = adaopt__sf_lr_at(g, g->steps);
    g->sf_lr_max = lr > g->sf_lr_max ? lr : g->sf_lr_max;
    double weight = pow(k1, hp[ADAOPT_R]) * pow(g->sf_lr_max, hp[ADAOPT_WEIGHT_LR_POWER]);
    g->sf_weight_sum += weight;
    g->sf_ckp1 = g->sf_weight_sum != 0.0 ? weight / g->sf_weight_sum : 0.0;
    g->sf_lr = lr;
    g->sf_bc2 = 1.0 - pow(hp[ADAOPT_BETA2], k1);
    g->steps++;
}

/* Moves every stepped tensor's parameters toward z by weight w (in float, as torch's lerp_ on
 * the parameter with a Python float weight). */
static void swap_params(adaopt_optimizer *opt, void *const *params, int to_train)
{
    for (size_t i = 0; i < opt->n_tensors; i++) {
        adaopt_tensor *t = &opt->tensors[i];
        const adaopt_group *g = &opt->groups[t->group];
        if (params[i] == NULL || t->slot[0] == NULL || !t->slot_ready[0])
            continue; /* no z yet: nothing to swap, as schedulefree's `'z' in state` */
        double beta1 = g->hp[ADAOPT_BETA1];
        float w = (float)(to_train ? 1.0 - beta1 : 1.0 - 1.0 / beta1);
        const float *z = t->slot[0];
        if (g->param_dtype == ADAOPT_DTYPE_F32) {
            float *p = params[i];
            for (size_t e = 0; e < t->numel; e++)
                p[e] = adaopt__lerp(p[e], z[e], w);
            continue;
        }
        uint16_t *p = params[i];
        int bf16 = g->param_dtype == ADAOPT_DTYPE_BF16;
        if (t->master != NULL && t->master_ready) { /* the master moves; p follows it */
            for (size_t e = 0; e < t->numel; e++) {
                t->master[e] = adaopt__lerp(t->master[e], z[e], w);
                p[e] = bf16 ? adaopt__f32_to_bf16(t->master[e]) : adaopt__f32_to_f16(t->master[e]);
            }
            continue;
        }
        for (size_t e = 0; e < t->numel; e++) {
            float x = bf16 ? adaopt__bf16_to_f32(p[e]) : adaopt__f16_to_f32(p[e]);
            x = adaopt__lerp(x, z[e], w);
            p[e] = bf16 ? adaopt__f32_to_bf16(x) : adaopt__f32_to_f16(x);
        }
    }
}

static adaopt_status set_mode(adaopt_optimizer *opt, void *const *params, size_t n_tensors,
                              int to_train)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    const char *name = to_train ? "train" : "eval";
    if (n_tensors != opt->n_tensors)
        return adaopt__fail(opt, ADAOPT_ERR_SIZE, "%s: got %zu tensors, the optimizer has %zu",
                            name, n_tensors, opt->n_tensors);
    if (opt->training == to_train)
        return ADAOPT_OK; /* already there: schedulefree does nothing either */
    if (adaopt__algo(opt->algorithm)->eval_mode) {
        if (params == NULL)
            return adaopt__fail(opt, ADAOPT_ERR_NULL, "%s: params must not be NULL", name);
        swap_params(opt, params, to_train);
    }
    opt->training = to_train;
    return ADAOPT_OK;
}

adaopt_status adaopt_eval(adaopt_optimizer *opt, void *const *params, size_t n_tensors)
{
    return set_mode(opt, params, n_tensors, 0);
}

adaopt_status adaopt_train(adaopt_optimizer *opt, void *const *params, size_t n_tensors)
{
    return set_mode(opt, params, n_tensors, 1);
}

int adaopt_is_training(const adaopt_optimizer *opt)
{
    return opt != NULL && opt->training;
}

static adaopt_status check_group_state(const adaopt_optimizer *opt, size_t group,
                                       adaopt_state_kind kind)
{
    adaopt_optimizer *o = (adaopt_optimizer *)opt; /* only its error buffer is written */
    if (group >= opt->n_groups)
        return adaopt__fail(o, ADAOPT_ERR_INDEX, "group %zu out of range (%zu groups)", group,
                            opt->n_groups);
    int has = 0;
    for (size_t k = 0; adaopt_algorithm_group_state(opt->algorithm, k) != 0 && !has; k++)
        has = adaopt_algorithm_group_state(opt->algorithm, k) == kind;
    if (!has)
        return adaopt__fail(o, ADAOPT_ERR_OPTION, "%s has no group state '%s'",
                            adaopt_algorithm_name(opt->algorithm),
                            adaopt_state_name(kind) ? adaopt_state_name(kind) : "?");
    return ADAOPT_OK;
}

adaopt_status adaopt_group_state(const adaopt_optimizer *opt, size_t group,
                                 adaopt_state_kind kind, double *value)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (value == NULL)
        return adaopt__fail((adaopt_optimizer *)opt, ADAOPT_ERR_NULL,
                            "group_state: value must not be NULL");
    adaopt_status st = check_group_state(opt, group, kind);
    if (st != ADAOPT_OK)
        return st;
    const adaopt_group *g = &opt->groups[group];
    *value = kind == ADAOPT_STATE_K            ? (double)g->steps
             : kind == ADAOPT_STATE_WEIGHT_SUM ? g->sf_weight_sum
             : kind == ADAOPT_STATE_LR_MAX     ? g->sf_lr_max
             : kind == ADAOPT_STATE_TRAIN_MODE ? (double)opt->training
             : g->steps == 0                    ? 0.0 /* schedulefree's initial scheduled_lr */
                                               : adaopt__sf_lr_at(g, g->steps - 1);
    return ADAOPT_OK;
}

adaopt_status adaopt_set_group_state(adaopt_optimizer *opt, size_t group, adaopt_state_kind kind,
                                     double value)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    adaopt_status st = check_group_state(opt, group, kind);
    if (st != ADAOPT_OK)
        return st;
    adaopt_group *g = &opt->groups[group];
    switch (kind) {
    case ADAOPT_STATE_K:
        if (!(value >= 0.0 && value <= 9007199254740992.0 && value == floor(value)))
            return adaopt__fail(opt, ADAOPT_ERR_VALUE,
                                "k must be a whole number in [0, 2^53] (got %g)", value);
        g->steps = (uint64_t)value;
        return ADAOPT_OK;
    case ADAOPT_STATE_WEIGHT_SUM:
        if (!(value >= 0.0)) /* (inf kept: where a run whose weights overflowed is; NaN would
                                make every later average NaN) */
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "weight_sum must be >= 0 (got %g)", value);
        g->sf_weight_sum = value;
        return ADAOPT_OK;
    case ADAOPT_STATE_LR_MAX:
        if (!(value >= -1.0 && value <= FLT_MAX)) /* (the largest lr so far: a float32 value) */
            return adaopt__fail(opt, ADAOPT_ERR_VALUE,
                                "lr_max must be >= -1 and within float32 (got %g)", value);
        g->sf_lr_max = value;
        return ADAOPT_OK;
    case ADAOPT_STATE_TRAIN_MODE:
        if (value != 0.0 && value != 1.0)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "train_mode is 0 or 1 (got %g)", value);
        opt->training = (int)value;
        return ADAOPT_OK;
    default:
        return adaopt__fail(opt, ADAOPT_ERR_OPTION, "%s is read only",
                            adaopt_state_name(kind) ? adaopt_state_name(kind) : "?");
    }
}

/* ---- the row ---- */

static const adaopt__option_default OPTIONS[] = {
    {ADAOPT_LR, 2.5e-3}, /* schedulefree */
    {ADAOPT_BETA1, 0.9},      {ADAOPT_BETA2, 0.999},     {ADAOPT_EPS, 1e-8},
    {ADAOPT_WEIGHT_DECAY, 0.0}, {ADAOPT_WARMUP_STEPS, 0.0}, {ADAOPT_R, 0.0},
    {ADAOPT_WEIGHT_LR_POWER, 2.0}, {0, 0.0}};

static int born(const adaopt_coeffs *c)
{
    (void)c;
    return 1; /* z: a copy of the parameters at the first step */
}

static adaopt_status check_value(adaopt_optimizer *opt, adaopt_option option, double value)
{
    if (option == ADAOPT_BETA1 && value == 0.0)
        return adaopt__fail(opt, ADAOPT_ERR_VALUE,
                            "beta1 must be in (0, 1) for adamw_schedulefree (got 0): x is "
                            "recovered from y and z through 1/beta1");
    if (option == ADAOPT_STATE_STORAGE && value != ADAOPT_STORAGE_F32)
        return adaopt__fail(opt, ADAOPT_ERR_VALUE,
                            "adamw_schedulefree keeps float32 state (got state_storage %g): "
                            "its z is a copy of the weights, which bf16 or 8-bit codes "
                            "would round", value);
    return ADAOPT_OK;
}

/* The coefficients from group g's scalars of this step (adaopt__sf_advance), each rounded to
 * float as torch rounds a Python float for a float32 tensor. */
static void coeffs(adaopt_coeffs *c, const adaopt__algorithm *a, const adaopt_group *g,
                   const adaopt_tensor *t, const double *hp,
                   const adaopt_step_scalars *s, int z_ready)
{
    (void)t;
    (void)a;
    (void)s;
    hp = g->hp; /* (the same: Schedule-Free takes no sparse gradients) */
    memset(c, 0, sizeof *c);
    c->maximize = hp[ADAOPT_MAXIMIZE] != 0.0;
    c->beta2 = (float)hp[ADAOPT_BETA2];
    c->one_minus_beta2 = (float)(1.0 - hp[ADAOPT_BETA2]);
    c->bc2 = (float)g->sf_bc2;
    c->eps = (float)hp[ADAOPT_EPS];
    c->sf_decay = (float)hp[ADAOPT_WEIGHT_DECAY];
    c->neg_lr = (float)-g->sf_lr;
    adaopt__set_lerp_weight(c, (float)g->sf_ckp1); /* y moves toward z by c */
    c->y_coef = (float)(g->sf_lr * (hp[ADAOPT_BETA1] * (1.0 - g->sf_ckp1) - 1.0));
    c->buffer_is_new = !z_ready;
}

/* z's step at the group's last k */
static adaopt_status effective_lr(const adaopt__lr_query *q, float *out, size_t n)
{
    const adaopt_group *g = &q->opt->groups[q->t->group];
    const double *hp = q->hp;
    uint64_t gk = g->steps > 0 ? g->steps : 1;
    double bc2 = 1.0 - pow(hp[ADAOPT_BETA2], (double)gk);
    double lr = adaopt__sf_lr_at(g, gk - 1);
    for (size_t k = 0; k < n; k++)
        out[k] = (float)(lr / (sqrt(q->slot[1][k] / bc2) + hp[ADAOPT_EPS]));
    return ADAOPT_OK;
}

const adaopt__algorithm adaopt__schedule_free_row = {
    .name = "adamw_schedulefree",
    .options = OPTIONS,
    .slot_kind = {ADAOPT_STATE_Z, ADAOPT_STATE_EXP_AVG_SQ},
    .slots = adaopt__slots01,
    .slot0_born = born,
    .decay = ADAOPT__DECAY_OWN,
    .counts_per_group = 1,
    .eval_mode = 1,
    .no_sparse = "does not take sparse gradients (every row moves toward its z at every step)",
    .min_format_version = 2,
    .group_record = ADAOPT__GROUP_RECORD_WEIGHTS,
    .check_value = check_value,
    .init_group = adaopt__sf_init_group,
    .begin_step = adaopt__sf_advance,
    .scalars = adaopt__adam_scalars,
    .coeffs = coeffs,
    .effective_lr = effective_lr,
};

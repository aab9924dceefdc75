/*
 * optimizer.c -- the optimizer object: groups, options, state, the step and its inspection.
 *
 * The step is split in two: per tensor, `step_scalars` computes in double precision every
 * quantity that depends only on the hyperparameters and t (ALGORITHMS.md: "computed once per
 * step in double precision, not per element"); then a kernel from src/kernels/ streams the
 * elements.  `adaopt_effective_lr` reuses the same scalars, so the factor it reports is the one
 * the step applied.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "precision.h"

#ifdef _OPENMP
#include <omp.h>
#endif

enum { STATE_ALIGN_BYTES = 64 };

/* The default thread count: OpenMP's own default for a new parallel region, which is
 * OMP_NUM_THREADS when it is set (or what the program gave omp_set_num_threads), else every core
 * this process may run on. */
static size_t default_threads(void)
{
#ifdef _OPENMP
    int n = omp_get_max_threads();
    return n > 0 ? (size_t)n : 1;
#else
    return 1;
#endif
}

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */

adaopt_status adaopt__fail(adaopt_optimizer *opt, adaopt_status status, const char *fmt, ...)
{
    if (opt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(opt->error, sizeof opt->error, fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *adaopt_last_error(const adaopt_optimizer *opt)
{
    return opt == NULL ? "no optimizer (NULL)" : opt->error;
}

unsigned adaopt_version_number(void)
{
    return ADAOPT_VERSION_MAJOR * 10000u + ADAOPT_VERSION_MINOR * 100u + ADAOPT_VERSION_PATCH;
}

/* ------------------------------------------------------------------------------------------ */
/* State slots                                                                                 */

/* Which slot holds which state, per algorithm; -1: the algorithm has no such state. */
int adaopt__slot_of_state(adaopt_algorithm algorithm, adaopt_state_kind kind)
{
    switch (algorithm) {
    case ADAOPT_ALGO_SGD:
        return kind == ADAOPT_STATE_MOMENTUM_BUFFER ? 0 : -1;
    case ADAOPT_ALGO_ADAGRAD:
        return kind == ADAOPT_STATE_SUM ? 0 : -1;
    case ADAOPT_ALGO_RMSPROP:
        return kind == ADAOPT_STATE_SQUARE_AVG       ? 0
               : kind == ADAOPT_STATE_MOMENTUM_BUFFER ? 1
               : kind == ADAOPT_STATE_GRAD_AVG        ? 2
                                                      : -1;
    case ADAOPT_ALGO_ADAM:
    case ADAOPT_ALGO_ADAMW:
        return kind == ADAOPT_STATE_EXP_AVG          ? 0
               : kind == ADAOPT_STATE_EXP_AVG_SQ     ? 1
               : kind == ADAOPT_STATE_MAX_EXP_AVG_SQ ? 2
                                                     : -1;
    case ADAOPT_ALGO_ADAMAX:
        return kind == ADAOPT_STATE_EXP_AVG ? 0 : kind == ADAOPT_STATE_EXP_INF ? 1 : -1;
    case ADAOPT_ALGO_NADAM:
    case ADAOPT_ALGO_RADAM:
        return kind == ADAOPT_STATE_EXP_AVG ? 0 : kind == ADAOPT_STATE_EXP_AVG_SQ ? 1 : -1;
    }
    return -1;
}

/* Bit mask of the slots a group with hyperparameters `hp` needs. */
unsigned adaopt__slots_needed(adaopt_algorithm algorithm, const double *hp)
{
    switch (algorithm) {
    case ADAOPT_ALGO_SGD:
        return hp[ADAOPT_MOMENTUM] != 0.0 ? 1u : 0u;
    case ADAOPT_ALGO_ADAGRAD:
        return 1u;
    case ADAOPT_ALGO_RMSPROP:
        return 1u | (hp[ADAOPT_MOMENTUM] > 0.0 ? 2u : 0u) | (hp[ADAOPT_CENTERED] != 0.0 ? 4u : 0u);
    case ADAOPT_ALGO_ADAM:
    case ADAOPT_ALGO_ADAMW:
        return 3u | (hp[ADAOPT_AMSGRAD] != 0.0 ? 4u : 0u);
    case ADAOPT_ALGO_ADAMAX:
    case ADAOPT_ALGO_NADAM:
    case ADAOPT_ALGO_RADAM:
        return 3u;
    }
    return 0u;
}

/* Frees slot k of t in whatever form it has. */
static void drop_slot(adaopt_tensor *t, int k)
{
    adaopt__free_state(t->slot[k]);
    adaopt__free_state(t->packed[k]);
    adaopt__free_state(t->absmax[k]);
    adaopt__free_state(t->view[k]);
    t->slot[k] = NULL;
    t->packed[k] = NULL;
    t->absmax[k] = NULL;
    t->view[k] = NULL;
}

/* Gives every tensor in [first, first+count) the slots in `mask` it lacks, zero-filled, in
 * the tensor's storage.  All or nothing: on a failure the slots made here are freed again. */
static adaopt_status grow_slots(adaopt_optimizer *opt, size_t first, size_t count, unsigned mask)
{
    for (size_t i = first; i < first + count; i++) {
        adaopt_tensor *t = &opt->tensors[i];
        for (int s = 0; s < ADAOPT_MAX_SLOTS; s++) {
            if (!(mask & (1u << s)) || adaopt__has_slot(t, s))
                continue;
            if (adaopt__alloc_slot(t, s, t->storage) == 0) {
                t->slot_ready[s] = -1; /* made by this call, until it succeeds */
                continue;
            }
            for (size_t j = first; j <= i; j++)
                for (int r = 0; r < ADAOPT_MAX_SLOTS; r++)
                    if (opt->tensors[j].slot_ready[r] == -1) {
                        drop_slot(&opt->tensors[j], r);
                        opt->tensors[j].slot_ready[r] = 0;
                    }
            return adaopt__fail(opt, ADAOPT_ERR_ALLOC,
                                "out of memory allocating state for tensor %zu (%zu elements)", i,
                                t->numel);
        }
    }
    for (size_t i = first; i < first + count; i++)
        for (int s = 0; s < ADAOPT_MAX_SLOTS; s++)
            if (opt->tensors[i].slot_ready[s] == -1)
                opt->tensors[i].slot_ready[s] = 0;
    return ADAOPT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Life cycle and groups                                                                       */

adaopt_status adaopt_create(adaopt_algorithm algorithm, adaopt_optimizer **out)
{
    if (out == NULL)
        return ADAOPT_ERR_NULL;
    *out = NULL;
    if (!adaopt__algorithm_valid(algorithm))
        return ADAOPT_ERR_ALGORITHM;
    adaopt_optimizer *opt = calloc(1, sizeof *opt);
    if (opt == NULL)
        return ADAOPT_ERR_ALLOC;
    opt->algorithm = algorithm;
    opt->isa = adaopt__best_isa();
    opt->kernels = adaopt__kernel_table(opt->isa);
    opt->threads = default_threads();
    opt->hint = -1;
    *out = opt;
    return ADAOPT_OK;
}

void adaopt_destroy(adaopt_optimizer *opt)
{
    if (opt == NULL)
        return;
    for (size_t i = 0; i < opt->n_tensors; i++)
        adaopt__free_tensor_state(&opt->tensors[i]);
    free(opt->qtables);
    free(opt->tensors);
    free(opt->groups);
    free(opt->chunks);
    free(opt->coeffs);
    free(opt->flat_params);
    free(opt->flat_grads);
    free(opt->sparse.row_stamp);
    free(opt->sparse.row_first);
    free(opt->sparse.row_last);
    free(opt->sparse.next);
    free(opt->sparse.distinct);
    free(opt->sparse.row_sum);
    free(opt);
}

adaopt_algorithm adaopt_get_algorithm(const adaopt_optimizer *opt)
{
    return opt == NULL ? (adaopt_algorithm)0 : opt->algorithm;
}

size_t adaopt_group_count(const adaopt_optimizer *opt)
{
    return opt == NULL ? 0 : opt->n_groups;
}

size_t adaopt_tensor_count(const adaopt_optimizer *opt)
{
    return opt == NULL ? 0 : opt->n_tensors;
}

adaopt_status adaopt_tensor_info(const adaopt_optimizer *opt, size_t tensor, size_t *numel,
                                 size_t *group)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (tensor >= opt->n_tensors)
        return adaopt__fail((adaopt_optimizer *)opt, ADAOPT_ERR_INDEX,
                            "tensor %zu out of range (%zu tensors)", tensor, opt->n_tensors);
    if (numel != NULL)
        *numel = opt->tensors[tensor].numel;
    if (group != NULL)
        *group = opt->tensors[tensor].group;
    return ADAOPT_OK;
}

adaopt_status adaopt_add_group(adaopt_optimizer *opt, const size_t *numels, size_t n_tensors,
                               size_t *group)
{
    return adaopt_add_group_typed(opt, numels, n_tensors, ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32,
                                  group);
}

const char *adaopt_dtype_name(adaopt_dtype dtype)
{
    switch (dtype) {
    case ADAOPT_DTYPE_F32:
        return "f32";
    case ADAOPT_DTYPE_BF16:
        return "bf16";
    case ADAOPT_DTYPE_F16:
        return "f16";
    }
    return NULL;
}

adaopt_status adaopt_add_group_typed(adaopt_optimizer *opt, const size_t *numels,
                                     size_t n_tensors, adaopt_dtype param_dtype,
                                     adaopt_dtype grad_dtype, size_t *group)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (adaopt_dtype_name(param_dtype) == NULL ||
        (grad_dtype != param_dtype && grad_dtype != ADAOPT_DTYPE_F32))
        return adaopt__fail(opt, ADAOPT_ERR_VALUE,
                            "add_group: parameters of type %d with gradients of type %d: the "
                            "gradients' type must be the parameters' or float32",
                            (int)param_dtype, (int)grad_dtype);
    if (numels == NULL || group == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_NULL, "add_group: numels and group must not be NULL");
    if (n_tensors == 0)
        return adaopt__fail(opt, ADAOPT_ERR_SIZE, "add_group: a group needs at least one tensor");
    if (n_tensors > SIZE_MAX / sizeof(adaopt_tensor) - opt->n_tensors)
        return adaopt__fail(opt, ADAOPT_ERR_SIZE, "add_group: too many tensors");
    for (size_t i = 0; i < n_tensors; i++)
        if (numels[i] > (SIZE_MAX / 4 - STATE_ALIGN_BYTES) / sizeof(float))
            return adaopt__fail(opt, ADAOPT_ERR_SIZE,
                                "add_group: tensor %zu has %zu elements, too many to address", i,
                                numels[i]);

    adaopt_group g;
    memset(&g, 0, sizeof g);
    for (int o = ADAOPT_LR; o <= ADAOPT_OPTION_MAX; o++)
        if (adaopt__option_applies(opt->algorithm, (adaopt_option)o))
            adaopt_default(opt->algorithm, (adaopt_option)o, &g.hp[o]);
    g.first_tensor = opt->n_tensors;
    g.n_tensors = n_tensors;
    g.param_dtype = (int)param_dtype;
    g.grad_dtype = (int)grad_dtype;

    adaopt_group *groups = realloc(opt->groups, (opt->n_groups + 1) * sizeof *groups);
    if (groups == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory adding a group");
    opt->groups = groups;
    adaopt_tensor *tensors = realloc(opt->tensors, (opt->n_tensors + n_tensors) * sizeof *tensors);
    if (tensors == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory adding %zu tensors", n_tensors);
    opt->tensors = tensors;

    for (size_t i = 0; i < n_tensors; i++) {
        adaopt_tensor *t = &opt->tensors[g.first_tensor + i];
        memset(t, 0, sizeof *t);
        t->numel = numels[i];
        t->group = opt->n_groups;
        t->mu_product = 1.0;
        t->storage = adaopt__storage_for(&g, numels[i]);
    }
    /* The chunk plan and the per-tensor coefficients of all tensors, old and new. */
    size_t n_chunks = opt->n_chunks;
    for (size_t i = 0; i < n_tensors; i++) {
        size_t pieces = numels[i] / ADAOPT_CHUNK_ELEMS + (numels[i] % ADAOPT_CHUNK_ELEMS != 0);
        n_chunks += pieces ? pieces : 1;
    }
    adaopt_chunk *chunks = realloc(opt->chunks, n_chunks * sizeof *chunks);
    if (chunks == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory planning %zu chunks", n_chunks);
    opt->chunks = chunks;
    adaopt_coeffs *coeffs = realloc(opt->coeffs, (opt->n_tensors + n_tensors) * sizeof *coeffs);
    if (coeffs == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory adding %zu tensors", n_tensors);
    opt->coeffs = coeffs;
    float **flat_params = realloc(opt->flat_params, (opt->n_tensors + n_tensors) * sizeof *flat_params);
    if (flat_params == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory adding %zu tensors", n_tensors);
    opt->flat_params = flat_params;
    const float **flat_grads = (const float **)realloc((void *)opt->flat_grads,
                                                       (opt->n_tensors + n_tensors) * sizeof *flat_grads);
    if (flat_grads == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory adding %zu tensors", n_tensors);
    opt->flat_grads = flat_grads;

    adaopt_status st = grow_slots(opt, g.first_tensor, n_tensors, adaopt__slots_needed(opt->algorithm, g.hp));
    if (st != ADAOPT_OK)
        return st; /* the arrays may have grown, but the counts are unchanged */
    if (param_dtype != ADAOPT_DTYPE_F32) { /* master weights, the default update */
        for (size_t i = 0; i < n_tensors; i++) {
            adaopt_tensor *t = &opt->tensors[g.first_tensor + i];
            if ((t->master = adaopt__alloc_state(t->numel)) == NULL) {
                for (size_t j = 0; j <= i; j++)
                    adaopt__free_tensor_state(&opt->tensors[g.first_tensor + j]);
                return adaopt__fail(opt, ADAOPT_ERR_ALLOC,
                                    "out of memory for the master weights of tensor %zu",
                                    g.first_tensor + i);
            }
        }
    }
    for (size_t i = 0; i < n_tensors; i++) {
        size_t begin = 0, numel = numels[i];
        do {
            size_t end = numel - begin > ADAOPT_CHUNK_ELEMS ? begin + ADAOPT_CHUNK_ELEMS : numel;
            opt->chunks[opt->n_chunks++] = (adaopt_chunk){g.first_tensor + i, begin, end};
            begin = end;
        } while (begin < numel);
    }
    opt->groups[opt->n_groups] = g;
    *group = opt->n_groups++;
    opt->n_tensors += n_tensors;
    return ADAOPT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Options                                                                                     */

/* Sets `option` in groups [first, first+count).  State the new value needs is allocated for all
 * of them before any value changes, so that an allocation failure changes nothing visible (a
 * zero-filled slot that was allocated stays, unused, for when the option is turned on). */
static adaopt_status set_groups(adaopt_optimizer *opt, size_t first, size_t count,
                                adaopt_option option, double value)
{
    for (size_t gi = first; gi < first + count; gi++) {
        adaopt_group *g = &opt->groups[gi];
        double hp[ADAOPT_OPTION_MAX + 1];
        memcpy(hp, g->hp, sizeof hp);
        hp[option] = value;
        adaopt_status st = grow_slots(opt, g->first_tensor, g->n_tensors,
                                      adaopt__slots_needed(opt->algorithm, hp));
        if (st != ADAOPT_OK)
            return st;
    }
    for (size_t gi = first; gi < first + count; gi++)
        opt->groups[gi].hp[option] = value;
    return ADAOPT_OK;
}

static adaopt_status check_combination(adaopt_optimizer *opt, size_t gi, const double *hp);

/* The options that decide how a group's state is stored. */
static int is_structural(adaopt_option option)
{
    return option == ADAOPT_PARAM_UPDATE || option == ADAOPT_STATE_STORAGE ||
           option == ADAOPT_MIN_8BIT_NUMEL;
}

/* Has any tensor of group gi state that a change of storage would lose? */
static int group_has_state(const adaopt_optimizer *opt, size_t gi)
{
    const adaopt_group *g = &opt->groups[gi];
    for (size_t i = g->first_tensor; i < g->first_tensor + g->n_tensors; i++) {
        const adaopt_tensor *t = &opt->tensors[i];
        if (t->step > 0 || t->master_ready)
            return 1;
        for (int k = 0; k < ADAOPT_MAX_SLOTS; k++)
            if (t->slot_ready[k])
                return 1;
    }
    return 0;
}

/* Group gi's state arrays and master weights remade, zero, for hyperparameters hp (before its
 * first step).  All or nothing: the new arrays are made aside and swapped in at the end. */
static adaopt_status restructure(adaopt_optimizer *opt, size_t gi, const double *hp)
{
    adaopt_group g = opt->groups[gi];
    memcpy(g.hp, hp, sizeof g.hp);
    adaopt_tensor *fresh = calloc(g.n_tensors, sizeof *fresh);
    if (fresh == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory remaking group %zu's state", gi);
    unsigned mask = adaopt__slots_needed(opt->algorithm, hp);
    int update = (int)hp[ADAOPT_PARAM_UPDATE];
    int want_master = g.param_dtype != ADAOPT_DTYPE_F32 &&
                      (update == ADAOPT_UPDATE_MASTER || update == ADAOPT_UPDATE_MASTER_SR);
    int failed = 0;
    for (size_t j = 0; j < g.n_tensors && !failed; j++) {
        adaopt_tensor *t = &fresh[j];
        t->numel = opt->tensors[g.first_tensor + j].numel;
        t->storage = adaopt__storage_for(&g, t->numel);
        for (int k = 0; k < ADAOPT_MAX_SLOTS && !failed; k++)
            if (mask & (1u << k))
                failed = adaopt__alloc_slot(t, k, t->storage) != 0;
        if (!failed && want_master)
            failed = (t->master = adaopt__alloc_state(t->numel)) == NULL;
    }
    if (!failed && hp[ADAOPT_STATE_STORAGE] == ADAOPT_STORAGE_8BIT)
        failed = adaopt__ensure_qtables(opt) != 0;
    if (failed) {
        for (size_t j = 0; j < g.n_tensors; j++)
            adaopt__free_tensor_state(&fresh[j]);
        free(fresh);
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory remaking group %zu's state", gi);
    }
    for (size_t j = 0; j < g.n_tensors; j++) {
        adaopt_tensor *t = &opt->tensors[g.first_tensor + j];
        adaopt__free_tensor_state(t);
        memcpy(t->slot, fresh[j].slot, sizeof t->slot);
        memcpy(t->packed, fresh[j].packed, sizeof t->packed);
        memcpy(t->absmax, fresh[j].absmax, sizeof t->absmax);
        t->master = fresh[j].master;
        t->storage = fresh[j].storage;
    }
    free(fresh);
    return ADAOPT_OK;
}

adaopt_status adaopt__set_many(adaopt_optimizer *opt, size_t first, size_t count,
                               const adaopt_option *options, const double *values, size_t n)
{
    for (size_t gi = first; gi < first + count; gi++) {
        adaopt_group *g = &opt->groups[gi];
        double hp[ADAOPT_OPTION_MAX + 1];
        memcpy(hp, g->hp, sizeof hp);
        int restructured = 0;
        for (size_t k = 0; k < n; k++) {
            restructured |= is_structural(options[k]) && hp[options[k]] != values[k];
            hp[options[k]] = values[k];
        }
        adaopt_status st = check_combination(opt, gi, hp);
        if (st != ADAOPT_OK)
            return st;
        if (restructured && group_has_state(opt, gi))
            return adaopt__fail(opt, ADAOPT_ERR_STATE,
                                "group %zu has taken steps (or was given state): param_update, "
                                "state_storage and min_8bit_numel are set before its first step",
                                gi);
    }
    /* Remaking storage is all or nothing per group; a later group's failure leaves earlier
     * groups remade, but zero and unused, exactly as they were in value. */
    for (size_t gi = first; gi < first + count; gi++) {
        adaopt_group *g = &opt->groups[gi];
        double hp[ADAOPT_OPTION_MAX + 1];
        memcpy(hp, g->hp, sizeof hp);
        int restructured = 0;
        for (size_t k = 0; k < n; k++) {
            restructured |= is_structural(options[k]) && hp[options[k]] != values[k];
            hp[options[k]] = values[k];
        }
        adaopt_status st = restructured ? restructure(opt, gi, hp)
                                        : grow_slots(opt, g->first_tensor, g->n_tensors,
                                                     adaopt__slots_needed(opt->algorithm, hp));
        if (st != ADAOPT_OK)
            return st;
    }
    for (size_t gi = first; gi < first + count; gi++)
        for (size_t k = 0; k < n; k++)
            opt->groups[gi].hp[options[k]] = values[k];
    return ADAOPT_OK;
}

adaopt_status adaopt_set(adaopt_optimizer *opt, size_t group, adaopt_option option, double value)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (group != ADAOPT_ALL_GROUPS && group >= opt->n_groups)
        return adaopt__fail(opt, ADAOPT_ERR_INDEX, "group %zu out of range (%zu groups)", group,
                            opt->n_groups);
    adaopt_status st = adaopt__check_value(opt, opt->algorithm, option, value);
    if (st != ADAOPT_OK)
        return st;
    if (is_structural(option)) /* remakes storage; checks the combination */
        return group == ADAOPT_ALL_GROUPS ? adaopt__set_many(opt, 0, opt->n_groups, &option, &value, 1)
                                          : adaopt__set_many(opt, group, 1, &option, &value, 1);
    if (group == ADAOPT_ALL_GROUPS)
        return set_groups(opt, 0, opt->n_groups, option, value);
    return set_groups(opt, group, 1, option, value);
}

adaopt_status adaopt_get(const adaopt_optimizer *opt, size_t group, adaopt_option option,
                         double *value)
{
    adaopt_optimizer *o = (adaopt_optimizer *)opt; /* only its error buffer is written */
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (value == NULL)
        return adaopt__fail(o, ADAOPT_ERR_NULL, "get: value must not be NULL");
    if (group >= opt->n_groups)
        return adaopt__fail(o, ADAOPT_ERR_INDEX, "group %zu out of range (%zu groups)", group,
                            opt->n_groups);
    if (option < ADAOPT_LR || option > ADAOPT_OPTION_MAX)
        return adaopt__fail(o, ADAOPT_ERR_OPTION, "unknown option %d", (int)option);
    if (!adaopt__option_applies(opt->algorithm, option))
        return adaopt__fail(o, ADAOPT_ERR_OPTION, "%s has no option '%s'",
                            adaopt_algorithm_name(opt->algorithm), adaopt_option_name(option));
    *value = opt->groups[group].hp[option];
    return ADAOPT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The step                                                                                    */

/* Every per-step scalar of one tensor at step t (t >= 1), in double.  `mu_product_before` is
 * NAdam's P_{t-1}. */
typedef struct step_scalars {
    double lr, clr, bc1, bc2, step_size;
    double mu, mu_next, mu_product; /* NAdam: mu_t, mu_{t+1}, P_t */
    double grad_coef, avg_coef;     /* NAdam: lr(1-mu_t)/(1-P_t), lr mu_next/(1-P_t mu_next) */
    double rho_t, rect;             /* RAdam */
    int rectified;
} step_scalars;

static step_scalars step_scalars_at(adaopt_algorithm algorithm, const double *hp, uint64_t t,
                                    double mu_product_before)
{
    step_scalars s;
    memset(&s, 0, sizeof s);
    double td = (double)t;
    s.lr = hp[ADAOPT_LR];
    if (algorithm == ADAOPT_ALGO_ADAGRAD)
        s.clr = s.lr / (1.0 + (td - 1.0) * hp[ADAOPT_LR_DECAY]);
    if (algorithm < ADAOPT_ALGO_ADAM)
        return s;
    double beta1 = hp[ADAOPT_BETA1], beta2 = hp[ADAOPT_BETA2];
    s.bc1 = 1.0 - pow(beta1, td);
    s.bc2 = 1.0 - pow(beta2, td);
    s.step_size = s.lr / s.bc1;
    if (algorithm == ADAOPT_ALGO_NADAM) {
        double md = hp[ADAOPT_MOMENTUM_DECAY];
        s.mu = beta1 * (1.0 - 0.5 * pow(0.96, td * md));
        s.mu_next = beta1 * (1.0 - 0.5 * pow(0.96, (td + 1.0) * md));
        s.mu_product = mu_product_before * s.mu;
        s.grad_coef = s.lr * (1.0 - s.mu) / (1.0 - s.mu_product);
        s.avg_coef = s.lr * s.mu_next / (1.0 - s.mu_product * s.mu_next);
    }
    if (algorithm == ADAOPT_ALGO_RADAM) {
        double rho_inf = 2.0 / (1.0 - beta2) - 1.0;
        s.rho_t = rho_inf - 2.0 * td * pow(beta2, td) / s.bc2;
        s.rectified = s.rho_t > 5.0;
        if (s.rectified)
            s.rect = sqrt((s.rho_t - 4.0) * (s.rho_t - 2.0) * rho_inf /
                          ((rho_inf - 4.0) * (rho_inf - 2.0) * s.rho_t));
    }
    return s;
}

/* Rounds the step's scalars to the float coefficients the kernels use. */
static void fill_coeffs(adaopt_coeffs *c, adaopt_algorithm algorithm, const double *hp,
                        const step_scalars *s, int buffer_ready)
{
    memset(c, 0, sizeof *c);
    double wd = hp[ADAOPT_WEIGHT_DECAY];
    int decoupled = algorithm == ADAOPT_ALGO_ADAMW ||
                    ((algorithm == ADAOPT_ALGO_NADAM || algorithm == ADAOPT_ALGO_RADAM) &&
                     hp[ADAOPT_DECOUPLED_WEIGHT_DECAY] != 0.0);
    c->maximize = hp[ADAOPT_MAXIMIZE] != 0.0;
    c->decoupled = decoupled && wd != 0.0;
    c->decay_factor = (float)(1.0 - s->lr * wd);
    c->weight_decay = decoupled ? 0.0f : (float)wd;
    c->eps = (float)hp[ADAOPT_EPS];
    c->eps_mode = (int)hp[ADAOPT_EPS_MODE];
    c->lr = (float)s->lr;
    c->neg_lr = (float)-s->lr;
    switch (algorithm) {
    case ADAOPT_ALGO_SGD:
        c->momentum = (float)hp[ADAOPT_MOMENTUM];
        c->one_minus_dampening = (float)(1.0 - hp[ADAOPT_DAMPENING]);
        c->nesterov = hp[ADAOPT_NESTEROV] != 0.0;
        c->use_momentum = hp[ADAOPT_MOMENTUM] != 0.0;
        c->buffer_is_new = !buffer_ready;
        break;
    case ADAOPT_ALGO_ADAGRAD:
        c->neg_clr = (float)-s->clr;
        break;
    case ADAOPT_ALGO_RMSPROP:
        c->alpha = (float)hp[ADAOPT_ALPHA];
        c->one_minus_alpha = (float)(1.0 - hp[ADAOPT_ALPHA]);
        c->momentum = (float)hp[ADAOPT_MOMENTUM];
        c->use_momentum = hp[ADAOPT_MOMENTUM] > 0.0;
        c->centered = hp[ADAOPT_CENTERED] != 0.0;
        break;
    default: /* Adam family */
        c->beta1 = (float)hp[ADAOPT_BETA1];
        c->one_minus_beta1 = (float)(1.0 - hp[ADAOPT_BETA1]);
        c->beta2 = (float)hp[ADAOPT_BETA2];
        c->one_minus_beta2 = (float)(1.0 - hp[ADAOPT_BETA2]);
        c->bc1 = (float)s->bc1;
        c->bc2 = (float)s->bc2;
        c->bc2_sqrt = (float)sqrt(s->bc2);
        c->amsgrad = hp[ADAOPT_AMSGRAD] != 0.0;
        c->lr_f = (float)s->lr;
        if (algorithm == ADAOPT_ALGO_ADAMAX)
            c->eps_mode = ADAOPT_EPS_OUTSIDE;
        {
            /* HAT folds sqrt(bc2) into the scalar: lr sqrt(bc2)/bc1 * m / (sqrt(v) + eps) */
            double hat = c->eps_mode == ADAOPT_EPS_HAT ? sqrt(s->bc2) : 1.0;
            c->neg_step_size = (float)(-s->step_size * hat);
            c->neg_grad_coef = (float)(-s->grad_coef * hat);
            c->neg_avg_coef = (float)(-s->avg_coef * hat);
        }
        c->rectified = s->rectified;
        c->rect = (float)s->rect;
        break;
    }
}

/* Option combinations that are each valid but not together; checked before a step writes. */
static adaopt_status check_combination(adaopt_optimizer *opt, size_t gi, const double *hp)
{
    if (opt->groups[gi].param_dtype == ADAOPT_DTYPE_F32 &&
        hp[ADAOPT_PARAM_UPDATE] != ADAOPT_UPDATE_MASTER)
        return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                            "group %zu holds float32 parameters: param_update applies to bf16 "
                            "and fp16 groups only", gi);
    if (opt->algorithm == ADAOPT_ALGO_SGD && hp[ADAOPT_NESTEROV] != 0.0 &&
        (hp[ADAOPT_MOMENTUM] <= 0.0 || hp[ADAOPT_DAMPENING] != 0.0))
        return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                            "group %zu: nesterov requires momentum > 0 and dampening = 0 "
                            "(momentum %g, dampening %g)",
                            gi, hp[ADAOPT_MOMENTUM], hp[ADAOPT_DAMPENING]);
    return ADAOPT_OK;
}

static adaopt_status check_group(adaopt_optimizer *opt, size_t gi)
{
    return check_combination(opt, gi, opt->groups[gi].hp);
}

/* Is tensor i's gradient the sparse one? */
static int is_sparse(const adaopt_sparse_grad *sparse, size_t i)
{
    return sparse != NULL && (sparse[i].indices != NULL || sparse[i].values != NULL);
}

static int decoupled_decay(adaopt_algorithm algorithm, const double *hp)
{
    return algorithm == ADAOPT_ALGO_ADAMW ||
           ((algorithm == ADAOPT_ALGO_NADAM || algorithm == ADAOPT_ALGO_RADAM) &&
            hp[ADAOPT_DECOUPLED_WEIGHT_DECAY] != 0.0);
}

/* Everything about tensor i's sparse gradient that could fail, before anything is written. */
static adaopt_status check_sparse(adaopt_optimizer *opt, size_t i, const adaopt_sparse_grad *sg)
{
    const adaopt_tensor *t = &opt->tensors[i];
    const double *hp = opt->groups[t->group].hp;
    if (hp[ADAOPT_WEIGHT_DECAY] != 0.0 && !decoupled_decay(opt->algorithm, hp))
        return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                            "tensor %zu: weight_decay (coupled) is not compatible with sparse "
                            "gradients", i);
    if (opt->algorithm == ADAOPT_ALGO_SGD && hp[ADAOPT_MOMENTUM] != 0.0)
        return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                            "tensor %zu: SGD momentum is not supported with sparse gradients "
                            "(every row would move)", i);
    if (sg->row_len == 0 || t->numel % sg->row_len != 0)
        return adaopt__fail(opt, ADAOPT_ERR_SIZE,
                            "tensor %zu: row_len %zu does not divide its %zu elements", i,
                            sg->row_len, t->numel);
    if (sg->n_indices > 0 && (sg->indices == NULL || sg->values == NULL))
        return adaopt__fail(opt, ADAOPT_ERR_NULL, "tensor %zu: sparse indices or values are NULL",
                            i);
    size_t rows = t->numel / sg->row_len;
    if (sg->n_indices > opt->sparse.max_indices || sg->row_len > opt->sparse.max_row_len ||
        rows > opt->sparse.max_rows)
        return adaopt__fail(opt, ADAOPT_ERR_SIZE,
                            "tensor %zu: the sparse workspace is too small: call "
                            "adaopt_reserve_sparse(opt, %zu, %zu, %zu) first", i, sg->n_indices,
                            sg->row_len, rows);
    for (size_t k = 0; k < sg->n_indices; k++)
        if (sg->indices[k] < 0 || (uint64_t)sg->indices[k] >= rows)
            return adaopt__fail(opt, ADAOPT_ERR_INDEX,
                                "tensor %zu: row index %lld at position %zu is outside [0, %zu)",
                                i, (long long)sg->indices[k], k, rows);
    return ADAOPT_OK;
}

/* Applies tensor i's row-sparse gradient: repeated rows are summed in the order given, then the
 * tensor's kernel runs on each distinct row (rows are independent: the kernel is element-wise,
 * so any split of the rows among threads gives the same bits).  O(n_indices * row_len), nothing
 * proportional to the table. */
static void sparse_update(adaopt_optimizer *opt, size_t i, float *p, const adaopt_sparse_grad *sg)
{
    const size_t none = SIZE_MAX, len = sg->row_len;
    adaopt_tensor *t = &opt->tensors[i];
    uint64_t stamp = ++opt->sparse.stamp;
    size_t n_distinct = 0;
    size_t *next = opt->sparse.next, *first = opt->sparse.row_first, *last = opt->sparse.row_last;
    for (size_t k = 0; k < sg->n_indices; k++) {
        size_t r = (size_t)sg->indices[k];
        next[k] = none;
        if (opt->sparse.row_stamp[r] != stamp) {
            opt->sparse.row_stamp[r] = stamp;
            first[r] = last[r] = k;
            opt->sparse.distinct[n_distinct++] = r;
        } else {
            next[last[r]] = k;
            last[r] = k;
        }
    }
    adaopt_kernel_fn kernel = opt->kernels->by_algorithm[opt->algorithm];
    const adaopt_coeffs *c = &opt->coeffs[i];
    const size_t *distinct = opt->sparse.distinct;
    float *row_sums = opt->sparse.row_sum;
    float *s0 = t->slot[0], *s1 = t->slot[1], *s2 = t->slot[2];
    const float *values = sg->values;
    long n_rows = (long)n_distinct;
    int threads = (int)(opt->threads < opt->sparse.threads ? opt->threads : opt->sparse.threads);
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && n_distinct * len >= 2 * ADAOPT_CHUNK_ELEMS)
#endif
    for (long u = 0; u < n_rows; u++) {
#ifdef _OPENMP
        float *sum = row_sums + (size_t)omp_get_thread_num() * opt->sparse.max_row_len;
#else
        float *sum = row_sums;
#endif
        size_t r = distinct[u], k = first[r];
        const float *row = values + k * len;
        if (next[k] != none) { /* coalesce: sum the repeats in order */
            memcpy(sum, row, len * sizeof *sum);
            for (k = next[k]; k != none; k = next[k])
                for (size_t e = 0; e < len; e++)
                    sum[e] += values[k * len + e];
            row = sum;
        }
        size_t b = r * len;
        kernel(c, p + b, row, s0 ? s0 + b : NULL, s1 ? s1 + b : NULL, s2 ? s2 + b : NULL, len);
    }
}

adaopt_status adaopt_reserve_sparse(adaopt_optimizer *opt, size_t max_indices, size_t max_row_len,
                                    size_t max_rows)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    size_t want_i = max_indices > opt->sparse.max_indices ? max_indices : opt->sparse.max_indices;
    size_t want_l = max_row_len > opt->sparse.max_row_len ? max_row_len : opt->sparse.max_row_len;
    size_t want_r = max_rows > opt->sparse.max_rows ? max_rows : opt->sparse.max_rows;
    if (want_i == opt->sparse.max_indices && want_l == opt->sparse.max_row_len &&
        want_r == opt->sparse.max_rows)
        return ADAOPT_OK;
    if (want_i > SIZE_MAX / 16 || want_l > SIZE_MAX / 16 / 4096 || want_r > SIZE_MAX / 16)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "reserve_sparse: sizes too large");
    /* All new arrays first, so that a failure leaves the old workspace as it was. */
    uint64_t *stamp = calloc(want_r ? want_r : 1, sizeof *stamp);
    size_t *first = malloc((want_r ? want_r : 1) * sizeof *first);
    size_t *last = malloc((want_r ? want_r : 1) * sizeof *last);
    size_t *next = malloc((want_i ? want_i : 1) * sizeof *next);
    size_t *distinct = malloc((want_i ? want_i : 1) * sizeof *distinct);
    size_t copies = default_threads(); /* one row of sums per thread */
    if (opt->threads > copies)
        copies = opt->threads;
    float *row_sum = malloc((want_l ? want_l : 1) * copies * sizeof *row_sum);
    if (!stamp || !first || !last || !next || !distinct || !row_sum) {
        free(stamp);
        free(first);
        free(last);
        free(next);
        free(distinct);
        free(row_sum);
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC,
                            "out of memory reserving a sparse workspace (%zu indices, rows of "
                            "%zu, %zu rows)", want_i, want_l, want_r);
    }
    free(opt->sparse.row_stamp);
    free(opt->sparse.row_first);
    free(opt->sparse.row_last);
    free(opt->sparse.next);
    free(opt->sparse.distinct);
    free(opt->sparse.row_sum);
    opt->sparse.row_stamp = stamp; /* zero: older than any stamp a step uses (>= 1) */
    opt->sparse.row_first = first;
    opt->sparse.row_last = last;
    opt->sparse.next = next;
    opt->sparse.distinct = distinct;
    opt->sparse.row_sum = row_sum;
    opt->sparse.max_indices = want_i;
    opt->sparse.max_row_len = want_l;
    opt->sparse.max_rows = want_r;
    opt->sparse.threads = copies;
    return ADAOPT_OK;
}

/* 1 if any of the n floats is NaN or infinite (exponent all ones): an integer OR that vectorizes. */
static int any_nonfinite(const float *x, size_t n)
{
    uint32_t found = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        found |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    return found != 0;
}

/* Reads every gradient of this step once: the cost of the SKIP / ERROR policies when no earlier
 * pass reported (measured by adaopt-bench-safety). */
/* The same for n 16-bit floats whose exponent field is `mask` (bf16 0x7f80, fp16 0x7c00). */
static int any_nonfinite16(const uint16_t *x, size_t n, uint16_t mask)
{
    uint32_t found = 0;
    for (size_t i = 0; i < n; i++)
        found |= (x[i] & mask) == mask;
    return found != 0;
}

static int grad_nonfinite(const adaopt_optimizer *opt, size_t tensor, const void *grad,
                          size_t begin, size_t count)
{
    int dtype = opt->groups[opt->tensors[tensor].group].grad_dtype;
    if (dtype == ADAOPT_DTYPE_F32)
        return any_nonfinite((const float *)grad + begin, count);
    return any_nonfinite16((const uint16_t *)grad + begin, count,
                           dtype == ADAOPT_DTYPE_BF16 ? 0x7f80u : 0x7c00u);
}

static int scan_nonfinite(const adaopt_optimizer *opt, const void *const *grads,
                          const adaopt_sparse_grad *sparse)
{
    int found = 0;
    long n_chunks = (long)opt->n_chunks;
    const adaopt_chunk *chunks = opt->chunks;
    int threads = (int)opt->threads;
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) reduction(|:found) if (threads > 1 && n_chunks > 2)
#endif
    for (long k = 0; k < n_chunks; k++) {
        const adaopt_chunk *ch = &chunks[k];
        if (grads[ch->tensor] != NULL)
            found |= grad_nonfinite(opt, ch->tensor, grads[ch->tensor], ch->begin,
                                    ch->end - ch->begin);
    }
    for (size_t i = 0; i < opt->n_tensors && !found; i++)
        if (is_sparse(sparse, i) && sparse[i].n_indices > 0)
            found |= any_nonfinite(sparse[i].values, sparse[i].n_indices * sparse[i].row_len);
    return found;
}

adaopt_status adaopt_step(adaopt_optimizer *opt, float *const *params, const float *const *grads,
                          size_t n_tensors)
{
    return adaopt_step_sparse(opt, params, grads, NULL, n_tensors);
}

adaopt_status adaopt_step_flat(adaopt_optimizer *opt, float *params, const float *grads)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (params == NULL || grads == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_NULL, "step_flat: params and grads must not be NULL");
    if (opt->n_tensors == 0)
        return adaopt__fail(opt, ADAOPT_ERR_SIZE, "step_flat: the optimizer has no tensors");
    size_t offset = 0;
    for (size_t i = 0; i < opt->n_tensors; i++) {
        opt->flat_params[i] = params + offset;
        opt->flat_grads[i] = grads + offset;
        offset += opt->tensors[i].numel;
    }
    return adaopt_step_sparse(opt, opt->flat_params, opt->flat_grads, NULL, opt->n_tensors);
}

static adaopt_status step_impl(adaopt_optimizer *opt, void *const *params,
                               const void *const *grads, const adaopt_sparse_grad *sparse,
                               size_t n_tensors, int typed);

adaopt_status adaopt_step_sparse(adaopt_optimizer *opt, float *const *params,
                                 const float *const *grads, const adaopt_sparse_grad *sparse,
                                 size_t n_tensors)
{
    return step_impl(opt, (void *const *)params, (const void *const *)grads, sparse, n_tensors, 0);
}

adaopt_status adaopt_step_typed(adaopt_optimizer *opt, void *const *params,
                                const void *const *grads, size_t n_tensors)
{
    return step_impl(opt, params, grads, NULL, n_tensors, 1);
}

static adaopt_status step_impl(adaopt_optimizer *opt, void *const *params,
                               const void *const *grads, const adaopt_sparse_grad *sparse,
                               size_t n_tensors, int typed)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    int hint = opt->hint;
    opt->hint = -1; /* a hint is for one step, whatever happens to it */
    float factor = opt->grad_factor;
    int scaled = opt->grad_factor_set;
    opt->grad_factor_set = 0; /* and so is a gradient factor */
    opt->last_skipped = 0;
    if (params == NULL || grads == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_NULL, "step: params and grads must not be NULL");
    if (n_tensors != opt->n_tensors)
        return adaopt__fail(opt, ADAOPT_ERR_SIZE, "step: got %zu tensors, the optimizer has %zu",
                            n_tensors, opt->n_tensors);
    for (size_t gi = 0; gi < opt->n_groups; gi++) {
        adaopt_status st = check_group(opt, gi);
        if (st != ADAOPT_OK)
            return st;
        const adaopt_group *g = &opt->groups[gi];
        if (!typed && (g->param_dtype != ADAOPT_DTYPE_F32 || g->grad_dtype != ADAOPT_DTYPE_F32))
            return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                                "step: group %zu holds %s parameters and %s gradients: step it "
                                "with adaopt_step_typed", gi,
                                adaopt_dtype_name((adaopt_dtype)g->param_dtype),
                                adaopt_dtype_name((adaopt_dtype)g->grad_dtype));
        if (sparse != NULL && scaled)
            for (size_t i = g->first_tensor; i < g->first_tensor + g->n_tensors; i++)
                if (is_sparse(sparse, i))
                    return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                                        "step: tensor %zu has a sparse gradient, which "
                                        "adaopt_scale_next_grads does not apply to", i);
        if (sparse != NULL && adaopt__group_is_lowp(g))
            for (size_t i = g->first_tensor; i < g->first_tensor + g->n_tensors; i++)
                if (is_sparse(sparse, i))
                    return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                                        "step: tensor %zu has a sparse gradient, but group %zu "
                                        "has low-precision types or state, which sparse steps "
                                        "do not support yet", i, gi);
    }
    for (size_t i = 0; i < n_tensors; i++) {
        int has_sparse = is_sparse(sparse, i);
        if (has_sparse && grads[i] != NULL)
            return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                                "step: tensor %zu has both a dense and a sparse gradient", i);
        if ((grads[i] != NULL || has_sparse) && params[i] == NULL)
            return adaopt__fail(opt, ADAOPT_ERR_NULL,
                                "step: tensor %zu has a gradient but its parameter is NULL", i);
        if (has_sparse) {
            adaopt_status st = check_sparse(opt, i, &sparse[i]);
            if (st != ADAOPT_OK)
                return st;
        }
    }
    if (opt->nonfinite_policy != ADAOPT_NONFINITE_PROPAGATE &&
        (hint >= 0 ? hint : scan_nonfinite(opt, grads, sparse))) {
        if (opt->nonfinite_policy == ADAOPT_NONFINITE_ERROR)
            return adaopt__fail(opt, ADAOPT_ERR_NONFINITE,
                                "step: a gradient holds a NaN or an infinity; nothing was changed");
        opt->last_skipped = 1;
        opt->steps_skipped++;
        return ADAOPT_OK;
    }

    /* Serial: the per-tensor scalars (and AdaGrad's first-step fill).  Tensors of one group at
     * the same step share their scalars, so a list of many small tensors costs little here. */
    const adaopt_coeffs *prev = NULL;
    size_t prev_group = 0;
    uint64_t prev_step = 0;
    int prev_ready = 0;
    size_t work = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        int sparse_i = is_sparse(sparse, i);
        if (grads[i] == NULL && !sparse_i)
            continue;
        adaopt_tensor *t = &opt->tensors[i];
        const double *hp = opt->groups[t->group].hp;
        if (t->step == 0 && opt->algorithm == ADAOPT_ALGO_ADAGRAD && !t->slot_ready[0] &&
            hp[ADAOPT_INITIAL_ACCUMULATOR_VALUE] != 0.0) /* born zero, unless set_state gave it */
            adaopt__fill_slot(opt, t, 0, (float)hp[ADAOPT_INITIAL_ACCUMULATOR_VALUE]);
        if (!sparse_i && prev != NULL && prev_group == t->group && prev_step == t->step &&
            prev_ready == t->slot_ready[0] && opt->algorithm != ADAOPT_ALGO_NADAM) {
            opt->coeffs[i] = *prev;
        } else {
            double hp_sparse[ADAOPT_OPTION_MAX + 1];
            if (sparse_i && opt->algorithm >= ADAOPT_ALGO_ADAM) {
                /* lazy Adam family: SparseAdam's eps placement */
                memcpy(hp_sparse, hp, sizeof hp_sparse);
                hp_sparse[ADAOPT_EPS_MODE] = ADAOPT_EPS_HAT;
                hp = hp_sparse;
            }
            step_scalars s = step_scalars_at(opt->algorithm, hp, t->step + 1, t->mu_product);
            fill_coeffs(&opt->coeffs[i], opt->algorithm, hp, &s, t->slot_ready[0]);
            if (opt->algorithm == ADAOPT_ALGO_NADAM)
                t->mu_product = s.mu_product; /* P_t; the kernel only reads coeffs */
            if (sparse_i) {
                prev = NULL; /* do not share a sparse tensor's (hat) scalars */
                continue;
            }
        }
        prev = &opt->coeffs[i];
        prev_group = t->group;
        prev_step = t->step;
        prev_ready = t->slot_ready[0];
        work += t->numel;
    }

    /* Parallel: every chunk of every tensor that has a gradient.  Element-wise work on fixed
     * chunk boundaries with bit-identical kernels: the result does not depend on the threads. */
    adaopt_kernel_fn kernel = opt->kernels->by_algorithm[opt->algorithm];
    const adaopt_chunk *chunks = opt->chunks;
    const adaopt_tensor *tensors = opt->tensors;
    const adaopt_coeffs *coeffs = opt->coeffs;
    long n_chunks = (long)opt->n_chunks;
    int threads = (int)opt->threads;
    (void)threads;
    (void)work;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && work >= 2 * ADAOPT_CHUNK_ELEMS)
#endif
    for (long k = 0; k < n_chunks; k++) {
        const adaopt_chunk *ch = &chunks[k];
        if (grads[ch->tensor] == NULL)
            continue;
        const adaopt_tensor *t = &tensors[ch->tensor];
        size_t b = ch->begin;
        if (scaled || adaopt__group_is_lowp(&opt->groups[t->group])) {
            uint32_t seed = adaopt__noise_seed(opt->rounding_seed, ch->tensor, t->step + 1);
            adaopt__step_staged(opt, ch->tensor, params[ch->tensor], grads[ch->tensor], b,
                                ch->end, seed, scaled ? &factor : NULL);
            continue;
        }
        float *s0 = t->slot[0] ? t->slot[0] + b : NULL;
        float *s1 = t->slot[1] ? t->slot[1] + b : NULL;
        float *s2 = t->slot[2] ? t->slot[2] + b : NULL;
        kernel(&coeffs[ch->tensor], (float *)params[ch->tensor] + b,
               (const float *)grads[ch->tensor] + b, s0, s1, s2, ch->end - b);
    }

    for (size_t i = 0; i < n_tensors; i++)
        if (is_sparse(sparse, i))
            sparse_update(opt, i, (float *)params[i], &sparse[i]);

    for (size_t i = 0; i < n_tensors; i++) {
        if (grads[i] == NULL && !is_sparse(sparse, i))
            continue;
        adaopt_tensor *t = &opt->tensors[i];
        t->step++;
        if (t->master != NULL)
            t->master_ready = 1;
        if (opt->algorithm == ADAOPT_ALGO_SGD && opt->coeffs[i].use_momentum)
            t->slot_ready[0] = 1;
    }
    opt->steps_taken++;
    return ADAOPT_OK;
}

adaopt_status adaopt_set_nonfinite_policy(adaopt_optimizer *opt, adaopt_nonfinite_policy policy)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (policy != ADAOPT_NONFINITE_PROPAGATE && policy != ADAOPT_NONFINITE_SKIP &&
        policy != ADAOPT_NONFINITE_ERROR)
        return adaopt__fail(opt, ADAOPT_ERR_VALUE, "unknown non-finite policy %d", (int)policy);
    opt->nonfinite_policy = policy;
    return ADAOPT_OK;
}

adaopt_nonfinite_policy adaopt_get_nonfinite_policy(const adaopt_optimizer *opt)
{
    return opt == NULL ? ADAOPT_NONFINITE_PROPAGATE : (adaopt_nonfinite_policy)opt->nonfinite_policy;
}

adaopt_status adaopt_hint_nonfinite(adaopt_optimizer *opt, int found)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (found != 0 && found != 1)
        return adaopt__fail(opt, ADAOPT_ERR_VALUE, "hint_nonfinite: found is 0 or 1 (got %d)", found);
    opt->hint = found;
    return ADAOPT_OK;
}

uint64_t adaopt_steps_taken(const adaopt_optimizer *opt)
{
    return opt == NULL ? 0 : opt->steps_taken;
}

uint64_t adaopt_steps_skipped(const adaopt_optimizer *opt)
{
    return opt == NULL ? 0 : opt->steps_skipped;
}

int adaopt_last_step_skipped(const adaopt_optimizer *opt)
{
    return opt == NULL ? 0 : opt->last_skipped;
}

adaopt_status adaopt_set_isa(adaopt_optimizer *opt, adaopt_isa isa)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    int chosen = isa == ADAOPT_ISA_AUTO ? adaopt__best_isa() : (int)isa;
    const adaopt_kernel_table *table = adaopt__kernel_table(chosen);
    if (table == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_VALUE, "kernels '%s' are not supported here",
                            adaopt_isa_name(isa) ? adaopt_isa_name(isa) : "?");
    opt->isa = chosen;
    opt->kernels = table;
    return ADAOPT_OK;
}

adaopt_isa adaopt_get_isa(const adaopt_optimizer *opt)
{
    return opt == NULL ? ADAOPT_ISA_AUTO : (adaopt_isa)opt->isa;
}

adaopt_status adaopt_set_threads(adaopt_optimizer *opt, size_t threads)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
#ifndef _OPENMP
    if (threads > 1)
        return adaopt__fail(opt, ADAOPT_ERR_VALUE, "built without OpenMP: threads must be 0 or 1");
#endif
    if (threads > 4096)
        return adaopt__fail(opt, ADAOPT_ERR_VALUE, "threads must be <= 4096 (got %zu)", threads);
    opt->threads = threads == 0 ? default_threads() : threads;
    return ADAOPT_OK;
}

size_t adaopt_get_threads(const adaopt_optimizer *opt)
{
    return opt == NULL ? 0 : opt->threads;
}

/* ------------------------------------------------------------------------------------------ */
/* Inspection                                                                                  */

const char *adaopt_state_name(adaopt_state_kind kind)
{
    static const char *const names[] = {
        [ADAOPT_STATE_STEP] = "step",
        [ADAOPT_STATE_MU_PRODUCT] = "mu_product",
        [ADAOPT_STATE_MOMENTUM_BUFFER] = "momentum_buffer",
        [ADAOPT_STATE_SUM] = "sum",
        [ADAOPT_STATE_SQUARE_AVG] = "square_avg",
        [ADAOPT_STATE_GRAD_AVG] = "grad_avg",
        [ADAOPT_STATE_EXP_AVG] = "exp_avg",
        [ADAOPT_STATE_EXP_AVG_SQ] = "exp_avg_sq",
        [ADAOPT_STATE_MAX_EXP_AVG_SQ] = "max_exp_avg_sq",
        [ADAOPT_STATE_EXP_INF] = "exp_inf",
        [ADAOPT_STATE_MASTER] = "master",
    };
    return kind >= ADAOPT_STATE_STEP && kind <= ADAOPT_STATE_MASTER ? names[kind] : NULL;
}

static adaopt_status check_tensor(const adaopt_optimizer *opt, size_t tensor)
{
    if (tensor >= opt->n_tensors)
        return adaopt__fail((adaopt_optimizer *)opt, ADAOPT_ERR_INDEX,
                            "tensor %zu out of range (%zu tensors)", tensor, opt->n_tensors);
    return ADAOPT_OK;
}

adaopt_status adaopt_state(const adaopt_optimizer *opt, size_t tensor, adaopt_state_kind kind,
                           const float **data, size_t *numel)
{
    adaopt_optimizer *o = (adaopt_optimizer *)opt; /* only its error buffer is written */
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (data == NULL)
        return adaopt__fail(o, ADAOPT_ERR_NULL, "state: data must not be NULL");
    adaopt_status st = check_tensor(opt, tensor);
    if (st != ADAOPT_OK)
        return st;
    if (kind == ADAOPT_STATE_MASTER) {
        const adaopt_tensor *m = &opt->tensors[tensor];
        if (m->master == NULL)
            return adaopt__fail(o, ADAOPT_ERR_OPTION, "tensor %zu has no master weights (float32 "
                                "parameters, or an update without them)", tensor);
        if (!m->master_ready)
            return adaopt__fail(o, ADAOPT_ERR_STATE, "tensor %zu has no 'master' yet", tensor);
        *data = m->master;
        if (numel != NULL)
            *numel = m->numel;
        return ADAOPT_OK;
    }
    int s = adaopt__slot_of_state(opt->algorithm, kind);
    if (s < 0)
        return adaopt__fail(o, ADAOPT_ERR_OPTION, "%s has no array state '%s'",
                            adaopt_algorithm_name(opt->algorithm),
                            adaopt_state_name(kind) ? adaopt_state_name(kind) : "?");
    adaopt_tensor *t = &o->tensors[tensor];
    int exists = t->step > 0 && adaopt__has_slot(t, s) &&
                 (opt->algorithm != ADAOPT_ALGO_SGD || t->slot_ready[s]);
    if (!exists)
        return adaopt__fail(o, ADAOPT_ERR_STATE, "tensor %zu has no '%s' yet", tensor,
                            adaopt_state_name(kind));
    const float *values = adaopt__slot_floats(opt, t, s); /* decoded, if packed */
    if (values == NULL)
        return adaopt__fail(o, ADAOPT_ERR_ALLOC, "state: out of memory decoding '%s'",
                            adaopt_state_name(kind));
    *data = values;
    if (numel != NULL)
        *numel = t->numel;
    return ADAOPT_OK;
}

adaopt_status adaopt_state_scalar(const adaopt_optimizer *opt, size_t tensor,
                                  adaopt_state_kind kind, double *value)
{
    adaopt_optimizer *o = (adaopt_optimizer *)opt;
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (value == NULL)
        return adaopt__fail(o, ADAOPT_ERR_NULL, "state_scalar: value must not be NULL");
    adaopt_status st = check_tensor(opt, tensor);
    if (st != ADAOPT_OK)
        return st;
    if (kind == ADAOPT_STATE_STEP) {
        *value = (double)opt->tensors[tensor].step;
        return ADAOPT_OK;
    }
    if (kind == ADAOPT_STATE_MU_PRODUCT && opt->algorithm == ADAOPT_ALGO_NADAM) {
        *value = opt->tensors[tensor].mu_product;
        return ADAOPT_OK;
    }
    return adaopt__fail(o, ADAOPT_ERR_OPTION, "%s has no scalar state '%s'",
                        adaopt_algorithm_name(opt->algorithm),
                        adaopt_state_name(kind) ? adaopt_state_name(kind) : "?");
}

/* The denominator of ALGORITHMS.md for second-moment value u already divided as the eps mode
 * says: returns d such that the step is coefficient * (gradient-like) / d. */
static double denom_for(int eps_mode, double u, double bc2, double eps)
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

adaopt_status adaopt_effective_lr(const adaopt_optimizer *opt, size_t tensor, float *out,
                                  size_t numel)
{
    adaopt_optimizer *o = (adaopt_optimizer *)opt;
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (out == NULL)
        return adaopt__fail(o, ADAOPT_ERR_NULL, "effective_lr: out must not be NULL");
    adaopt_status st = check_tensor(opt, tensor);
    if (st != ADAOPT_OK)
        return st;
    const adaopt_tensor *t = &opt->tensors[tensor];
    if (numel != t->numel)
        return adaopt__fail(o, ADAOPT_ERR_SIZE, "effective_lr: out has %zu floats, tensor %zu has %zu",
                            numel, tensor, t->numel);
    if (t->step == 0)
        return adaopt__fail(o, ADAOPT_ERR_STATE,
                            "effective_lr: tensor %zu has not taken a step yet", tensor);
    const double *hp = opt->groups[t->group].hp;
    /* NAdam: recompute the last step's scalars from P_{t-1} = P_t / mu_t. */
    double mu_before = 1.0;
    if (opt->algorithm == ADAOPT_ALGO_NADAM) {
        step_scalars last = step_scalars_at(opt->algorithm, hp, t->step, 1.0);
        mu_before = last.mu > 0.0 ? t->mu_product / last.mu : 0.0;
    }
    step_scalars s = step_scalars_at(opt->algorithm, hp, t->step, mu_before);
    double eps = hp[ADAOPT_EPS];
    int mode = (int)hp[ADAOPT_EPS_MODE];
    const float *sv[ADAOPT_MAX_SLOTS];
    for (int k = 0; k < ADAOPT_MAX_SLOTS; k++) {
        sv[k] = adaopt__has_slot(t, k) ? adaopt__slot_floats(opt, &o->tensors[tensor], k) : NULL;
        if (adaopt__has_slot(t, k) && sv[k] == NULL)
            return adaopt__fail(o, ADAOPT_ERR_ALLOC, "effective_lr: out of memory");
    }
    const float *s0 = sv[0], *s1 = sv[1], *s2 = sv[2];
    for (size_t k = 0; k < numel; k++) {
        double e;
        switch (opt->algorithm) {
        case ADAOPT_ALGO_SGD:
            e = s.lr;
            break;
        case ADAOPT_ALGO_ADAGRAD:
            e = s.clr / denom_for(mode, s0[k], 1.0, eps);
            break;
        case ADAOPT_ALGO_RMSPROP: {
            double var = s0[k];
            if (hp[ADAOPT_CENTERED] != 0.0 && s2 != NULL)
                var -= (double)s2[k] * s2[k];
            e = s.lr / denom_for(mode, var, 1.0, eps);
            break;
        }
        case ADAOPT_ALGO_ADAM:
        case ADAOPT_ALGO_ADAMW: {
            double u = (hp[ADAOPT_AMSGRAD] != 0.0 && s2 != NULL) ? s2[k] : s1[k];
            e = s.lr / s.bc1 / denom_for(mode, u, s.bc2, eps);
            break;
        }
        case ADAOPT_ALGO_ADAMAX:
            e = s.lr / s.bc1 / s1[k];
            break;
        case ADAOPT_ALGO_NADAM:
            e = (s.grad_coef + s.avg_coef) / denom_for(mode, s1[k], s.bc2, eps);
            break;
        case ADAOPT_ALGO_RADAM:
            e = s.rectified ? s.lr * s.rect / s.bc1 / denom_for(mode, s1[k], s.bc2, eps)
                            : s.lr / s.bc1;
            break;
        default:
            e = NAN;
        }
        out[k] = (float)e;
    }
    return ADAOPT_OK;
}

adaopt_status adaopt_set_state(adaopt_optimizer *opt, size_t tensor, adaopt_state_kind kind,
                               const float *data, size_t numel)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (data == NULL && numel > 0)
        return adaopt__fail(opt, ADAOPT_ERR_NULL, "set_state: data must not be NULL");
    adaopt_status st = check_tensor(opt, tensor);
    if (st != ADAOPT_OK)
        return st;
    adaopt_tensor *t = &opt->tensors[tensor];
    if (numel != t->numel)
        return adaopt__fail(opt, ADAOPT_ERR_SIZE, "set_state: %zu floats for tensor %zu of %zu",
                            numel, tensor, t->numel);
    if (kind == ADAOPT_STATE_MASTER) {
        if (t->master == NULL)
            return adaopt__fail(opt, ADAOPT_ERR_OPTION, "tensor %zu has no master weights",
                                tensor);
        if (numel > 0)
            memcpy(t->master, data, numel * sizeof *data);
        t->master_ready = 1;
        return ADAOPT_OK;
    }
    int s = adaopt__slot_of_state(opt->algorithm, kind);
    if (s < 0)
        return adaopt__fail(opt, ADAOPT_ERR_OPTION, "%s has no array state '%s'",
                            adaopt_algorithm_name(opt->algorithm),
                            adaopt_state_name(kind) ? adaopt_state_name(kind) : "?");
    st = grow_slots(opt, tensor, 1, 1u << s);
    if (st != ADAOPT_OK)
        return st;
    if (numel > 0) {
        if (t->storage != ADAOPT_STORAGE_F32 && adaopt__ensure_qtables(opt) != 0)
            return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "set_state: out of memory");
        adaopt__write_slot(opt, t, s, data); /* encoded, if the storage is packed */
    }
    t->slot_ready[s] = 1;
    return ADAOPT_OK;
}

adaopt_status adaopt_scale_next_grads(adaopt_optimizer *opt, double factor)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (!(factor >= 0.0) || !isfinite(factor) || !isfinite((float)factor))
        return adaopt__fail(opt, ADAOPT_ERR_VALUE, "scale_next_grads: the factor must be finite "
                            "and >= 0 (got %g)", factor);
    opt->grad_factor = (float)factor;
    opt->grad_factor_set = 1;
    return ADAOPT_OK;
}

adaopt_status adaopt_set_rounding_seed(adaopt_optimizer *opt, uint64_t seed)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    opt->rounding_seed = seed;
    return ADAOPT_OK;
}

size_t adaopt_state_bytes(const adaopt_optimizer *opt)
{
    if (opt == NULL)
        return 0;
    size_t bytes = 0;
    for (size_t i = 0; i < opt->n_tensors; i++) {
        const adaopt_tensor *t = &opt->tensors[i];
        size_t n = t->numel, blocks = n / ADAOPT__BLOCK + (n % ADAOPT__BLOCK != 0);
        for (int k = 0; k < ADAOPT_MAX_SLOTS; k++) {
            if (t->slot[k] != NULL)
                bytes += n * 4;
            else if (t->packed[k] != NULL)
                bytes += t->storage == ADAOPT_STORAGE_BF16 ? n * 2 : n + blocks * 4;
        }
        if (t->master != NULL)
            bytes += n * 4;
    }
    return bytes;
}

adaopt_status adaopt_set_state_scalar(adaopt_optimizer *opt, size_t tensor, adaopt_state_kind kind,
                                      double value)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    adaopt_status st = check_tensor(opt, tensor);
    if (st != ADAOPT_OK)
        return st;
    if (kind == ADAOPT_STATE_STEP) {
        if (!(value >= 0.0 && value <= 9007199254740992.0) || value != floor(value))
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "step must be a whole number >= 0 (got %g)",
                                value);
        opt->tensors[tensor].step = (uint64_t)value;
        return ADAOPT_OK;
    }
    if (kind == ADAOPT_STATE_MU_PRODUCT && opt->algorithm == ADAOPT_ALGO_NADAM) {
        if (!(value >= 0.0 && value <= 1.0)) /* 0 when beta1 = 0 */
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "mu_product must be in [0, 1] (got %g)", value);
        opt->tensors[tensor].mu_product = value;
        return ADAOPT_OK;
    }
    return adaopt__fail(opt, ADAOPT_ERR_OPTION, "%s has no scalar state '%s'",
                        adaopt_algorithm_name(opt->algorithm),
                        adaopt_state_name(kind) ? adaopt_state_name(kind) : "?");
}

/* NAdam's P_t = mu_1 mu_2 ... mu_t under the hyperparameters hp, by the step's own operations
 * (so that it has the bits of t steps taken with these hyperparameters).  mu_k only grows with
 * k, so once a factor leaves the product unchanged (it has underflowed to the smallest
 * subnormal, which 0.5 < mu rounds back to itself, or to 0) no later factor changes it either.
 * Past 2^24 factors the rest is one pow: by then mu_k equals beta1 to the last bit. */
static double nadam_mu_product(const double *hp, uint64_t t)
{
    const uint64_t exact_factors = (uint64_t)1 << 24;
    double product = 1.0;
    uint64_t k = 1;
    for (; k <= t && k <= exact_factors; k++) {
        double next = product *
                      (hp[ADAOPT_BETA1] * (1.0 - 0.5 * pow(0.96, (double)k * hp[ADAOPT_MOMENTUM_DECAY])));
        if (next == product)
            return product;
        product = next;
    }
    if (k <= t)
        product *= pow(hp[ADAOPT_BETA1], (double)(t - k + 1));
    return product;
}

adaopt_status adaopt_set_step(adaopt_optimizer *opt, uint64_t steps_done)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (steps_done > ((uint64_t)1 << 53))
        return adaopt__fail(opt, ADAOPT_ERR_VALUE,
                            "set_step: %llu steps is past 2^53, where t stops being exact in the "
                            "double-precision bias corrections",
                            (unsigned long long)steps_done);
    for (size_t i = 0; i < opt->n_tensors; i++) {
        adaopt_tensor *t = &opt->tensors[i];
        const double *hp = opt->groups[t->group].hp;
        if (t->step == 0 && steps_done > 0 && opt->algorithm == ADAOPT_ALGO_ADAGRAD &&
            !t->slot_ready[0] && hp[ADAOPT_INITIAL_ACCUMULATOR_VALUE] != 0.0) {
            /* the sum its first step would have filled (unless adaopt_set_state wrote one) */
            float init = (float)hp[ADAOPT_INITIAL_ACCUMULATOR_VALUE];
            for (size_t k = 0; k < t->numel; k++)
                t->slot[0][k] = init;
        }
        t->step = steps_done;
        if (opt->algorithm == ADAOPT_ALGO_NADAM)
            t->mu_product = nadam_mu_product(hp, steps_done);
    }
    opt->steps_taken = steps_done;
    return ADAOPT_OK;
}

/*
 * optimizer.c -- the optimizer object: its life, its groups, and their options (setting one,
 * with the state arrays the new value needs made or freed, all or nothing); ISA, threads,
 * non-finite policy, step counts.  What each algorithm takes is its row's (src/algorithms/);
 * the step is step.c, the queries state.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algorithms/algorithm.h"
#include "precision.h"

#ifdef _OPENMP
#include <omp.h>
#endif

enum { STATE_ALIGN_BYTES = 64 };

/* The default thread count: OpenMP's own default for a new parallel region, which is
 * OMP_NUM_THREADS when it is set (or what the program gave omp_set_num_threads), else every core
 * this process may run on. */
size_t adaopt__default_threads(void)
{
#ifdef _OPENMP
    int n = omp_get_max_threads();
    return n > 0 ? (size_t)n : 1;
#else
    return 1;
#endif
}

unsigned adaopt_version_number(void)
{
    return ADAOPT_VERSION_MAJOR * 10000u + ADAOPT_VERSION_MINOR * 100u + ADAOPT_VERSION_PATCH;
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
    opt->threads = adaopt__default_threads();
    opt->hint = -1;
    opt->training = 1;
    *out = opt;
    return ADAOPT_OK;
}

void adaopt_destroy(adaopt_optimizer *opt)
{
    if (opt == NULL)
        return;
    for (size_t i = 0; i < opt->n_tensors; i++) {
        adaopt__free_tensor_state(&opt->tensors[i]);
        free(opt->tensors[i].af_unit_row);
        free(opt->tensors[i].af_edge);
    }
    free(opt->qtables);
    free(opt->tensors);
    free(opt->groups);
    free(opt->chunks);
    free(opt->chunk_sums);
    free(opt->af_scratch);
    free(opt->af_sums);
    free(opt->matrix_ws);
    free(opt->tensor_sums);
    free(opt->spans);
    free(opt->coeffs);
    free(opt->flat_params);
    free(opt->flat_grads);
    adaopt__free_sparse_workspace(opt);
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
    if (numels == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_NULL, "add_group: numels must not be NULL");
    if (n_tensors == 0)
        return adaopt__fail(opt, ADAOPT_ERR_SIZE, "add_group: a group needs at least one tensor");
    for (size_t i = 0; i < n_tensors; i++)
        if (numels[i] > (SIZE_MAX / 4 - STATE_ALIGN_BYTES) / sizeof(float))
            return adaopt__fail(opt, ADAOPT_ERR_SIZE,
                                "add_group: tensor %zu has %zu elements, too many to address", i,
                                numels[i]);

    adaopt_group g;
    memset(&g, 0, sizeof g);
    if (adaopt__algo(opt->algorithm)->init_group != NULL)
        adaopt__algo(opt->algorithm)->init_group(&g);
    for (int o = ADAOPT_LR; o <= ADAOPT_OPTION_MAX; o++)
        if (adaopt__option_applies(opt->algorithm, (adaopt_option)o))
            adaopt_default(opt->algorithm, (adaopt_option)o, &g.hp[o]);
    g.first_tensor = opt->n_tensors;
    g.n_tensors = n_tensors;
    g.param_dtype = (int)param_dtype;
    g.grad_dtype = (int)grad_dtype;

    /* The chunk plan and the per-tensor arrays of all tensors, old and new: every count
     * checked, so that no size wraps (a wrapped size would allocate too little). */
    size_t all_tensors, n_chunks = opt->n_chunks, twice_tensors;
    int too_many = adaopt__add_overflows(opt->n_tensors, n_tensors, &all_tensors) ||
                   adaopt__mul_overflows(all_tensors, 2, &twice_tensors);
    for (size_t i = 0; i < n_tensors && !too_many; i++) {
        size_t pieces = numels[i] / ADAOPT_CHUNK_ELEMS + (numels[i] % ADAOPT_CHUNK_ELEMS != 0);
        too_many = adaopt__add_overflows(n_chunks, pieces ? pieces : 1, &n_chunks);
    }
    size_t twice_chunks;
    if (too_many || adaopt__mul_overflows(n_chunks, 2, &twice_chunks))
        return adaopt__fail(opt, ADAOPT_ERR_SIZE, "add_group: %zu tensors of these sizes are "
                            "more than an optimizer can address", n_tensors);
    adaopt_group *groups = adaopt__realloc_array(opt->groups, opt->n_groups + 1, sizeof *groups);
    if (groups == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory adding a group");
    opt->groups = groups;
    adaopt_tensor *tensors = adaopt__realloc_array(opt->tensors, all_tensors, sizeof *tensors);
    if (tensors == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory adding %zu tensors", n_tensors);
    opt->tensors = tensors;

    for (size_t i = 0; i < n_tensors; i++) {
        adaopt_tensor *t = &opt->tensors[g.first_tensor + i];
        memset(t, 0, sizeof *t);
        t->numel = numels[i];
        t->group = opt->n_groups;
        t->mu_product = 1.0;
        t->factored = adaopt__algo(opt->algorithm)->shaped ? 2 : 0; /* a vector until shaped */
        t->storage_numel = numels[i];
        t->storage = adaopt__storage_for(&g, t);
    }
    adaopt_chunk *chunks = adaopt__realloc_array(opt->chunks, n_chunks, sizeof *chunks);
    if (chunks == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory planning %zu chunks", n_chunks);
    opt->chunks = chunks;
    double *chunk_sums = adaopt__realloc_array(opt->chunk_sums, twice_chunks, sizeof *chunk_sums);
    if (chunk_sums == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory planning %zu chunks", n_chunks);
    opt->chunk_sums = chunk_sums;
    double *tensor_sums = adaopt__realloc_array(opt->tensor_sums, twice_tensors, sizeof *tensor_sums);
    if (tensor_sums == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory adding %zu tensors", n_tensors);
    opt->tensor_sums = tensor_sums;
    struct adaopt__span *spans = adaopt__realloc_array(opt->spans, twice_tensors, sizeof *spans);
    if (spans == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory adding %zu tensors", n_tensors);
    opt->spans = spans;
    adaopt_coeffs *coeffs = adaopt__realloc_array(opt->coeffs, all_tensors, sizeof *coeffs);
    if (coeffs == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory adding %zu tensors", n_tensors);
    opt->coeffs = coeffs;
    float **flat_params = adaopt__realloc_array(opt->flat_params, all_tensors, sizeof *flat_params);
    if (flat_params == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory adding %zu tensors", n_tensors);
    opt->flat_params = flat_params;
    const float **flat_grads = (const float **)adaopt__realloc_array((void *)opt->flat_grads,
                                                                     all_tensors, sizeof *flat_grads);
    if (flat_grads == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory adding %zu tensors", n_tensors);
    opt->flat_grads = flat_grads;

    adaopt_status st = adaopt__grow_slots(opt, g.first_tensor, n_tensors, adaopt__slots_needed(opt->algorithm, g.hp));
    if (st != ADAOPT_OK)
        return st; /* the arrays may have grown, but the counts are unchanged */
    if (param_dtype != ADAOPT_DTYPE_F32) { /* master weights, the default update */
        for (size_t i = 0; i < n_tensors; i++) {
            adaopt_tensor *t = &opt->tensors[g.first_tensor + i];
            if ((t->master = adaopt__alloc_state(t->numel)) == NULL) {
                for (size_t j = 0; j < n_tensors; j++) /* grow_slots gave every one slots */
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
    if (group != NULL)
        *group = opt->n_groups;
    opt->n_groups++;
    opt->n_tensors += n_tensors;
    return ADAOPT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Options                                                                                     */

/* Tensors of groups [first, first + count): [*t0, *t0 + return value). */
static size_t tensors_of_groups(const adaopt_optimizer *opt, size_t first, size_t count,
                                size_t *t0)
{
    *t0 = count ? opt->groups[first].first_tensor : 0;
    return count ? opt->groups[first + count - 1].first_tensor +
                       opt->groups[first + count - 1].n_tensors - *t0
                 : 0;
}

/* Sets `option` in groups [first, first+count) (the combination is checked at the step, so that
 * options may be set in any order).  State the new value needs is made for all of them before
 * any value changes: a failure changes nothing. */
static adaopt_status set_groups(adaopt_optimizer *opt, size_t first, size_t count,
                                adaopt_option option, double value)
{
    adaopt_status st = ADAOPT_OK;
    for (size_t gi = first; gi < first + count && st == ADAOPT_OK; gi++) {
        adaopt_group *g = &opt->groups[gi];
        double hp[ADAOPT_OPTION_MAX + 1];
        memcpy(hp, g->hp, sizeof hp);
        hp[option] = value;
        st = adaopt__grow_slots_marked(opt, g->first_tensor, g->n_tensors,
                        adaopt__slots_needed(opt->algorithm, hp));
    }
    size_t t0, nt = tensors_of_groups(opt, first, count, &t0);
    adaopt__settle_new_slots(opt, t0, nt, st == ADAOPT_OK);
    if (st != ADAOPT_OK)
        return st;
    for (size_t gi = first; gi < first + count; gi++)
        opt->groups[gi].hp[option] = value;
    return ADAOPT_OK;
}

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

/* Group gi's state arrays and master weights made anew, zero, for hyperparameters hp (before
 * its first step), aside in *fresh (one per tensor): swap_in puts them in place of the group's,
 * discard frees them. */
static void discard(adaopt_tensor *fresh, size_t n)
{
    if (fresh == NULL)
        return;
    for (size_t j = 0; j < n; j++)
        adaopt__free_tensor_state(&fresh[j]);
    free(fresh);
}

static adaopt_status remake(adaopt_optimizer *opt, size_t gi, const double *hp,
                            adaopt_tensor **out)
{
    adaopt_group g = opt->groups[gi];
    memcpy(g.hp, hp, sizeof g.hp);
    adaopt_tensor *fresh = calloc(g.n_tensors ? g.n_tensors : 1, sizeof *fresh);
    *out = NULL;
    if (fresh == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory remaking group %zu's state", gi);
    unsigned mask = adaopt__slots_needed(opt->algorithm, hp);
    int update = (int)hp[ADAOPT_PARAM_UPDATE];
    int want_master = g.param_dtype != ADAOPT_DTYPE_F32 &&
                      (update == ADAOPT_UPDATE_MASTER || update == ADAOPT_UPDATE_MASTER_SR);
    int failed = 0;
    for (size_t j = 0; j < g.n_tensors && !failed; j++) {
        adaopt_tensor *t = &fresh[j];
        const adaopt_tensor *old = &opt->tensors[g.first_tensor + j];
        t->numel = old->numel;
        t->storage_numel = old->storage_numel;
        t->factored = old->factored; /* (Adafactor's slot sizes) */
        t->fac_batch = old->fac_batch;
        t->fac_rows = old->fac_rows;
        t->fac_cols = old->fac_cols;
        t->fac_row0 = old->fac_row0;
        t->storage = adaopt__storage_for(&g, t);
        for (int k = 0; k < ADAOPT_MAX_SLOTS && !failed; k++)
            if (mask & (1u << k))
                failed = adaopt__alloc_slot(t, k, t->storage) != 0;
        if (!failed && want_master)
            failed = (t->master = adaopt__alloc_state(t->numel)) == NULL;
    }
    if (!failed && hp[ADAOPT_STATE_STORAGE] == ADAOPT_STORAGE_8BIT)
        failed = adaopt__ensure_qtables(opt) != 0; /* (kept: the optimizer's, made once) */
    if (failed) {
        discard(fresh, g.n_tensors);
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory remaking group %zu's state", gi);
    }
    *out = fresh;
    return ADAOPT_OK;
}

static void swap_in(adaopt_optimizer *opt, size_t gi, adaopt_tensor *fresh)
{
    const adaopt_group *g = &opt->groups[gi];
    for (size_t j = 0; j < g->n_tensors; j++) {
        adaopt_tensor *t = &opt->tensors[g->first_tensor + j];
        adaopt__free_tensor_state(t);
        memcpy(t->slot, fresh[j].slot, sizeof t->slot);
        memcpy(t->packed, fresh[j].packed, sizeof t->packed);
        memcpy(t->absmax, fresh[j].absmax, sizeof t->absmax);
        t->master = fresh[j].master;
        t->storage = fresh[j].storage;
    }
    free(fresh);
}

/* hp = g's hyperparameters with the n options set; 1 if that changes how state is stored. */
static int with_options(const adaopt_group *g, const adaopt_option *options, const double *values,
                        size_t n, double *hp)
{
    memcpy(hp, g->hp, sizeof g->hp);
    int restructured = 0;
    for (size_t k = 0; k < n; k++) {
        restructured |= is_structural(options[k]) && hp[options[k]] != values[k];
        hp[options[k]] = values[k];
    }
    return restructured;
}

adaopt_status adaopt__set_many(adaopt_optimizer *opt, size_t first, size_t count,
                               const adaopt_option *options, const double *values, size_t n)
{
    int any_restructured = 0;
    for (size_t gi = first; gi < first + count; gi++) {
        double hp[ADAOPT_OPTION_MAX + 1];
        int restructured = with_options(&opt->groups[gi], options, values, n, hp);
        adaopt_status st = adaopt__check_combination(opt, gi, hp);
        if (st != ADAOPT_OK)
            return st;
        if (restructured && group_has_state(opt, gi))
            return adaopt__fail(opt, ADAOPT_ERR_STATE,
                                "group %zu has taken steps (or was given state): param_update, "
                                "state_storage and min_8bit_numel are set before its first step",
                                gi);
        any_restructured |= restructured;
    }
    /* All or nothing over the groups: every group's new state is made (remade aside, or grown
     * marked), then put in place -- or, on a failure, every piece of it freed. */
    adaopt_tensor **fresh = NULL;
    if (any_restructured && (fresh = calloc(count, sizeof *fresh)) == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_ALLOC, "out of memory setting options");
    size_t t0, nt = tensors_of_groups(opt, first, count, &t0);
    adaopt_status st = ADAOPT_OK;
    for (size_t gi = first; gi < first + count && st == ADAOPT_OK; gi++) {
        adaopt_group *g = &opt->groups[gi];
        double hp[ADAOPT_OPTION_MAX + 1];
        st = with_options(g, options, values, n, hp)
                 ? remake(opt, gi, hp, &fresh[gi - first])
                 : adaopt__grow_slots_marked(opt, g->first_tensor, g->n_tensors,
                                             adaopt__slots_needed(opt->algorithm, hp));
    }
    adaopt__settle_new_slots(opt, t0, nt, st == ADAOPT_OK);
    for (size_t gi = first; fresh != NULL && gi < first + count; gi++) {
        if (fresh[gi - first] == NULL)
            continue;
        if (st == ADAOPT_OK)
            swap_in(opt, gi, fresh[gi - first]);
        else
            discard(fresh[gi - first], opt->groups[gi].n_tensors);
    }
    free(fresh);
    if (st != ADAOPT_OK)
        return st;
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
    size_t first = group == ADAOPT_ALL_GROUPS ? 0 : group;
    size_t count = group == ADAOPT_ALL_GROUPS ? opt->n_groups : 1;
    if (is_structural(option)) /* remakes storage; checks the combination */
        return adaopt__set_many(opt, first, count, &option, &value, 1);
    return set_groups(opt, first, count, option, value);
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

/* Option combinations that are each valid but not together; checked before a step writes. */
adaopt_status adaopt__check_combination(adaopt_optimizer *opt, size_t gi, const double *hp)
{
    if (opt->groups[gi].param_dtype == ADAOPT_DTYPE_F32 &&
        hp[ADAOPT_PARAM_UPDATE] != ADAOPT_UPDATE_MASTER)
        return adaopt__fail(opt, ADAOPT_ERR_CONFLICT,
                            "group %zu holds float32 parameters: param_update applies to bf16 "
                            "and fp16 groups only", gi);
    const adaopt__algorithm *a = adaopt__algo(opt->algorithm);
    if (a->check_combination != NULL)
        return a->check_combination(opt, gi, hp);
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
    opt->threads = threads == 0 ? adaopt__default_threads() : threads;
    if (adaopt__algo(opt->algorithm)->threads_changed != NULL)
        adaopt__algo(opt->algorithm)->threads_changed(opt);
    return ADAOPT_OK;
}

size_t adaopt_get_threads(const adaopt_optimizer *opt)
{
    return opt == NULL ? 0 : opt->threads;
}

adaopt_status adaopt_set_overwrite_grads(adaopt_optimizer *opt, int enable)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (adaopt__algo(opt->algorithm)->update == NULL) /* element-wise: writes no gradient */
        return adaopt__fail(opt, ADAOPT_ERR_OPTION, "overwrite_grads: %s has no use for it (LAMB "
                            "and Adafactor only)", adaopt_algorithm_name(opt->algorithm));
    if (enable != 0 && enable != 1)
        return adaopt__fail(opt, ADAOPT_ERR_VALUE, "overwrite_grads must be 0 or 1 (got %d)",
                            enable);
    opt->overwrite_grads = enable;
    return ADAOPT_OK;
}

int adaopt_get_overwrite_grads(const adaopt_optimizer *opt)
{
    return opt == NULL ? 0 : opt->overwrite_grads;
}

adaopt_status adaopt_set_rounding_seed(adaopt_optimizer *opt, uint64_t seed)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    opt->rounding_seed = seed;
    return ADAOPT_OK;
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
    const adaopt__algorithm *a = adaopt__algo(opt->algorithm);
    for (size_t i = 0; i < opt->n_tensors; i++) {
        adaopt_tensor *t = &opt->tensors[i];
        const double *hp = opt->groups[t->group].hp;
        adaopt_option init = a->slot0_init;
        if (t->step == 0 && steps_done > 0 && init != 0 && !t->slot_ready[0] && hp[init] != 0.0) {
            /* the sum its first step would have filled (unless adaopt_set_state wrote one), in
             * its storage */
            adaopt__fill_slot(opt, t, 0, (float)hp[init]);
        }
        t->step = steps_done;
        if (a->steps_set != NULL)
            a->steps_set(t, hp, steps_done);
    }
    if (a->counts_per_group)
        for (size_t g = 0; g < opt->n_groups; g++)
            opt->groups[g].steps = steps_done;
    opt->steps_taken = steps_done;
    return ADAOPT_OK;
}

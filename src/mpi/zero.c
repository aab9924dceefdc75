/*
 * zero.c -- ZeRO stage 1 over MPI (include/adaopt_mpi.h, docs/ZERO.md).
 *
 * The flattened parameters [0, total) are cut into balanced contiguous shards.  Rank r's local
 * optimizer is an ordinary adaopt optimizer whose tensor i is the part of tensor i inside shard r
 * (often empty), in the same groups, so every algorithm, option and per-tensor scalar (step
 * counts, NAdam's mu product) behaves exactly as in one process.  The local optimizer updates the
 * caller's parameter arrays in place at the shard's positions; the collectives then spread them.
 *
 * With 8-bit state (blocks of 256 elements, each with its absmax) the shard boundaries move down
 * to the start of the block they fall in -- blocks of each tensor, counted from the tensor's
 * first element, as one process counts them -- so that no block is cut (the "aligned" layout,
 * recorded in checkpoints).
 *
 * Collectives go in rounds of at most `round` elements per rank (whatever the model's size, every
 * count and displacement MPI sees stays far below its int limit), so that the buffers they need
 * stay bounded (2 x world x round floats) however large the model: the only memory that grows
 * with the model is the state and the averaged gradient of the shard, both 1/N of it.
 */
#include "zero_internal.h"

adaopt_status fail(adaopt_zero *z, adaopt_status st, const char *fmt, ...)
{
    if (z != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(z->error, sizeof z->error, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* Every rank learns the worst status (the highest code) any rank had; a rank that was fine
 * but must fail because another did says so. */
adaopt_status agree(adaopt_zero *z, adaopt_status mine)
{
    int local[2] = {(int)mine, mine != ADAOPT_OK ? z->rank : -1}, worst[2];
    if (MPI_Allreduce(local, worst, 1, MPI_2INT, MPI_MAXLOC, z->comm) != MPI_SUCCESS)
        return fail(z, ADAOPT_ERR_IO, "MPI_Allreduce failed");
    if (worst[0] != ADAOPT_OK && mine == ADAOPT_OK)
        fail(z, (adaopt_status)worst[0], "rank %d failed with status %d (%s); nothing changed "
             "here", worst[1], worst[0], adaopt_status_name(worst[0]));
    return (adaopt_status)worst[0];
}

/* At the start of a step: agree on the arguments' status, and check that every rank holds the
 * same hyperparameters, policy and clipping (a CRC of them; max of it and of its complement
 * tell whether all ranks' are equal).  A rank that forgot to apply a schedule is caught here,
 * before anything is exchanged or written. */
adaopt_status agree_step(adaopt_zero *z, adaopt_status mine)
{
    uint32_t crc = 0;
    for (size_t g = 0; g < z->local->n_groups; g++)
        crc = adaopt__crc32c(crc, z->local->groups[g].hp, sizeof z->local->groups[g].hp);
    double extra[3] = {(double)z->local->nonfinite_policy, z->clip_on ? z->clip_max : -1.0,
                       z->clip_on ? z->clip_type : -1.0};
    crc = adaopt__crc32c(crc, extra, sizeof extra);
    crc = adaopt__crc32c(crc, &z->reduce_mode, sizeof z->reduce_mode);
    crc = adaopt__crc32c(crc, &z->round, sizeof z->round);
    crc = adaopt__crc32c(crc, &z->aligned, sizeof z->aligned);
    if (z->mat_rows != NULL) { /* Muon's shapes */
        crc = adaopt__crc32c(crc, z->mat_rows, z->n_tensors * sizeof *z->mat_rows);
        crc = adaopt__crc32c(crc, z->mat_cols, z->n_tensors * sizeof *z->mat_cols);
    }
    if (z->fac_rows != NULL) { /* Adafactor's shapes, hence the layout */
        crc = adaopt__crc32c(crc, z->fac_rows, z->n_tensors * sizeof *z->fac_rows);
        crc = adaopt__crc32c(crc, z->fac_cols, z->n_tensors * sizeof *z->fac_cols);
    }
    uint32_t local[4] = {(uint32_t)mine, mine != ADAOPT_OK ? (uint32_t)z->rank + 1 : 0, crc, ~crc};
    uint32_t most[4];
    if (MPI_Allreduce(local, most, 4, MPI_UINT32_T, MPI_MAX, z->comm) != MPI_SUCCESS)
        return fail(z, ADAOPT_ERR_IO, "MPI_Allreduce failed");
    if (most[0] != ADAOPT_OK) {
        if (mine == ADAOPT_OK)
            fail(z, (adaopt_status)most[0], "a rank failed with status %u (%s); nothing changed "
                 "here", most[0], adaopt_status_name((int)most[0]));
        return (adaopt_status)most[0];
    }
    if (most[2] != ~most[3])
        return fail(z, ADAOPT_ERR_CONFLICT, "step: the ranks hold different hyperparameters, "
                    "non-finite policies, clipping, piece limits or shapes (every rank must set "
                    "the same); nothing changed");
    return ADAOPT_OK;
}

/* An optimizer over the pieces of shard [off, off + len), in z's groups. */
adaopt_status make_local(adaopt_zero *z, uint64_t off, uint64_t len, adaopt_optimizer **out)
{
    adaopt_optimizer *opt;
    adaopt_status st = adaopt_create(z->algorithm, &opt);
    if (st != ADAOPT_OK)
        return st;
    size_t *sizes = adaopt__malloc_array(z->n_tensors, sizeof *sizes), begin, group;
    if (sizes == NULL) {
        adaopt_destroy(opt);
        return ADAOPT_ERR_ALLOC;
    }
    for (size_t i = 0; i < z->n_tensors; i++)
        piece_of(z, i, off, len, &begin, &sizes[i]);
    size_t first = 0;
    for (size_t g = 0; g < z->n_groups && st == ADAOPT_OK; g++) {
        /* the shard steps with the averaged gradient, which is float32 whatever was sent */
        st = adaopt_add_group_typed(opt, sizes + first, z->group_sizes[g],
                                    (adaopt_dtype)z->param_dtype, ADAOPT_DTYPE_F32, &group);
        first += z->group_sizes[g];
    }
    free(sizes);
    if (st != ADAOPT_OK) {
        adaopt_destroy(opt);
        return st;
    }
    for (size_t i = 0; i < z->n_tensors; i++) { /* stochastic rounding: the whole tensor's index */
        size_t count;
        piece_of(z, i, off, len, &begin, &count);
        opt->tensors[i].noise_base = begin;
        opt->tensors[i].storage_numel = z->numels[i]; /* 8-bit or not: as the whole tensor */
    }
    enum adaopt__shard shard = adaopt__algo(z->algorithm)->shard;
    if (shard == ADAOPT__SHARD_CHUNKS || shard == ADAOPT__SHARD_UNITS) {
        opt->lamb_exchange = exchange_chunk_sums; /* the norms: every shard's chunks of a tensor */
        opt->lamb_ctx = z;
    }
    if (shard == ADAOPT__SHARD_UNITS) { /* the matrices' pieces, and their edges */
        opt->af_exchange = exchange_edges;
        for (size_t i = 0; i < z->n_tensors && st == ADAOPT_OK; i++) {
            size_t count;
            piece_of(z, i, off, len, &begin, &count);
            if (count > 0 && z->fac_rows[i] > 0)
                st = adaopt__af_set_piece(opt, i, z->fac_rows[i], z->fac_cols[i],
                                          begin / z->fac_cols[i]);
        }
        if (st != ADAOPT_OK) {
            adaopt_destroy(opt);
            return st;
        }
    }
    for (size_t i = 0; i < z->n_tensors && z->mat_rows != NULL && st == ADAOPT_OK; i++) {
        size_t count, dims[2] = {z->mat_rows[i], z->mat_cols[i]};
        piece_of(z, i, off, len, &begin, &count);
        if (dims[0] > 0 && count == z->numels[i] && count > 0) /* a matrix this rank holds */
            st = adaopt_set_shape(opt, i, dims, 2);
    }
    if (st != ADAOPT_OK) {
        adaopt_destroy(opt);
        return st;
    }
    *out = opt;
    return ADAOPT_OK;
}

void adaopt_zero_destroy(adaopt_zero *z)
{
    if (z == NULL)
        return;
    adaopt_destroy(z->local);
    if (z->comm != MPI_COMM_NULL)
        MPI_Comm_free(&z->comm);
    free(z->numels);
    free(z->group_sizes);
    free(z->tensor_off);
    free(z->piece_begin);
    free(z->piece_len);
    free(z->shard_off);
    free(z->shard_len);
    free(z->counts);
    free(z->displs);
    free(z->rcounts);
    free(z->rdispls);
    adaopt__free_state(z->send);
    adaopt__free_state(z->recv);
    adaopt__free_state(z->gshard);
    free(z->norm_parts);
    free(z->lparams);
    free(z->lgrads);
    free(z->chunk_counts);
    free(z->chunk_displs);
    free(z->chunk_off);
    free(z->chunk_send);
    free(z->chunk_all);
    free(z->fac_rows);
    free(z->mat_rows);
    free(z->mat_cols);
    free(z->fac_cols);
    free(z->cut_tensor);
    free(z->cut_matrix);
    free(z->edge_counts);
    free(z->edge_displs);
    free(z->edge_send);
    free(z->edge_all);
    free(z);
}

const char *adaopt_zero_last_error(const adaopt_zero *z)
{
    return z == NULL ? "adaopt_zero is NULL" : z->error;
}

/* Every group's hyperparameters, the non-finite policy and the rounding seed of `from` onto
 * `to`, an optimizer over other pieces of the same groups. */
adaopt_status carry_settings(const adaopt_zero *z, const adaopt_optimizer *from,
                             adaopt_optimizer *to)
{
    for (size_t g = 0; g < z->n_groups; g++)
        for (int o = ADAOPT_LR; o <= ADAOPT_OPTION_MAX; o++) {
            double v;
            if (!adaopt__option_applies(z->algorithm, (adaopt_option)o))
                continue;
            adaopt_status st = adaopt_get(from, g, (adaopt_option)o, &v);
            if (st == ADAOPT_OK)
                st = adaopt_set(to, g, (adaopt_option)o, v);
            if (st != ADAOPT_OK)
                return st;
        }
    for (size_t g = 0; g < z->n_groups; g++) { /* Schedule-Free's group scalars, and mode */
        to->groups[g].steps = from->groups[g].steps;
        to->groups[g].sf_weight_sum = from->groups[g].sf_weight_sum;
        to->groups[g].sf_lr_max = from->groups[g].sf_lr_max;
    }
    to->training = from->training;
    to->nonfinite_policy = from->nonfinite_policy;
    to->rounding_seed = from->rounding_seed;
    return ADAOPT_OK;
}

/* The exchanges of LAMB's and Adafactor's sums for a layout (shard r begins at off[r]):
 * buffers for every tensor's chunk (unit) sums, the matrices cut by a boundary, and
 * buffers for their segments' partials.  In `p`, all allocated, or a status (z's message). */
typedef struct exchange_plan {
    double *chunk_send, *chunk_all, *edge_send, *edge_all;
    size_t n_cuts;
    size_t *cut_tensor;
    uint64_t *cut_matrix;
} exchange_plan;

static void free_plan(exchange_plan *p)
{
    free(p->chunk_send);
    free(p->chunk_all);
    free(p->edge_send);
    free(p->edge_all);
    free(p->cut_tensor);
    free(p->cut_matrix);
}

static adaopt_status plan_exchanges(adaopt_zero *z, const uint64_t *off, exchange_plan *p)
{
    memset(p, 0, sizeof *p);
    if (z->chunk_counts == NULL)
        return ADAOPT_OK; /* neither LAMB nor Adafactor */
    uint64_t units = 0;
    for (size_t i = 0; i < z->n_tensors; i++)
        units += units_of(z, i, 0, z->numels[i]);
    if (units > (uint64_t)INT_MAX / 2)
        return fail(z, ADAOPT_ERR_SIZE, "%llu chunks of the norms are more than one collective "
                    "moves", (unsigned long long)units);
    p->chunk_send = adaopt__malloc_array((size_t)(2 * units + 2), sizeof *p->chunk_send);
    p->chunk_all = adaopt__malloc_array((size_t)(2 * units + 2), sizeof *p->chunk_all);
    p->cut_tensor = adaopt__malloc_array((size_t)z->world, sizeof *p->cut_tensor);
    p->cut_matrix = adaopt__malloc_array((size_t)z->world, sizeof *p->cut_matrix);
    if (!p->chunk_send || !p->chunk_all || !p->cut_tensor || !p->cut_matrix) {
        free_plan(p);
        return fail(z, ADAOPT_ERR_ALLOC, "out of memory for the exchange of the norms");
    }
    for (int r = 1; r < z->world && z->fac_rows != NULL; r++) { /* Adafactor's cut matrices */
        if (off[r] >= z->total)
            continue;
        size_t i = tensor_at(z, off[r]);
        uint64_t rc = (uint64_t)z->fac_rows[i] * z->fac_cols[i], x = off[r] - z->tensor_off[i];
        if (rc == 0 || x % rc == 0)
            continue;
        if (p->n_cuts > 0 && p->cut_tensor[p->n_cuts - 1] == i &&
            p->cut_matrix[p->n_cuts - 1] == x / rc)
            continue;
        p->cut_tensor[p->n_cuts] = i;
        p->cut_matrix[p->n_cuts++] = x / rc;
    }
    uint64_t total = 0;
    for (size_t c = 0; c < p->n_cuts; c++) {
        size_t i = p->cut_tensor[c];
        total += (uint64_t)adaopt__af_segments(z->fac_rows[i], z->fac_cols[i]) *
                 (z->fac_cols[i] + 1);
    }
    if (total > (uint64_t)INT_MAX) {
        free_plan(p);
        return fail(z, ADAOPT_ERR_SIZE, "the column sums of the %zu matrices that shard "
                    "boundaries cut are %llu doubles, more than one collective moves", p->n_cuts,
                    (unsigned long long)total);
    }
    if (p->n_cuts > 0) { /* (a rank sends at most all of it) */
        p->edge_send = adaopt__malloc_array((size_t)total, sizeof *p->edge_send);
        p->edge_all = adaopt__malloc_array((size_t)total, sizeof *p->edge_all);
        if (!p->edge_send || !p->edge_all) {
            free_plan(p);
            return fail(z, ADAOPT_ERR_ALLOC, "out of memory for the exchange of Adafactor's "
                        "column sums");
        }
    }
    return ADAOPT_OK;
}

/* The counts of each rank's part of the exchanges, for z's (new) layout. */
static void count_exchanges(adaopt_zero *z)
{
    if (z->chunk_counts == NULL)
        return;
    z->chunk_off[0] = 0;
    for (size_t i = 0; i < z->n_tensors; i++)
        z->chunk_off[i + 1] = z->chunk_off[i] + units_of(z, i, 0, z->numels[i]);
    int at = 0, edge_at = 0;
    for (int r = 0; r < z->world; r++) {
        uint64_t units = 0, edges = 0;
        for (size_t i = 0; i < z->n_tensors; i++) {
            size_t b, count;
            piece_of(z, i, z->shard_off[r], z->shard_len[r], &b, &count);
            units += units_of(z, i, b, count);
        }
        for (size_t c = 0; c < z->n_cuts; c++) {
            size_t lo, hi;
            if (segments_held(z, c, z->shard_off[r], z->shard_len[r], &lo, &hi))
                edges += (hi - lo) * (z->fac_cols[z->cut_tensor[c]] + 1);
        }
        z->chunk_counts[r] = (int)(2 * units);
        z->chunk_displs[r] = at;
        at += (int)(2 * units);
        if (z->edge_counts != NULL) {
            z->edge_counts[r] = (int)edges;
            z->edge_displs[r] = edge_at;
            edge_at += (int)edges;
        }
    }
}

/* The shard layout (balanced, or aligned to 8-bit blocks, LAMB's chunks or Adafactor's units),
 * its buffers and a fresh local optimizer, which takes the hyperparameters, policy, seed,
 * threads and ISA of the current one if there is one.  All or nothing: on a failure z is
 * unchanged (an ADAOPT_ERR_SIZE has its message).  No collective call. */
adaopt_status set_layout(adaopt_zero *z, int aligned)
{
    size_t w = (size_t)z->world;
    uint64_t *off = adaopt__malloc_array(w, 2 * sizeof *off), *len = off + w, max_len = 0;
    if (off == NULL)
        return ADAOPT_ERR_ALLOC;
    for (int r = 0; r < z->world; r++) {
        shard_range(z, z->total, z->world, r, aligned, &off[r], &len[r]);
        max_len = len[r] > max_len ? len[r] : max_len;
    }
    uint64_t my_off = off[z->rank], my_len = len[z->rank], per = ROUND_BUDGET / (uint64_t)w;
    uint64_t round = max_len < per ? max_len : per;
    round = round == 0 ? 1 : round;
    float *send = adaopt__alloc_state((size_t)(round * w));
    float *recv = adaopt__alloc_state((size_t)(round * w));
    float *gshard = adaopt__alloc_state((size_t)my_len);
    adaopt_optimizer *local = NULL;
    exchange_plan plan;
    memset(&plan, 0, sizeof plan);
    adaopt_status st = send && recv && gshard ? ADAOPT_OK : ADAOPT_ERR_ALLOC;
    if (st == ADAOPT_OK && (st = plan_exchanges(z, off, &plan)) != ADAOPT_OK)
        memset(&plan, 0, sizeof plan);
    if (st == ADAOPT_OK)
        st = make_local(z, my_off, my_len, &local);
    if (st == ADAOPT_OK && z->local != NULL) { /* carry the settings over */
        st = carry_settings(z, z->local, local);
        if (st == ADAOPT_OK)
            st = adaopt_set_threads(local, z->threads);
        if (st == ADAOPT_OK)
            st = adaopt_set_isa(local, adaopt_get_isa(z->local));
    }
    if (st != ADAOPT_OK) {
        free_plan(&plan);
        adaopt_destroy(local);
        adaopt__free_state(send);
        adaopt__free_state(recv);
        adaopt__free_state(gshard);
        free(off);
        return st;
    }
    memcpy(z->shard_off, off, w * sizeof *off);
    memcpy(z->shard_len, len, w * sizeof *len);
    z->off = my_off;
    z->len = my_len;
    z->max_len = max_len;
    z->aligned = aligned;
    z->round = z->round_capacity = round;
    for (size_t i = 0; i < z->n_tensors; i++)
        piece_of(z, i, z->off, z->len, &z->piece_begin[i], &z->piece_len[i]);
    if (z->chunk_counts != NULL) { /* LAMB, Adafactor: the exchanges' buffers and counts */
        exchange_plan old = {z->chunk_send, z->chunk_all, z->edge_send, z->edge_all, 0,
                             z->cut_tensor, z->cut_matrix};
        free_plan(&old);
        z->chunk_send = plan.chunk_send;
        z->chunk_all = plan.chunk_all;
        z->edge_send = plan.edge_send;
        z->edge_all = plan.edge_all;
        z->n_cuts = plan.n_cuts;
        z->cut_tensor = plan.cut_tensor;
        z->cut_matrix = plan.cut_matrix;
        count_exchanges(z);
    }
    adaopt__free_state(z->send);
    adaopt__free_state(z->recv);
    adaopt__free_state(z->gshard);
    z->send = send;
    z->recv = recv;
    z->gshard = gshard;
    adaopt_destroy(z->local);
    z->local = local;
    free(off);
    return ADAOPT_OK;
}

adaopt_status adaopt_zero_create(MPI_Comm comm, adaopt_algorithm algorithm, const size_t *numels,
                                 size_t n_tensors, const size_t *group_sizes, size_t n_groups,
                                 adaopt_zero **out, char *error, size_t error_size)
{
    return adaopt_zero_create_typed(comm, algorithm, numels, n_tensors, group_sizes, n_groups,
                                    ADAOPT_DTYPE_F32, ADAOPT_DTYPE_F32, out, error, error_size);
}

adaopt_status adaopt_zero_create_typed(MPI_Comm comm, adaopt_algorithm algorithm,
                                       const size_t *numels, size_t n_tensors,
                                       const size_t *group_sizes, size_t n_groups,
                                       adaopt_dtype param_dtype, adaopt_dtype grad_dtype,
                                       adaopt_zero **out, char *error, size_t error_size)
{
    if (error != NULL && error_size > 0)
        error[0] = '\0';
    if (out == NULL)
        return ADAOPT_ERR_NULL;
    *out = NULL;
    adaopt_zero *z = calloc(1, sizeof *z);
    if (z == NULL)
        return ADAOPT_ERR_ALLOC;
    z->comm = MPI_COMM_NULL;
    if (MPI_Comm_dup(comm, &z->comm) != MPI_SUCCESS) {
        free(z);
        return ADAOPT_ERR_IO;
    }
    MPI_Comm_size(z->comm, &z->world);
    MPI_Comm_rank(z->comm, &z->rank);
    z->algorithm = algorithm;
    z->n_tensors = n_tensors;
    z->n_groups = n_groups;
    z->last_norm = NAN;
    z->param_dtype = (int)param_dtype;
    z->grad_dtype = (int)grad_dtype;
    z->param_bytes = param_dtype == ADAOPT_DTYPE_F32 ? 4 : 2;

    /* Local checks first, then every rank learns whether all passed. */
    adaopt_status st = ADAOPT_OK;
    size_t in_groups = 0;
    if (!adaopt__algorithm_valid(algorithm))
        st = fail(z, ADAOPT_ERR_ALGORITHM, "create: unknown algorithm %d", (int)algorithm);
    else if (adaopt_dtype_name(param_dtype) == NULL ||
             (grad_dtype != param_dtype && grad_dtype != ADAOPT_DTYPE_F32))
        st = fail(z, ADAOPT_ERR_VALUE, "create: parameters of type %d with gradients of type %d: "
                  "the gradients' type must be the parameters' or float32", (int)param_dtype,
                  (int)grad_dtype);
    else if ((n_tensors > 0 && numels == NULL) || (n_groups > 0 && group_sizes == NULL))
        st = fail(z, ADAOPT_ERR_NULL, "create: numels and group_sizes must not be NULL");
    else if (n_tensors == 0 || n_groups == 0)
        st = fail(z, ADAOPT_ERR_SIZE, "create: needs at least one group and one tensor");
    if (st == ADAOPT_OK) {
        for (size_t g = 0; g < n_groups; g++) {
            if (group_sizes[g] == 0 || group_sizes[g] > n_tensors - in_groups) {
                st = fail(z, ADAOPT_ERR_SIZE, "create: group %zu of %zu tensors does not fit the "
                          "%zu tensors", g, group_sizes[g], n_tensors);
                break;
            }
            in_groups += group_sizes[g];
        }
        if (st == ADAOPT_OK && in_groups != n_tensors)
            st = fail(z, ADAOPT_ERR_SIZE, "create: the groups hold %zu tensors, not %zu",
                      in_groups, n_tensors);
    }
    /* The whole model's elements, in which every offset lies: it must not wrap, and each
     * tensor must be one an optimizer can hold (adaopt_add_group's bound). */
    size_t elements = 0;
    for (size_t i = 0; i < n_tensors && st == ADAOPT_OK; i++)
        if (numels[i] > SIZE_MAX / 16 || adaopt__add_overflows(elements, numels[i], &elements))
            st = fail(z, ADAOPT_ERR_SIZE, "create: tensor %zu of %zu elements makes the model "
                      "larger than can be addressed", i, numels[i]);
    if (st == ADAOPT_OK) {
        z->numels = adaopt__malloc_array(n_tensors, sizeof *z->numels);
        z->group_sizes = adaopt__malloc_array(n_groups, sizeof *z->group_sizes);
        z->tensor_off = adaopt__malloc_array(n_tensors + 1, sizeof *z->tensor_off);
        z->piece_begin = adaopt__malloc_array(n_tensors, sizeof *z->piece_begin);
        z->piece_len = adaopt__malloc_array(n_tensors, sizeof *z->piece_len);
        z->shard_off = adaopt__malloc_array((size_t)z->world, sizeof *z->shard_off);
        z->shard_len = adaopt__malloc_array((size_t)z->world, sizeof *z->shard_len);
        z->counts = adaopt__malloc_array((size_t)z->world, sizeof *z->counts);
        z->displs = adaopt__malloc_array((size_t)z->world, sizeof *z->displs);
        z->rcounts = adaopt__malloc_array((size_t)z->world, sizeof *z->rcounts);
        z->rdispls = adaopt__malloc_array((size_t)z->world, sizeof *z->rdispls);
        z->norm_parts = adaopt__malloc_array((size_t)z->world, sizeof *z->norm_parts);
        z->lparams = adaopt__malloc_array(n_tensors, sizeof *z->lparams);
        z->lgrads = adaopt__malloc_array(n_tensors, sizeof *z->lgrads);
        if (!z->numels || !z->group_sizes || !z->tensor_off || !z->piece_begin ||
            !z->piece_len || !z->shard_off || !z->shard_len || !z->counts || !z->displs || !z->rcounts || !z->rdispls || !z->norm_parts ||
            !z->lparams || !z->lgrads)
            st = fail(z, ADAOPT_ERR_ALLOC, "create: out of memory");
    }
    if (st == ADAOPT_OK) {
        memcpy(z->numels, numels, n_tensors * sizeof *numels);
        memcpy(z->group_sizes, group_sizes, n_groups * sizeof *group_sizes);
        z->tensor_off[0] = 0;
        for (size_t i = 0; i < n_tensors; i++)
            z->tensor_off[i + 1] = z->tensor_off[i] + numels[i];
        z->total = z->tensor_off[n_tensors];
        enum adaopt__shard shard = adaopt__algo(algorithm)->shard;
        if (shard == ADAOPT__SHARD_CHUNKS || shard == ADAOPT__SHARD_UNITS) {
            /* the exchange of the chunk (unit) sums; the buffers come with each layout */
            z->chunk_off = adaopt__malloc_array(n_tensors + 1, sizeof *z->chunk_off);
            z->chunk_counts = adaopt__malloc_array((size_t)z->world, sizeof *z->chunk_counts);
            z->chunk_displs = adaopt__malloc_array((size_t)z->world, sizeof *z->chunk_displs);
            if (!z->chunk_off || !z->chunk_counts || !z->chunk_displs)
                st = fail(z, ADAOPT_ERR_ALLOC, "create: out of memory");
        }
        if (adaopt__algo(algorithm)->shaped) { /* vectors until shaped */
            z->fac_rows = calloc(n_tensors, sizeof *z->fac_rows);
            z->fac_cols = calloc(n_tensors, sizeof *z->fac_cols);
            z->edge_counts = adaopt__malloc_array((size_t)z->world, sizeof *z->edge_counts);
            z->edge_displs = adaopt__malloc_array((size_t)z->world, sizeof *z->edge_displs);
            if (!z->fac_rows || !z->fac_cols || !z->edge_counts || !z->edge_displs)
                st = fail(z, ADAOPT_ERR_ALLOC, "create: out of memory");
        }
        if (adaopt__algo(algorithm)->matrix_set != NULL) { /* Muon's shapes */
            z->mat_rows = calloc(n_tensors, sizeof *z->mat_rows);
            z->mat_cols = calloc(n_tensors, sizeof *z->mat_cols);
            if (!z->mat_rows || !z->mat_cols)
                st = fail(z, ADAOPT_ERR_ALLOC, "create: out of memory");
        }
    }
    if (st == ADAOPT_OK) {
        st = set_layout(z, (int)adaopt__algo(z->algorithm)->shard);
        if (st == ADAOPT_ERR_ALLOC)
            fail(z, st, "create: out of memory for the buffers or the shard's optimizer");
    }
    /* Do the ranks agree on the layout?  A CRC of it, gathered. */
    uint32_t sig = 0;
    if (st == ADAOPT_OK) {
        sig = adaopt__crc32c(0, &algorithm, sizeof algorithm);
        sig = adaopt__crc32c(sig, &z->param_dtype, sizeof z->param_dtype);
        sig = adaopt__crc32c(sig, &z->grad_dtype, sizeof z->grad_dtype);
        sig = adaopt__crc32c(sig, numels, n_tensors * sizeof *numels);
        sig = adaopt__crc32c(sig, group_sizes, n_groups * sizeof *group_sizes);
    }
    st = agree(z, st);
    if (st == ADAOPT_OK) {
        uint32_t first = sig;
        MPI_Bcast(&first, 1, MPI_UINT32_T, 0, z->comm);
        st = agree(z, first == sig ? ADAOPT_OK
                                   : fail(z, ADAOPT_ERR_MISMATCH, "create: rank %d has another "
                                          "algorithm or other shapes than rank 0", z->rank));
    }
    if (st != ADAOPT_OK) {
        if (error != NULL && error_size > 0)
            snprintf(error, error_size, "%s", z->error);
        adaopt_zero_destroy(z);
        return st;
    }
    *out = z;
    return ADAOPT_OK;
}

adaopt_status adaopt_zero_set(adaopt_zero *z, size_t group, adaopt_option option, double value)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    adaopt_status st;
    if (option == ADAOPT_STATE_STORAGE && value == ADAOPT_STORAGE_8BIT && !z->aligned &&
        adaopt__algo(z->algorithm)->shard == ADAOPT__SHARD_ELEMENTS) {
        /* 8-bit blocks must not be cut: move the boundaries to block starts (a new, empty
         * shard state: the state's storage is chosen before the first step anyway) */
        if (adaopt_steps_taken(z->local) > 0)
            return fail(z, ADAOPT_ERR_CONFLICT, "set: state_storage is chosen before the first "
                        "step");
        if (group != ADAOPT_ALL_GROUPS && group >= z->n_groups)
            return fail(z, ADAOPT_ERR_INDEX, "set: group %zu out of range (%zu groups)", group,
                        z->n_groups);
        if ((st = set_layout(z, 1)) != ADAOPT_OK)
            return fail(z, st, "set: out of memory for the block-aligned shard layout");
    }
    st = adaopt_set(z->local, group, option, value);
    if (st != ADAOPT_OK)
        fail(z, st, "%s", adaopt_last_error(z->local));
    return st;
}

adaopt_status adaopt_zero_get(const adaopt_zero *z, size_t group, adaopt_option option,
                              double *value)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    return adaopt_get(z->local, group, option, value);
}

adaopt_status adaopt_zero_set_clip(adaopt_zero *z, double max_norm, double norm_type)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    if (max_norm == 0.0 && norm_type == 0.0) {
        z->clip_on = 0;
        return ADAOPT_OK;
    }
    if (!(max_norm >= 0.0) || !(norm_type == 1.0 || norm_type == 2.0 ||
                                (isinf(norm_type) && norm_type > 0)))
        return fail(z, ADAOPT_ERR_VALUE, "set_clip: max_norm must be >= 0 and norm_type 1, 2 "
                    "or inf (got %g, %g)", max_norm, norm_type);
    z->clip_on = 1;
    z->clip_max = max_norm;
    z->clip_type = norm_type;
    return ADAOPT_OK;
}

double adaopt_zero_last_norm(const adaopt_zero *z)
{
    return z == NULL ? NAN : z->last_norm;
}

adaopt_status adaopt_zero_set_nonfinite_policy(adaopt_zero *z, adaopt_nonfinite_policy policy)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    adaopt_status st = adaopt_set_nonfinite_policy(z->local, policy);
    if (st != ADAOPT_OK)
        fail(z, st, "%s", adaopt_last_error(z->local));
    return st;
}

adaopt_status adaopt_zero_set_threads(adaopt_zero *z, size_t threads)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    adaopt_status st = adaopt_set_threads(z->local, threads);
    if (st != ADAOPT_OK)
        return fail(z, st, "%s", adaopt_last_error(z->local));
    z->threads = threads;
    return ADAOPT_OK;
}

adaopt_status adaopt_zero_set_reduce(adaopt_zero *z, adaopt_zero_reduce mode)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    if (mode != ADAOPT_ZERO_REDUCE_ORDERED && mode != ADAOPT_ZERO_REDUCE_MPI)
        return fail(z, ADAOPT_ERR_VALUE, "set_reduce: unknown mode %d", (int)mode);
    z->reduce_mode = (int)mode;
    return ADAOPT_OK;
}

adaopt_status adaopt_zero_set_piece_limit(adaopt_zero *z, uint64_t elements)
{
    if (z == NULL)
        return ADAOPT_ERR_NULL;
    if (elements > z->round_capacity)
        return fail(z, ADAOPT_ERR_VALUE, "set_piece_limit: %llu elements per rank is more than "
                    "the buffers hold (%llu); 0 restores that default",
                    (unsigned long long)elements, (unsigned long long)z->round_capacity);
    z->round = elements == 0 ? z->round_capacity : elements;
    return ADAOPT_OK;
}

int adaopt_zero_last_step_skipped(const adaopt_zero *z)
{
    return z != NULL && z->last_skipped;
}

uint64_t adaopt_zero_steps_taken(const adaopt_zero *z)
{
    return z == NULL ? 0 : adaopt_steps_taken(z->local);
}

void adaopt_zero_shard(const adaopt_zero *z, uint64_t *offset, uint64_t *length)
{
    if (offset != NULL)
        *offset = z ? z->off : 0;
    if (length != NULL)
        *length = z ? z->len : 0;
}

const adaopt_optimizer *adaopt_zero_local(const adaopt_zero *z)
{
    return z == NULL ? NULL : z->local;
}

size_t adaopt_zero_state_bytes(const adaopt_zero *z)
{
    if (z == NULL)
        return 0;
    return adaopt_state_bytes(z->local); /* the master weights of a 16-bit model included */
}

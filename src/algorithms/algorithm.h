/*
 * algorithm.h -- what an algorithm is, in one const row per algorithm (one file per family in
 * this folder), indexed by adaopt_algorithm like ggml-cpu's type_traits_cpu[].  The rest of the
 * library is generic over the rows: options.c reads their options and defaults, the slot maps
 * and queries their state, step.c their scalars, coefficients, decay rule and passes.
 *
 * Adding an algorithm: its row (and file here), its scalar and vector kernels
 * (src/kernels/), its entry in adaopt__algorithms (algorithms.c) and the dispatch table
 * (src/kernels/dispatch.c); docs/ARCHITECTURE.md lists the rest (docs, tests, front ends).
 */
#ifndef ADAOPT_ALGORITHM_H
#define ADAOPT_ALGORITHM_H

#include "../internal.h"

/* The valid values of an option (options.c checks them). */
enum adaopt__range {
    ADAOPT__RANGE_NONNEGATIVE,  /* [0, inf) */
    ADAOPT__RANGE_UNIT_OPEN,    /* [0, 1) */
    ADAOPT__RANGE_INSIDE_UNIT,  /* (0, 1) */
    ADAOPT__RANGE_ABOVE_ONE,    /* (1, inf) */
    ADAOPT__RANGE_FINITE,       /* any finite value */
    ADAOPT__RANGE_BOOLEAN,      /* 0 or 1 */
    ADAOPT__RANGE_EPS_MODE,     /* an adaopt_eps_mode the algorithm supports */
    ADAOPT__RANGE_CHOICE,       /* a whole number in [0, choices) */
    ADAOPT__RANGE_COUNT,        /* a whole number in [0, 2^53] */
    ADAOPT__RANGE_NONPOSITIVE,  /* (-inf, 0] */
    ADAOPT__RANGE_AT_LEAST_ONE, /* [1, inf) */
    ADAOPT__RANGE_TORCH_ARITH   /* an adaopt_torch_arith: 1 or 2 */
};

/* One option an algorithm takes, with its default.  A row's list ends at option 0. */
typedef struct adaopt__option_default {
    adaopt_option option;
    double value;
} adaopt__option_default;

/* How weight_decay enters. */
enum adaopt__decay {
    ADAOPT__DECAY_COUPLED,   /* added to the gradient: g + wd p (torch's weight_decay) */
    ADAOPT__DECAY_DECOUPLED, /* p (1 - lr wd) before the update (AdamW, Lion) */
    ADAOPT__DECAY_BY_OPTION, /* decoupled when decoupled_weight_decay is 1 (NAdam, RAdam) */
    ADAOPT__DECAY_OWN        /* the algorithm's own rule, in its kernel (Schedule-Free, LAMB,
                                Adafactor) */
};

/* What a checkpoint (checkpoint.c) records of an algorithm beyond options, counts and arrays. */
enum adaopt__group_record {
    ADAOPT__GROUP_RECORD_NONE,
    ADAOPT__GROUP_RECORD_WEIGHTS, /* u64 k, f64 weight_sum, f64 lr_max, u32 train mode, u32 0
                                     (Schedule-Free) */
    ADAOPT__GROUP_RECORD_COUNT    /* u64 k, the group's step count (LAMB; version >= 3) */
};
enum adaopt__tensor_record {
    ADAOPT__TENSOR_RECORD_NONE,
    ADAOPT__TENSOR_RECORD_SCALARS, /* after the arrays: 3 f64, the last norms and trust ratio */
    ADAOPT__TENSOR_RECORD_SHAPE  /* before the arrays: the factoring and its shape (Adafactor) */
};

/* How ZeRO (src/mpi/) may cut its tensors between ranks: the values are zero_layout.c's layouts
 * (1 is any cut at an 8-bit block's start, for 8-bit state). */
enum adaopt__shard {
    ADAOPT__SHARD_ELEMENTS = 0, /* anywhere: the update is element-wise */
    ADAOPT__SHARD_CHUNKS = 2,   /* at chunk starts, the chunks' norm sums exchanged (LAMB) */
    ADAOPT__SHARD_UNITS = 3,    /* at unit starts, the row and column sums exchanged (Adafactor) */
    ADAOPT__SHARD_TENSORS = 4   /* at tensor starts: every rank updates whole tensors (Muon) */
};

/* An effective-lr query of tensor t after its t->step-th step: its group's hyperparameters and
 * its state arrays as float32 (decoded where packed; NULL where the tensor has no such slot). */
typedef struct adaopt__lr_query {
    const adaopt_optimizer *opt;
    const adaopt_tensor *t;
    const double *hp;
    const float *slot[ADAOPT_MAX_SLOTS];
} adaopt__lr_query;

typedef struct adaopt__algorithm {
    const char *name;
    /* The options it takes besides every algorithm's (maximize, param_update, state_storage,
     * min_8bit_numel: options.c), with its defaults (torch.optim's, or the reference's). */
    const adaopt__option_default *options;
    unsigned eps_modes; /* 1 << adaopt_eps_mode for each eps_mode it supports */

    /* State arrays: slot k holds slot_kind[k] (0: no such slot); Adafactor's slot 0 is its
     * vectors' variance (alt_kind) or its matrices' row_var. */
    adaopt_state_kind slot_kind[ADAOPT_MAX_SLOTS];
    adaopt_state_kind alt_kind[ADAOPT_MAX_SLOTS];
    /* Which of the two tensor t keeps in slot k (NULL: slot_kind): Adafactor's vectors keep
     * variance, its matrices row_var; Muon's AdamW groups exp_avg where its Muon groups keep
     * the momentum buffer. */
    adaopt_state_kind (*tensor_slot_kind)(const adaopt_optimizer *opt, const adaopt_tensor *t,
                                          int k);
    const char *slot_kinds_why; /* which tensors keep which (a query of the other's message) */
    unsigned (*slots)(const double *hp); /* bit mask of the slots a group with hp needs */
    /* Slot 0 is born at a step (SGD's momentum buffer, Schedule-Free's z): it exists for the
     * queries only once slot0_born said so of a step's coefficients. */
    int (*slot0_born)(const adaopt_coeffs *c);
    /* Slot 0 is filled with this option's value before the tensor's first step (AdaGrad's
     * initial_accumulator_value); 0: none. */
    adaopt_option slot0_init;

    /* Its tensors are vectors until adaopt_set_shape gives them two or more dimensions
     * (Adafactor: adaopt_tensor.factored). */
    int shaped;
    /* adaopt_set_shape is giving a tensor rows x cols (0 x 0: not a matrix): room for it, all
     * or nothing (NULL: nothing to do; Muon's workspace). */
    adaopt_status (*matrix_set)(adaopt_optimizer *opt, size_t rows, size_t cols);
    /* Checks of a tensor that has a gradient, before the step writes anything (NULL: none). */
    adaopt_status (*check_tensor)(adaopt_optimizer *opt, size_t i);

    enum adaopt__decay decay;
    int counts_per_group; /* its t is the group's count (adaopt_group.steps), not the tensor's */
    int eval_mode;        /* adaopt_eval / adaopt_train swap the parameters (Schedule-Free) */
    int tracks_mu_product; /* NAdam: the tensor's product of mu */
    int own_coeffs;        /* each tensor's coefficients are its own (NAdam, ASGD): tensors of
                              one group at one step do not share them */
    /* The kinds of adaopt_tensor.scalars[0..3) (0: not a query's; saved either way): LAMB's
     * weight_norm, adam_norm, trust_ratio of the last step; ASGD's eta and mu for the next step
     * (and the last step's eta); float_scalars: they are float32 values (torch's tensors). */
    adaopt_state_kind tensor_scalars[3];
    int float_scalars;
    /* Sparse gradients: NULL if it takes them, else why not (after "tensor %zu: <name> "). */
    const char *no_sparse;
    int sparse_eps_hat; /* a sparse step places eps as torch's SparseAdam (eps_mode hat) */

    /* Its checkpoints: the oldest format version that can hold them (the version it came
     * with), and its records. */
    int min_format_version;
    enum adaopt__group_record group_record;
    enum adaopt__tensor_record tensor_record;

    enum adaopt__shard shard;

    /* Checks beyond the option table's range (NULL: none): of one value, and of a group's
     * combination before a step writes. */
    adaopt_status (*check_value)(adaopt_optimizer *opt, adaopt_option option, double value);
    adaopt_status (*check_combination)(adaopt_optimizer *opt, size_t gi, const double *hp);

    /* A new group's own scalars (NULL: none; Schedule-Free's k, weight_sum and lr_max). */
    void (*init_group)(adaopt_group *g);
    /* Once per step, before the tensors' coefficients, for every group (NULL: none): the
     * group's own scalars (Schedule-Free's k and weights, LAMB's count). */
    void (*begin_step)(adaopt_group *g);
    /* adaopt_set_step gave tensor t `steps` steps (NULL: nothing more): NAdam's mu product. */
    void (*steps_set)(adaopt_tensor *t, const double *hp, uint64_t steps);
    /* After tensor t's step, with the coefficients it took (NULL: nothing): ASGD's next eta
     * and mu. */
    void (*stepped)(adaopt_tensor *t, const double *hp, const adaopt_coeffs *c);
    /* Step t's scalars in double, beyond s->lr (set before; NULL: none). */
    void (*scalars)(adaopt_step_scalars *s, const double *hp, double t, double mu_before);
    /* A tensor's coefficients for the kernel from the step's scalars, rounded to float. */
    void (*coeffs)(adaopt_coeffs *c, const struct adaopt__algorithm *a, const adaopt_group *g,
                   const adaopt_tensor *t, const double *hp,
                   const adaopt_step_scalars *s, int slot0_ready);
    /* The whole-tensor update (LAMB's norms, Adafactor's row and column sums) that replaces the
     * element-wise pass; nonzero when an exchange between ranks failed (update_failure says
     * what that leaves).  NULL: the element-wise kernel over the chunks. */
    int (*update)(adaopt_optimizer *opt, void *const *params, const void *const *grads,
                  size_t work);
    const char *update_failure;
    /* After adaopt_set_threads (NULL: none): room for per-thread scratch. */
    void (*threads_changed)(adaopt_optimizer *opt);
    /* Each element's effective learning rate after the last step (adaopt_effective_lr). */
    adaopt_status (*effective_lr)(const adaopt__lr_query *q, float *out, size_t n);
} adaopt__algorithm;

/* The row of `algorithm`, or NULL for a value that is no algorithm. */
ADAOPT_INTERNAL_API const adaopt__algorithm *adaopt__algo(adaopt_algorithm algorithm);

/* Shared by the rows (algorithms.c). */
/* The coefficients every element-wise algorithm has: maximize, the decay rule, eps, lr. */
void adaopt__common_coeffs(adaopt_coeffs *c, const adaopt__algorithm *a, const double *hp,
                           const adaopt_step_scalars *s);
/* The denominator of ALGORITHMS.md for second-moment value u as the eps mode places eps: the
 * step is coefficient * (gradient-like) / d. */
double adaopt__denom_for(int eps_mode, double u, double bc2, double eps);
/* weight_decay is decoupled: p (1 - lr wd) (DECOUPLED, or BY_OPTION with the option set). */
int adaopt__decoupled_decay(const adaopt__algorithm *a, const double *hp);
/* torch 2.x's arithmetic is asked for (the algorithm takes ADAOPT_TORCH, and it is 2). */
int adaopt__torch2(const double *hp);
/* A lerp weight w as the kernels take it (kernels.h): from the nearer end. */
void adaopt__set_lerp_weight(adaopt_coeffs *c, float w);

/* The slot masks of the rows whose slots do not depend on the options: slot 0; slots 0 and 1. */
unsigned adaopt__slot0(const double *hp);
unsigned adaopt__slots01(const double *hp);
/* The effective lr of an algorithm whose every coordinate moves by lr (SGD, Lion). */
adaopt_status adaopt__lr_everywhere(const adaopt__lr_query *q, float *out, size_t n);
/* Why LAMB and Adafactor take no sparse gradients. */
#define ADAOPT__NO_SPARSE_WHOLE_TENSOR                                                            \
    "does not take sparse gradients (its update is scaled by norms of the whole tensor, as the " \
    "reference's)"

/* The Adam family's (adam.c): the bias corrections of step t, and their coefficients. */
void adaopt__adam_scalars(adaopt_step_scalars *s, const double *hp, double t, double mu_before);
/* Adam's and AdamW's effective lr (and that of Muon's AdamW groups). */
adaopt_status adaopt__adam_lr(const adaopt__lr_query *q, float *out, size_t n);
void adaopt__adam_coeffs(adaopt_coeffs *c, const adaopt__algorithm *a, const adaopt_group *g,
                         const adaopt_tensor *t, const double *hp,
                         const adaopt_step_scalars *s, int slot0_ready);

extern const adaopt__algorithm adaopt__sgd_row, adaopt__adagrad_row, adaopt__rmsprop_row,
    adaopt__adam_row, adaopt__adamw_row, adaopt__adamax_row, adaopt__nadam_row,
    adaopt__radam_row, adaopt__lion_row, adaopt__schedule_free_row, adaopt__lamb_row,
    adaopt__adafactor_row, adaopt__adadelta_row, adaopt__rprop_row, adaopt__asgd_row,
    adaopt__muon_row;

#endif

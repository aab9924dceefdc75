/*
 * names.c -- the names a binding needs, so that it copies none of this library's tables: every
 * constant of adaopt.h by its identifier, the state kinds' names (torch's state keys), and the
 * words of the options whose values are named.  (Algorithm names are in their rows, option
 * names beside their ranges in options.c, ISA names in kernels/dispatch.c.)
 */
#include <string.h>
#include <strings.h>

#include "internal.h"

typedef struct constant {
    const char *identifier;
    int value;
} constant;

#define C(x) {#x, (int)(x)}
static const constant CONSTANTS[] = {
    /* adaopt_status */
    C(ADAOPT_OK), C(ADAOPT_ERR_NULL), C(ADAOPT_ERR_ALLOC), C(ADAOPT_ERR_ALGORITHM),
    C(ADAOPT_ERR_OPTION), C(ADAOPT_ERR_VALUE), C(ADAOPT_ERR_INDEX), C(ADAOPT_ERR_SIZE),
    C(ADAOPT_ERR_STATE), C(ADAOPT_ERR_CONFLICT), C(ADAOPT_ERR_FORMAT), C(ADAOPT_ERR_MISMATCH),
    C(ADAOPT_ERR_IO), C(ADAOPT_ERR_NONFINITE),
    /* adaopt_algorithm */
    C(ADAOPT_ALGO_SGD), C(ADAOPT_ALGO_ADAGRAD), C(ADAOPT_ALGO_RMSPROP), C(ADAOPT_ALGO_ADAM),
    C(ADAOPT_ALGO_ADAMW), C(ADAOPT_ALGO_ADAMAX), C(ADAOPT_ALGO_NADAM), C(ADAOPT_ALGO_RADAM),
    C(ADAOPT_ALGO_LION), C(ADAOPT_ALGO_ADAMW_SCHEDULE_FREE), C(ADAOPT_ALGO_LAMB),
    C(ADAOPT_ALGO_ADAFACTOR), C(ADAOPT_ALGO_ADADELTA), C(ADAOPT_ALGO_RPROP),
    C(ADAOPT_ALGO_ASGD), C(ADAOPT_ALGO_MUON),
    /* adaopt_eps_mode */
    C(ADAOPT_EPS_OUTSIDE), C(ADAOPT_EPS_INSIDE), C(ADAOPT_EPS_HAT),
    /* adaopt_option */
    C(ADAOPT_LR), C(ADAOPT_BETA1), C(ADAOPT_BETA2), C(ADAOPT_EPS), C(ADAOPT_WEIGHT_DECAY),
    C(ADAOPT_MOMENTUM), C(ADAOPT_DAMPENING), C(ADAOPT_NESTEROV), C(ADAOPT_MAXIMIZE),
    C(ADAOPT_AMSGRAD), C(ADAOPT_CENTERED), C(ADAOPT_ALPHA), C(ADAOPT_LR_DECAY),
    C(ADAOPT_INITIAL_ACCUMULATOR_VALUE), C(ADAOPT_MOMENTUM_DECAY),
    C(ADAOPT_DECOUPLED_WEIGHT_DECAY), C(ADAOPT_EPS_MODE), C(ADAOPT_PARAM_UPDATE),
    C(ADAOPT_STATE_STORAGE), C(ADAOPT_MIN_8BIT_NUMEL), C(ADAOPT_WARMUP_STEPS), C(ADAOPT_R),
    C(ADAOPT_WEIGHT_LR_POWER), C(ADAOPT_WEIGHT_DECOUPLE), C(ADAOPT_FIXED_DECAY),
    C(ADAOPT_GRAD_AVERAGING), C(ADAOPT_ADAM_UPDATE), C(ADAOPT_CLAMP), C(ADAOPT_BETA2_DECAY),
    C(ADAOPT_EPS1), C(ADAOPT_EPS2), C(ADAOPT_D), C(ADAOPT_TORCH), C(ADAOPT_RHO),
    C(ADAOPT_ETA_MINUS), C(ADAOPT_ETA_PLUS), C(ADAOPT_STEP_SIZE_MIN), C(ADAOPT_STEP_SIZE_MAX),
    C(ADAOPT_LAMBD), C(ADAOPT_T0), C(ADAOPT_NS_A), C(ADAOPT_NS_B), C(ADAOPT_NS_C),
    C(ADAOPT_NS_STEPS), C(ADAOPT_ADJUST_LR_FN), C(ADAOPT_USE_MUON),
    /* adaopt_adjust_lr */
    C(ADAOPT_ADJUST_ORIGINAL), C(ADAOPT_ADJUST_MATCH_RMS_ADAMW),
    C(ADAOPT_ADJUST_SPECTRAL_UNCLAMPED),
    /* adaopt_torch_arith */
    C(ADAOPT_TORCH_1), C(ADAOPT_TORCH_2),
    /* adaopt_dtype */
    C(ADAOPT_DTYPE_F32), C(ADAOPT_DTYPE_BF16), C(ADAOPT_DTYPE_F16),
    /* adaopt_param_update */
    C(ADAOPT_UPDATE_MASTER), C(ADAOPT_UPDATE_MASTER_SR), C(ADAOPT_UPDATE_SR),
    C(ADAOPT_UPDATE_NEAREST),
    /* adaopt_state_storage */
    C(ADAOPT_STORAGE_F32), C(ADAOPT_STORAGE_BF16), C(ADAOPT_STORAGE_8BIT),
    /* adaopt_isa */
    C(ADAOPT_ISA_AUTO), C(ADAOPT_ISA_SCALAR), C(ADAOPT_ISA_AVX2), C(ADAOPT_ISA_AVX512),
    C(ADAOPT_ISA_NEON),
    /* adaopt_nonfinite_policy */
    C(ADAOPT_NONFINITE_PROPAGATE), C(ADAOPT_NONFINITE_SKIP), C(ADAOPT_NONFINITE_ERROR),
    /* adaopt_state_kind */
    C(ADAOPT_STATE_STEP), C(ADAOPT_STATE_MU_PRODUCT), C(ADAOPT_STATE_MOMENTUM_BUFFER),
    C(ADAOPT_STATE_SUM), C(ADAOPT_STATE_SQUARE_AVG), C(ADAOPT_STATE_GRAD_AVG),
    C(ADAOPT_STATE_EXP_AVG), C(ADAOPT_STATE_EXP_AVG_SQ), C(ADAOPT_STATE_MAX_EXP_AVG_SQ),
    C(ADAOPT_STATE_EXP_INF), C(ADAOPT_STATE_MASTER), C(ADAOPT_STATE_Z), C(ADAOPT_STATE_K),
    C(ADAOPT_STATE_WEIGHT_SUM), C(ADAOPT_STATE_LR_MAX), C(ADAOPT_STATE_SCHEDULED_LR),
    C(ADAOPT_STATE_TRAIN_MODE), C(ADAOPT_STATE_WEIGHT_NORM), C(ADAOPT_STATE_ADAM_NORM),
    C(ADAOPT_STATE_TRUST_RATIO), C(ADAOPT_STATE_ROW_VAR), C(ADAOPT_STATE_COL_VAR),
    C(ADAOPT_STATE_VARIANCE), C(ADAOPT_STATE_ACC_DELTA),
    C(ADAOPT_STATE_PREV), C(ADAOPT_STATE_STEP_SIZE), C(ADAOPT_STATE_ETA), C(ADAOPT_STATE_MU),
    C(ADAOPT_STATE_AX),
    /* adaopt_schedule_kind */
    C(ADAOPT_SCHED_CONSTANT), C(ADAOPT_SCHED_STEP), C(ADAOPT_SCHED_EXPONENTIAL),
    C(ADAOPT_SCHED_COSINE), C(ADAOPT_SCHED_WARMUP_COSINE),
    C(ADAOPT_OPTION_MAX),
};
#undef C

adaopt_status adaopt_constant(const char *identifier, int *value)
{
    if (identifier == NULL || value == NULL)
        return ADAOPT_ERR_NULL;
    for (size_t k = 0; k < sizeof CONSTANTS / sizeof CONSTANTS[0]; k++) {
        if (strcmp(identifier, CONSTANTS[k].identifier) == 0) {
            *value = CONSTANTS[k].value;
            return ADAOPT_OK;
        }
    }
    return ADAOPT_ERR_VALUE;
}

/* The words of option `option`'s values 0, 1, ... (NULL-terminated), or NULL. */
static const char *const *words_of(adaopt_option option)
{
    static const char *const eps_modes[] = {"outside", "inside", "hat", NULL};
    static const char *const updates[] = {"master", "master_sr", "sr", "nearest", NULL};
    static const char *const storages[] = {"float32", "bf16", "8bit", NULL};
    static const char *const adjusts[] = {"original", "match_rms_adamw", "spectral_unclamped",
                                          NULL};
    switch (option) {
    case ADAOPT_EPS_MODE:
        return eps_modes;
    case ADAOPT_PARAM_UPDATE:
        return updates;
    case ADAOPT_STATE_STORAGE:
        return storages;
    case ADAOPT_ADJUST_LR_FN:
        return adjusts;
    default:
        return NULL;
    }
}

const char *adaopt_option_value_name(adaopt_option option, double value)
{
    const char *const *words = words_of(option);
    for (int k = 0; words != NULL && words[k] != NULL; k++)
        if (value == (double)k)
            return words[k];
    return NULL;
}

adaopt_status adaopt_option_value_from_name(adaopt_option option, const char *name,
                                            double *value)
{
    if (name == NULL || value == NULL)
        return ADAOPT_ERR_NULL;
    const char *const *words = words_of(option);
    for (int k = 0; words != NULL && words[k] != NULL; k++) {
        if (strcasecmp(name, words[k]) == 0) {
            *value = (double)k;
            return ADAOPT_OK;
        }
    }
    return ADAOPT_ERR_VALUE;
}

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
        [ADAOPT_STATE_Z] = "z",
        [ADAOPT_STATE_K] = "k",
        [ADAOPT_STATE_WEIGHT_SUM] = "weight_sum",
        [ADAOPT_STATE_LR_MAX] = "lr_max",
        [ADAOPT_STATE_SCHEDULED_LR] = "scheduled_lr",
        [ADAOPT_STATE_TRAIN_MODE] = "train_mode",
        [ADAOPT_STATE_WEIGHT_NORM] = "weight_norm",
        [ADAOPT_STATE_ADAM_NORM] = "adam_norm",
        [ADAOPT_STATE_TRUST_RATIO] = "trust_ratio",
        [ADAOPT_STATE_ROW_VAR] = "row_var",
        [ADAOPT_STATE_COL_VAR] = "col_var",
        [ADAOPT_STATE_VARIANCE] = "variance",
        [ADAOPT_STATE_ACC_DELTA] = "acc_delta",
        [ADAOPT_STATE_PREV] = "prev",
        [ADAOPT_STATE_STEP_SIZE] = "step_size",
        [ADAOPT_STATE_ETA] = "eta",
        [ADAOPT_STATE_MU] = "mu",
        [ADAOPT_STATE_AX] = "ax",
    };
    return kind >= ADAOPT_STATE_STEP && kind <= ADAOPT_STATE_AX ? names[kind] : NULL;
}

adaopt_status adaopt_state_from_name(const char *name, adaopt_state_kind *kind)
{
    if (name == NULL || kind == NULL)
        return ADAOPT_ERR_NULL;
    for (int k = ADAOPT_STATE_STEP; adaopt_state_name((adaopt_state_kind)k) != NULL; k++) {
        if (strcmp(name, adaopt_state_name((adaopt_state_kind)k)) == 0) {
            *kind = (adaopt_state_kind)k;
            return ADAOPT_OK;
        }
    }
    return ADAOPT_ERR_STATE;
}

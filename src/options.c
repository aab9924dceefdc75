/*
 * options.c -- names and valid ranges of every hyperparameter; which algorithm takes which, and
 * its default, are in the algorithm rows (src/algorithms/).  These are the single source for
 * docs/OPTIONS.md and the Python binding's keywords.
 */
#include <float.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "algorithms/algorithm.h"


typedef struct option_info {
    const char *name;
    enum adaopt__range kind;
} option_info;

static const option_info OPTIONS[ADAOPT_OPTION_MAX + 1] = {
    [ADAOPT_LR] = {"lr", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_BETA1] = {"beta1", ADAOPT__RANGE_UNIT_OPEN},
    [ADAOPT_BETA2] = {"beta2", ADAOPT__RANGE_UNIT_OPEN},
    [ADAOPT_EPS] = {"eps", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_WEIGHT_DECAY] = {"weight_decay", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_MOMENTUM] = {"momentum", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_DAMPENING] = {"dampening", ADAOPT__RANGE_FINITE},
    [ADAOPT_NESTEROV] = {"nesterov", ADAOPT__RANGE_BOOLEAN},
    [ADAOPT_MAXIMIZE] = {"maximize", ADAOPT__RANGE_BOOLEAN},
    [ADAOPT_AMSGRAD] = {"amsgrad", ADAOPT__RANGE_BOOLEAN},
    [ADAOPT_CENTERED] = {"centered", ADAOPT__RANGE_BOOLEAN},
    [ADAOPT_ALPHA] = {"alpha", ADAOPT__RANGE_NONNEGATIVE}, /* RMSProp's < 1: its row */
    [ADAOPT_LR_DECAY] = {"lr_decay", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_INITIAL_ACCUMULATOR_VALUE] = {"initial_accumulator_value", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_MOMENTUM_DECAY] = {"momentum_decay", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_DECOUPLED_WEIGHT_DECAY] = {"decoupled_weight_decay", ADAOPT__RANGE_BOOLEAN},
    [ADAOPT_EPS_MODE] = {"eps_mode", ADAOPT__RANGE_EPS_MODE},
    [ADAOPT_PARAM_UPDATE] = {"param_update", ADAOPT__RANGE_CHOICE},
    [ADAOPT_STATE_STORAGE] = {"state_storage", ADAOPT__RANGE_CHOICE},
    [ADAOPT_MIN_8BIT_NUMEL] = {"min_8bit_numel", ADAOPT__RANGE_COUNT},
    [ADAOPT_WARMUP_STEPS] = {"warmup_steps", ADAOPT__RANGE_COUNT},
    [ADAOPT_R] = {"r", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_WEIGHT_LR_POWER] = {"weight_lr_power", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_WEIGHT_DECOUPLE] = {"weight_decouple", ADAOPT__RANGE_BOOLEAN},
    [ADAOPT_FIXED_DECAY] = {"fixed_decay", ADAOPT__RANGE_BOOLEAN},
    [ADAOPT_GRAD_AVERAGING] = {"grad_averaging", ADAOPT__RANGE_BOOLEAN},
    [ADAOPT_ADAM_UPDATE] = {"adam", ADAOPT__RANGE_BOOLEAN},
    [ADAOPT_CLAMP] = {"clamp", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_BETA2_DECAY] = {"beta2_decay", ADAOPT__RANGE_NONPOSITIVE},
    [ADAOPT_EPS1] = {"eps1", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_EPS2] = {"eps2", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_D] = {"d", ADAOPT__RANGE_AT_LEAST_ONE},
    [ADAOPT_TORCH] = {"torch", ADAOPT__RANGE_TORCH_ARITH},
    [ADAOPT_RHO] = {"rho", ADAOPT__RANGE_UNIT_OPEN},
    [ADAOPT_ETA_MINUS] = {"eta_minus", ADAOPT__RANGE_INSIDE_UNIT},
    [ADAOPT_ETA_PLUS] = {"eta_plus", ADAOPT__RANGE_ABOVE_ONE},
    [ADAOPT_STEP_SIZE_MIN] = {"step_size_min", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_STEP_SIZE_MAX] = {"step_size_max", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_LAMBD] = {"lambd", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_T0] = {"t0", ADAOPT__RANGE_NONNEGATIVE},
    [ADAOPT_NS_A] = {"ns_a", ADAOPT__RANGE_FINITE},
    [ADAOPT_NS_B] = {"ns_b", ADAOPT__RANGE_FINITE},
    [ADAOPT_NS_C] = {"ns_c", ADAOPT__RANGE_FINITE},
    [ADAOPT_NS_STEPS] = {"ns_steps", ADAOPT__RANGE_COUNT},
    [ADAOPT_ADJUST_LR_FN] = {"adjust_lr_fn", ADAOPT__RANGE_CHOICE},
    [ADAOPT_USE_MUON] = {"use_muon", ADAOPT__RANGE_BOOLEAN},
};

/* The options every algorithm takes, with their defaults (the rows list the rest). */
static const adaopt__option_default COMMON[] = {
    {ADAOPT_MAXIMIZE, 0.0},
    {ADAOPT_PARAM_UPDATE, ADAOPT_UPDATE_MASTER},
    {ADAOPT_STATE_STORAGE, ADAOPT_STORAGE_F32},
    {ADAOPT_MIN_8BIT_NUMEL, 4096},
    {0, 0.0}};


/* The entry of `option` in list `l` (ended by option 0), or NULL. */
static const adaopt__option_default *find(const adaopt__option_default *l, adaopt_option option)
{
    for (; l->option != 0; l++)
        if (l->option == option)
            return l;
    return NULL;
}

/* The algorithm's default of an option it takes, or NULL. */
static const adaopt__option_default *entry(adaopt_algorithm algorithm, adaopt_option option)
{
    const adaopt__algorithm *a = adaopt__algo(algorithm);
    if (a == NULL)
        return NULL;
    const adaopt__option_default *e = find(COMMON, option);
    return e != NULL ? e : find(a->options, option);
}

int adaopt__algorithm_valid(adaopt_algorithm algorithm)
{
    return adaopt__algo(algorithm) != NULL;
}

static int option_valid(adaopt_option option)
{
    return option >= ADAOPT_LR && option <= ADAOPT_OPTION_MAX;
}

int adaopt__option_applies(adaopt_algorithm algorithm, adaopt_option option)
{
    return option_valid(option) && entry(algorithm, option) != NULL;
}

const char *adaopt_algorithm_name(adaopt_algorithm algorithm)
{
    const adaopt__algorithm *a = adaopt__algo(algorithm);
    return a != NULL ? a->name : NULL;
}

adaopt_status adaopt_algorithm_from_name(const char *name, adaopt_algorithm *algorithm)
{
    if (name == NULL || algorithm == NULL)
        return ADAOPT_ERR_NULL;
    for (int a = 1; adaopt__algo((adaopt_algorithm)a) != NULL; a++) {
        if (strcasecmp(name, adaopt__algo((adaopt_algorithm)a)->name) == 0) {
            *algorithm = (adaopt_algorithm)a;
            return ADAOPT_OK;
        }
    }
    return ADAOPT_ERR_ALGORITHM;
}

const char *adaopt_option_name(adaopt_option option)
{
    return option_valid(option) ? OPTIONS[option].name : NULL;
}

adaopt_status adaopt_option_from_name(const char *name, adaopt_option *option)
{
    if (name == NULL || option == NULL)
        return ADAOPT_ERR_NULL;
    for (int o = ADAOPT_LR; o <= ADAOPT_OPTION_MAX; o++) {
        if (strcmp(name, OPTIONS[o].name) == 0) {
            *option = (adaopt_option)o;
            return ADAOPT_OK;
        }
    }
    return ADAOPT_ERR_OPTION;
}

adaopt_status adaopt_default(adaopt_algorithm algorithm, adaopt_option option, double *value)
{
    if (value == NULL)
        return ADAOPT_ERR_NULL;
    if (!adaopt__algorithm_valid(algorithm))
        return ADAOPT_ERR_ALGORITHM;
    if (!adaopt__option_applies(algorithm, option))
        return ADAOPT_ERR_OPTION;
    *value = entry(algorithm, option)->value;
    return ADAOPT_OK;
}

adaopt_status adaopt__check_value(adaopt_optimizer *opt, adaopt_algorithm algorithm,
                                  adaopt_option option, double value)
{
    if (!option_valid(option))
        return adaopt__fail(opt, ADAOPT_ERR_OPTION, "unknown option %d", (int)option);
    const option_info *info = &OPTIONS[option];
    if (!adaopt__option_applies(algorithm, option))
        return adaopt__fail(opt, ADAOPT_ERR_OPTION, "%s has no option '%s'",
                            adaopt_algorithm_name(algorithm), info->name);
    if (!isfinite(value))
        return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be finite (got %g)", info->name,
                            value);
    if (fabs(value) > FLT_MAX) /* the step computes in float32: 1e300 would be infinite there */
        return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be finite in float32, |%s| <= "
                            "3.4e38 (got %g)", info->name, info->name, value);
    const adaopt__algorithm *a = adaopt__algo(algorithm);
    if (a->check_value != NULL) {
        adaopt_status st = a->check_value(opt, option, value);
        if (st != ADAOPT_OK)
            return st;
    }
    switch (info->kind) {
    case ADAOPT__RANGE_NONNEGATIVE:
        if (value < 0.0)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be >= 0 (got %g)", info->name,
                                value);
        break;
    case ADAOPT__RANGE_UNIT_OPEN:
        if (value < 0.0 || value >= 1.0)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be in [0, 1) (got %g)",
                                info->name, value);
        break;
    case ADAOPT__RANGE_BOOLEAN:
        if (value != 0.0 && value != 1.0)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s is a boolean: 0 or 1 (got %g)",
                                info->name, value);
        break;
    case ADAOPT__RANGE_EPS_MODE: {
        int hat_ok = (a->eps_modes >> ADAOPT_EPS_HAT) & 1u;
        if (!(value == floor(value) && value >= 0.0 && value <= ADAOPT_EPS_HAT &&
              ((a->eps_modes >> (int)value) & 1u)))
            return adaopt__fail(opt, ADAOPT_ERR_VALUE,
                                "eps_mode %g is not supported by %s (0 outside, 1 inside%s)",
                                value, a->name, hat_ok ? ", 2 hat" : "");
        break;
    }
    case ADAOPT__RANGE_CHOICE: {
        int choices = option == ADAOPT_PARAM_UPDATE ? 4 : 3; /* (state_storage, adjust_lr_fn: 3) */
        if (!(value >= 0.0 && value < choices && value == floor(value)))
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be 0..%d (got %g)", info->name,
                                choices - 1, value);
        break;
    }
    case ADAOPT__RANGE_COUNT:
        if (!(value >= 0.0 && value <= 9007199254740992.0 && value == floor(value)))
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be a whole number >= 0 (got %g)",
                                info->name, value);
        break;
    case ADAOPT__RANGE_NONPOSITIVE:
        if (value > 0.0)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be <= 0 (got %g)", info->name,
                                value);
        break;
    case ADAOPT__RANGE_AT_LEAST_ONE:
        if (value < 1.0)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be >= 1 (got %g)", info->name,
                                value);
        break;
    case ADAOPT__RANGE_TORCH_ARITH:
        if (value != ADAOPT_TORCH_1 && value != ADAOPT_TORCH_2)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "torch is the torch.optim version whose "
                                "rounding to repeat: 1 (torch 1.13) or 2 (torch 2.x) (got %g)",
                                value);
        break;
    case ADAOPT__RANGE_INSIDE_UNIT:
        if (!(value > 0.0 && value < 1.0))
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be in (0, 1) (got %g)",
                                info->name, value);
        break;
    case ADAOPT__RANGE_ABOVE_ONE:
        if (!(value > 1.0))
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be > 1 (got %g)", info->name,
                                value);
        break;
    case ADAOPT__RANGE_FINITE:
        break;
    }
    return ADAOPT_OK;
}

adaopt_status adaopt_check_option(adaopt_algorithm algorithm, adaopt_option option, double value)
{
    if (!adaopt__algorithm_valid(algorithm))
        return ADAOPT_ERR_ALGORITHM;
    return adaopt__check_value(NULL, algorithm, option, value);
}

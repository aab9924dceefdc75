/*
 * options.c -- names, defaults, applicability and valid ranges of every hyperparameter.
 * This table is the single source for docs/OPTIONS.md and the Python binding's keywords.
 */
#include <float.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define ALGO_BIT(a) (1u << (a))
#define ALL_ALGOS                                                                             \
    (ALGO_BIT(ADAOPT_ALGO_SGD) | ALGO_BIT(ADAOPT_ALGO_ADAGRAD) | ALGO_BIT(ADAOPT_ALGO_RMSPROP) | \
     ALGO_BIT(ADAOPT_ALGO_ADAM) | ALGO_BIT(ADAOPT_ALGO_ADAMW) | ALGO_BIT(ADAOPT_ALGO_ADAMAX) |   \
     ALGO_BIT(ADAOPT_ALGO_NADAM) | ALGO_BIT(ADAOPT_ALGO_RADAM) | ALGO_BIT(ADAOPT_ALGO_LION) |  \
     ALGO_BIT(ADAOPT_ALGO_ADAMW_SCHEDULE_FREE) | ALGO_BIT(ADAOPT_ALGO_LAMB) |                    \
     ALGO_BIT(ADAOPT_ALGO_ADAFACTOR))
#define SCHEDULE_FREE ALGO_BIT(ADAOPT_ALGO_ADAMW_SCHEDULE_FREE)
#define LAMB ALGO_BIT(ADAOPT_ALGO_LAMB)
#define ADAFACTOR ALGO_BIT(ADAOPT_ALGO_ADAFACTOR)
#define CLASSIC                                                                               \
    (ALGO_BIT(ADAOPT_ALGO_SGD) | ALGO_BIT(ADAOPT_ALGO_ADAGRAD) | ALGO_BIT(ADAOPT_ALGO_RMSPROP) | \
     ALGO_BIT(ADAOPT_ALGO_ADAM) | ALGO_BIT(ADAOPT_ALGO_ADAMW) | ALGO_BIT(ADAOPT_ALGO_ADAMAX) |   \
     ALGO_BIT(ADAOPT_ALGO_NADAM) | ALGO_BIT(ADAOPT_ALGO_RADAM))
#define ADAM_FAMILY                                                                           \
    (ALGO_BIT(ADAOPT_ALGO_ADAM) | ALGO_BIT(ADAOPT_ALGO_ADAMW) | ALGO_BIT(ADAOPT_ALGO_ADAMAX) |  \
     ALGO_BIT(ADAOPT_ALGO_NADAM) | ALGO_BIT(ADAOPT_ALGO_RADAM))

enum value_kind {
    NONNEGATIVE, /* [0, inf) */
    UNIT_OPEN,   /* [0, 1) */
    FINITE,      /* any finite value */
    BOOLEAN,     /* 0 or 1 */
    EPS_MODE,    /* an adaopt_eps_mode the algorithm supports */
    CHOICE,      /* a whole number in [0, choices) */
    COUNT,       /* a whole number in [0, 2^53] */
    NONPOSITIVE, /* (-inf, 0] */
    AT_LEAST_ONE, /* [1, inf) */
    TORCH_ARITH   /* an adaopt_torch_arith: 1 or 2 */
};

typedef struct option_info {
    const char *name;
    unsigned algorithms; /* ALGO_BIT mask */
    enum value_kind kind;
    double fallback;     /* default where default_for does not say otherwise */
} option_info;

static const option_info OPTIONS[ADAOPT_OPTION_MAX + 1] = {
    [ADAOPT_LR] = {"lr", ALL_ALGOS, NONNEGATIVE, 1e-3},
    [ADAOPT_BETA1] = {"beta1", ADAM_FAMILY | ALGO_BIT(ADAOPT_ALGO_LION) | SCHEDULE_FREE | LAMB,
                      UNIT_OPEN, 0.9},
    [ADAOPT_BETA2] = {"beta2", ADAM_FAMILY | ALGO_BIT(ADAOPT_ALGO_LION) | SCHEDULE_FREE | LAMB,
                      UNIT_OPEN, 0.999},
    [ADAOPT_EPS] = {"eps", ALL_ALGOS & ~ALGO_BIT(ADAOPT_ALGO_SGD) & ~ALGO_BIT(ADAOPT_ALGO_LION) &
                               ~ADAFACTOR,
                    NONNEGATIVE, 1e-8},
    [ADAOPT_WEIGHT_DECAY] = {"weight_decay", ALL_ALGOS, NONNEGATIVE, 0.0},
    [ADAOPT_MOMENTUM] = {"momentum", ALGO_BIT(ADAOPT_ALGO_SGD) | ALGO_BIT(ADAOPT_ALGO_RMSPROP),
                         NONNEGATIVE, 0.0},
    [ADAOPT_DAMPENING] = {"dampening", ALGO_BIT(ADAOPT_ALGO_SGD), FINITE, 0.0},
    [ADAOPT_NESTEROV] = {"nesterov", ALGO_BIT(ADAOPT_ALGO_SGD), BOOLEAN, 0.0},
    [ADAOPT_MAXIMIZE] = {"maximize", ALL_ALGOS, BOOLEAN, 0.0},
    [ADAOPT_AMSGRAD] = {"amsgrad", ALGO_BIT(ADAOPT_ALGO_ADAM) | ALGO_BIT(ADAOPT_ALGO_ADAMW),
                        BOOLEAN, 0.0},
    [ADAOPT_CENTERED] = {"centered", ALGO_BIT(ADAOPT_ALGO_RMSPROP), BOOLEAN, 0.0},
    [ADAOPT_ALPHA] = {"alpha", ALGO_BIT(ADAOPT_ALGO_RMSPROP), UNIT_OPEN, 0.99},
    [ADAOPT_LR_DECAY] = {"lr_decay", ALGO_BIT(ADAOPT_ALGO_ADAGRAD), NONNEGATIVE, 0.0},
    [ADAOPT_INITIAL_ACCUMULATOR_VALUE] = {"initial_accumulator_value",
                                          ALGO_BIT(ADAOPT_ALGO_ADAGRAD), NONNEGATIVE, 0.0},
    [ADAOPT_MOMENTUM_DECAY] = {"momentum_decay", ALGO_BIT(ADAOPT_ALGO_NADAM), NONNEGATIVE, 4e-3},
    [ADAOPT_DECOUPLED_WEIGHT_DECAY] = {"decoupled_weight_decay",
                                       ALGO_BIT(ADAOPT_ALGO_NADAM) | ALGO_BIT(ADAOPT_ALGO_RADAM),
                                       BOOLEAN, 0.0},
    [ADAOPT_EPS_MODE] = {"eps_mode",
                         ALGO_BIT(ADAOPT_ALGO_ADAGRAD) | ALGO_BIT(ADAOPT_ALGO_RMSPROP) |
                             ALGO_BIT(ADAOPT_ALGO_ADAM) | ALGO_BIT(ADAOPT_ALGO_ADAMW) |
                             ALGO_BIT(ADAOPT_ALGO_NADAM) | ALGO_BIT(ADAOPT_ALGO_RADAM),
                         EPS_MODE, ADAOPT_EPS_OUTSIDE},
    [ADAOPT_PARAM_UPDATE] = {"param_update", ALL_ALGOS, CHOICE, ADAOPT_UPDATE_MASTER},
    [ADAOPT_STATE_STORAGE] = {"state_storage", ALL_ALGOS, CHOICE, ADAOPT_STORAGE_F32},
    [ADAOPT_MIN_8BIT_NUMEL] = {"min_8bit_numel", ALL_ALGOS, COUNT, 4096},
    [ADAOPT_WARMUP_STEPS] = {"warmup_steps", SCHEDULE_FREE, COUNT, 0.0},
    [ADAOPT_R] = {"r", SCHEDULE_FREE, NONNEGATIVE, 0.0},
    [ADAOPT_WEIGHT_LR_POWER] = {"weight_lr_power", SCHEDULE_FREE, NONNEGATIVE, 2.0},
    [ADAOPT_WEIGHT_DECOUPLE] = {"weight_decouple", LAMB, BOOLEAN, 1.0},
    [ADAOPT_FIXED_DECAY] = {"fixed_decay", LAMB, BOOLEAN, 0.0},
    [ADAOPT_GRAD_AVERAGING] = {"grad_averaging", LAMB, BOOLEAN, 1.0},
    [ADAOPT_ADAM_UPDATE] = {"adam", LAMB, BOOLEAN, 0.0},
    [ADAOPT_CLAMP] = {"clamp", LAMB, NONNEGATIVE, 10.0},
    [ADAOPT_BETA2_DECAY] = {"beta2_decay", ADAFACTOR, NONPOSITIVE, -0.8},
    [ADAOPT_EPS1] = {"eps1", ADAFACTOR, NONNEGATIVE, 1.1920928955078125e-07}, /* FLT_EPSILON */
    [ADAOPT_EPS2] = {"eps2", ADAFACTOR, NONNEGATIVE, 1e-3},
    [ADAOPT_D] = {"d", ADAFACTOR, AT_LEAST_ONE, 1.0},
    [ADAOPT_TORCH] = {"torch", CLASSIC, TORCH_ARITH, ADAOPT_TORCH_2},
};

static const char *const ALGORITHM_NAMES[] = {
    [ADAOPT_ALGO_SGD] = "sgd",       [ADAOPT_ALGO_ADAGRAD] = "adagrad",
    [ADAOPT_ALGO_RMSPROP] = "rmsprop", [ADAOPT_ALGO_ADAM] = "adam",
    [ADAOPT_ALGO_ADAMW] = "adamw",   [ADAOPT_ALGO_ADAMAX] = "adamax",
    [ADAOPT_ALGO_NADAM] = "nadam",   [ADAOPT_ALGO_RADAM] = "radam",
    [ADAOPT_ALGO_LION] = "lion",     [ADAOPT_ALGO_ADAMW_SCHEDULE_FREE] = "adamw_schedulefree",
    [ADAOPT_ALGO_LAMB] = "lamb",     [ADAOPT_ALGO_ADAFACTOR] = "adafactor",
};

int adaopt__algorithm_valid(adaopt_algorithm algorithm)
{
    return algorithm >= ADAOPT_ALGO_SGD && algorithm <= ADAOPT_ALGO_ADAFACTOR;
}

static int option_valid(adaopt_option option)
{
    return option >= ADAOPT_LR && option <= ADAOPT_OPTION_MAX;
}

int adaopt__option_applies(adaopt_algorithm algorithm, adaopt_option option)
{
    return adaopt__algorithm_valid(algorithm) && option_valid(option) &&
           (OPTIONS[option].algorithms & ALGO_BIT(algorithm)) != 0;
}

const char *adaopt_algorithm_name(adaopt_algorithm algorithm)
{
    return adaopt__algorithm_valid(algorithm) ? ALGORITHM_NAMES[algorithm] : NULL;
}

adaopt_status adaopt_algorithm_from_name(const char *name, adaopt_algorithm *algorithm)
{
    if (name == NULL || algorithm == NULL)
        return ADAOPT_ERR_NULL;
    for (int a = ADAOPT_ALGO_SGD; a <= ADAOPT_ALGO_ADAFACTOR; a++) {
        if (strcasecmp(name, ALGORITHM_NAMES[a]) == 0) {
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
    double v = OPTIONS[option].fallback;
    switch (option) { /* where torch.optim's defaults differ between algorithms */
    case ADAOPT_LR:
        if (algorithm == ADAOPT_ALGO_ADAGRAD || algorithm == ADAOPT_ALGO_RMSPROP ||
            algorithm == ADAOPT_ALGO_ADAFACTOR)
            v = 1e-2;
        else if (algorithm == ADAOPT_ALGO_ADAMAX || algorithm == ADAOPT_ALGO_NADAM)
            v = 2e-3;
        else if (algorithm == ADAOPT_ALGO_LION)
            v = 1e-4; /* lion-pytorch */
        else if (algorithm == ADAOPT_ALGO_ADAMW_SCHEDULE_FREE)
            v = 2.5e-3; /* schedulefree */
        break;
    case ADAOPT_BETA2:
        if (algorithm == ADAOPT_ALGO_LION)
            v = 0.99;
        break;
    case ADAOPT_EPS:
        if (algorithm == ADAOPT_ALGO_ADAGRAD)
            v = 1e-10;
        else if (algorithm == ADAOPT_ALGO_LAMB)
            v = 1e-6; /* pytorch-optimizer */
        break;
    case ADAOPT_WEIGHT_DECAY:
        if (algorithm == ADAOPT_ALGO_ADAMW)
            v = 1e-2;
        break;
    case ADAOPT_EPS_MODE:
        if (algorithm == ADAOPT_ALGO_RADAM)
            v = ADAOPT_EPS_HAT; /* torch's RAdam: sqrt(bc2) / (sqrt(v) + eps) */
        break;
    default:
        break;
    }
    *value = v;
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
    if (algorithm == ADAOPT_ALGO_ADAMW_SCHEDULE_FREE) {
        if (option == ADAOPT_BETA1 && value == 0.0)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE,
                                "beta1 must be in (0, 1) for adamw_schedulefree (got 0): x is "
                                "recovered from y and z through 1/beta1");
        if (option == ADAOPT_STATE_STORAGE && value != ADAOPT_STORAGE_F32)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE,
                                "adamw_schedulefree keeps float32 state (got state_storage %g): "
                                "its z is a copy of the weights, which bf16 or 8-bit codes "
                                "would round", value);
    }
    switch (info->kind) {
    case NONNEGATIVE:
        if (value < 0.0)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be >= 0 (got %g)", info->name,
                                value);
        break;
    case UNIT_OPEN:
        if (value < 0.0 || value >= 1.0)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be in [0, 1) (got %g)",
                                info->name, value);
        break;
    case BOOLEAN:
        if (value != 0.0 && value != 1.0)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s is a boolean: 0 or 1 (got %g)",
                                info->name, value);
        break;
    case EPS_MODE: {
        int hat_ok = algorithm != ADAOPT_ALGO_ADAGRAD && algorithm != ADAOPT_ALGO_RMSPROP;
        if (!(value == ADAOPT_EPS_OUTSIDE || value == ADAOPT_EPS_INSIDE ||
              (value == ADAOPT_EPS_HAT && hat_ok)))
            return adaopt__fail(opt, ADAOPT_ERR_VALUE,
                                "eps_mode %g is not supported by %s (0 outside, 1 inside%s)",
                                value, adaopt_algorithm_name(algorithm), hat_ok ? ", 2 hat" : "");
        break;
    }
    case CHOICE: {
        int choices = option == ADAOPT_PARAM_UPDATE ? 4 : 3; /* adaopt_param_update, _storage */
        if (!(value >= 0.0 && value < choices && value == floor(value)))
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be 0..%d (got %g)", info->name,
                                choices - 1, value);
        break;
    }
    case COUNT:
        if (!(value >= 0.0 && value <= 9007199254740992.0 && value == floor(value)))
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be a whole number >= 0 (got %g)",
                                info->name, value);
        break;
    case NONPOSITIVE:
        if (value > 0.0)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be <= 0 (got %g)", info->name,
                                value);
        break;
    case AT_LEAST_ONE:
        if (value < 1.0)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s must be >= 1 (got %g)", info->name,
                                value);
        break;
    case TORCH_ARITH:
        if (value != ADAOPT_TORCH_1 && value != ADAOPT_TORCH_2)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "torch is the torch.optim version whose "
                                "rounding to repeat: 1 (torch 1.13) or 2 (torch 2.x) (got %g)",
                                value);
        break;
    case FINITE:
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

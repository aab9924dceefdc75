/*
 * config.c -- torch-style hyperparameter flags to an adaopt optimizer.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int parse_number(const char *s, double *out)
{
    char *end;
    if (s == NULL || *s == '\0')
        return -1;
    double v = strtod(s, &end);
    if (*end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int config_init(opt_config *c, const char *algorithm_name)
{
    memset(c, 0, sizeof *c);
    return adaopt_algorithm_from_name(algorithm_name, &c->algorithm) == ADAOPT_OK ? 0 : -1;
}

int config_set(opt_config *c, adaopt_option option, double value, char *err, size_t errlen)
{
    adaopt_status st = adaopt_check_option(c->algorithm, option, value);
    if (st != ADAOPT_OK) {
        snprintf(err, errlen, "%s=%g is not valid for %s: %s", adaopt_option_name(option), value,
                 adaopt_algorithm_name(c->algorithm), adaopt_status_name(st));
        return -1;
    }
    for (size_t k = 0; k < c->n; k++) {
        if (c->option[k] == option) {
            c->value[k] = value;
            return 0;
        }
    }
    if (c->n == CONFIG_MAX_OPTIONS) {
        snprintf(err, errlen, "too many options");
        return -1;
    }
    c->option[c->n] = option;
    c->value[c->n++] = value;
    return 0;
}

static int is_boolean(adaopt_option o)
{
    return o == ADAOPT_NESTEROV || o == ADAOPT_MAXIMIZE || o == ADAOPT_AMSGRAD ||
           o == ADAOPT_CENTERED || o == ADAOPT_DECOUPLED_WEIGHT_DECAY ||
           o == ADAOPT_WEIGHT_DECOUPLE || o == ADAOPT_FIXED_DECAY || o == ADAOPT_GRAD_AVERAGING ||
           o == ADAOPT_ADAM_UPDATE;
}

int config_parse_arg(opt_config *c, int argc, char **argv, int *i, char *err, size_t errlen)
{
    const char *arg = argv[*i];
    if (strncmp(arg, "--", 2) != 0)
        return 0;
    char name[64];
    const char *eq = strchr(arg + 2, '=');
    size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    if (len == 0 || len >= sizeof name)
        return 0;
    for (size_t k = 0; k < len; k++) /* --weight-decay and --weight_decay alike */
        name[k] = arg[2 + k] == '-' ? '_' : arg[2 + k];
    name[len] = '\0';

    int betas = strcmp(name, "betas") == 0;
    adaopt_option option = ADAOPT_LR;
    if (!betas && adaopt_option_from_name(name, &option) != ADAOPT_OK)
        return 0;
    const char *value = eq ? eq + 1 : NULL;
    if (value == NULL && !(!betas && is_boolean(option))) {
        if (*i + 1 >= argc) {
            snprintf(err, errlen, "--%s needs a value", name);
            return -1;
        }
        value = argv[++*i];
    }
    if (betas) {
        double b1, b2;
        char buf[128];
        snprintf(buf, sizeof buf, "%s", value);
        char *comma = strchr(buf, ',');
        if (comma == NULL) {
            snprintf(err, errlen, "--betas needs two numbers: --betas 0.9,0.999 (got '%s')", value);
            return -1;
        }
        *comma = '\0';
        if (parse_number(buf, &b1) || parse_number(comma + 1, &b2)) {
            snprintf(err, errlen, "--betas: '%s' is not two numbers", value);
            return -1;
        }
        if (config_set(c, ADAOPT_BETA1, b1, err, errlen) || config_set(c, ADAOPT_BETA2, b2, err, errlen))
            return -1;
        return 1;
    }
    double v;
    if (option == ADAOPT_EPS_MODE && value != NULL && !parse_number(value, &v)) {
        /* a number is accepted too */
    } else if (option == ADAOPT_EPS_MODE) {
        if (strcmp(value, "outside") == 0)
            v = ADAOPT_EPS_OUTSIDE;
        else if (strcmp(value, "inside") == 0)
            v = ADAOPT_EPS_INSIDE;
        else if (strcmp(value, "hat") == 0)
            v = ADAOPT_EPS_HAT;
        else {
            snprintf(err, errlen, "--eps-mode is outside, inside or hat (got '%s')", value);
            return -1;
        }
    } else if (value == NULL) {
        v = 1.0; /* a bare boolean flag */
    } else if (is_boolean(option) && (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)) {
        v = value[0] == 't';
    } else if (parse_number(value, &v)) {
        snprintf(err, errlen, "--%s: '%s' is not a number", name, value);
        return -1;
    }
    return config_set(c, option, v, err, errlen) ? -1 : 1;
}

adaopt_optimizer *config_create(const opt_config *c, size_t numel, char *err, size_t errlen)
{
    adaopt_optimizer *opt;
    size_t group;
    if (adaopt_create(c->algorithm, &opt) != ADAOPT_OK) {
        snprintf(err, errlen, "cannot create the optimizer");
        return NULL;
    }
    adaopt_status st = adaopt_add_group(opt, &numel, 1, &group);
    for (size_t k = 0; k < c->n && st == ADAOPT_OK; k++)
        st = adaopt_set(opt, group, c->option[k], c->value[k]);
    if (st == ADAOPT_OK)
        st = adaopt_set_threads(opt, 1); /* tiny problems: no threads */
    if (st != ADAOPT_OK) {
        snprintf(err, errlen, "%s", adaopt_last_error(opt));
        adaopt_destroy(opt);
        return NULL;
    }
    return opt;
}

/*
 * configure.c -- several hyperparameters from one string of torch.optim keywords:
 *   adaopt_set_options(opt, group, "lr=3e-4, betas=0.9,0.95, weight_decay=0.1")
 * Every name and value goes through the same table and checks as adaopt_set (options.c); the
 * whole string is parsed and checked before any group changes.
 */
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

enum { MAX_ITEMS = ADAOPT_OPTION_MAX + 2, MAX_TOKEN = 64 };

static int is_separator(char c)
{
    return c == ',' || c == ';' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A number in C syntax whatever the program's locale: strtod reads the locale's decimal point,
 * so a '.' is swapped for it when the first reading stops there. */
static int parse_double(const char *token, double *out)
{
    char *end, local[MAX_TOKEN + 8]; /* (end may point into local below: same scope) */
    double v = strtod(token, &end);
    if (*end == '.' && *token != '\0') {
        const char *point = localeconv()->decimal_point;
        size_t plen = strlen(point), n = 0;
        for (const char *c = token; *c != '\0' && n + plen < sizeof local; c++) {
            if (*c == '.') {
                memcpy(local + n, point, plen);
                n += plen;
            } else {
                local[n++] = *c;
            }
        }
        local[n] = '\0';
        v = strtod(local, &end);
    }
    if (end == token || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* The value of one option: a number, or a word where the option has words for its values
 * (adaopt_option_value_name's, any case; state_storage also takes "f32", adaopt_dtype_name's
 * spelling of float32). */
static int parse_value(adaopt_option option, const char *token, double *out)
{
    if (adaopt_option_value_from_name(option, token, out) == ADAOPT_OK)
        return 0;
    if (option == ADAOPT_STATE_STORAGE && strcasecmp(token, "f32") == 0) {
        *out = ADAOPT_STORAGE_F32;
        return 0;
    }
    if (strcasecmp(token, "true") == 0) {
        *out = 1.0;
        return 0;
    }
    if (strcasecmp(token, "false") == 0) {
        *out = 0.0;
        return 0;
    }
    return parse_double(token, out);
}

/* Copies the next run of characters that are not separators (or '=' when `key`) into buf;
 * returns its length, or -1 if it does not fit. */
static int read_token(const char **at, char *buf, int key)
{
    size_t n = 0;
    const char *c = *at;
    while (*c != '\0' && !is_separator(*c) && !(key && *c == '=')) {
        if (n + 1 >= MAX_TOKEN)
            return -1;
        buf[n++] = (key && *c == '-') ? '_' : *c; /* weight-decay = weight_decay */
        c++;
    }
    buf[n] = '\0';
    *at = c;
    return (int)n;
}

/* torch's keywords that hold two options. */
static const struct {
    const char *key;
    adaopt_option first, second;
    const char *hint;
} PAIRS[] = {
    {"betas", ADAOPT_BETA1, ADAOPT_BETA2, "two numbers: betas=b1,b2"},
    {"etas", ADAOPT_ETA_MINUS, ADAOPT_ETA_PLUS, "two numbers: etas=eta_minus,eta_plus"},
    {"step_sizes", ADAOPT_STEP_SIZE_MIN, ADAOPT_STEP_SIZE_MAX,
     "two numbers: step_sizes=min,max"},
};

/* After "betas=b1": the separator and b2.  Blanks may surround the comma. */
static int read_second_value(const char **at, char *buf)
{
    const char *c = *at;
    while (is_blank(*c))
        c++;
    if (*c != ',')
        return -1;
    c++;
    while (is_blank(*c))
        c++;
    *at = c;
    return read_token(at, buf, 0);
}

/* A group index or ADAOPT_ALL_GROUPS. */
static adaopt_status check_group(adaopt_optimizer *opt, size_t group)
{
    if (group != ADAOPT_ALL_GROUPS && group >= opt->n_groups)
        return adaopt__fail(opt, ADAOPT_ERR_INDEX, "group %zu out of range (%zu groups)", group,
                            opt->n_groups);
    return ADAOPT_OK;
}

/* The checked pairs, for one group or all: adaopt__set_many applies them all or none. */
static adaopt_status apply(adaopt_optimizer *opt, size_t group, const adaopt_option *chosen,
                           const double *values, size_t n)
{
    if (group == ADAOPT_ALL_GROUPS)
        return adaopt__set_many(opt, 0, opt->n_groups, chosen, values, n);
    return adaopt__set_many(opt, group, 1, chosen, values, n);
}

/* Each value as adaopt_set checks it, none twice. */
static adaopt_status check_pair(adaopt_optimizer *opt, const adaopt_option *chosen, size_t n,
                                adaopt_option option, double value, const char *who)
{
    adaopt_status st = adaopt__check_value(opt, opt->algorithm, option, value);
    if (st != ADAOPT_OK)
        return st;
    for (size_t k = 0; k < n; k++)
        if (chosen[k] == option)
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "%s: %s is given twice", who,
                                adaopt_option_name(option));
    return ADAOPT_OK;
}

adaopt_status adaopt_set_values(adaopt_optimizer *opt, size_t group,
                                const adaopt_option_value *values, size_t n)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (values == NULL && n > 0)
        return adaopt__fail(opt, ADAOPT_ERR_NULL, "set_values: values must not be NULL");
    if (check_group(opt, group) != ADAOPT_OK)
        return ADAOPT_ERR_INDEX;
    adaopt_option chosen[MAX_ITEMS];
    double v[MAX_ITEMS];
    for (size_t k = 0; k < n; k++) {
        if (k == MAX_ITEMS) /* (more pairs than options: one must be repeated) */
            return adaopt__fail(opt, ADAOPT_ERR_VALUE, "set_values: %zu pairs for at most %d "
                                "options: one is given twice", n, ADAOPT_OPTION_MAX);
        adaopt_status st = check_pair(opt, chosen, k, values[k].option, values[k].value,
                                      "set_values");
        if (st != ADAOPT_OK)
            return st;
        chosen[k] = values[k].option;
        v[k] = values[k].value;
    }
    return apply(opt, group, chosen, v, n);
}

adaopt_status adaopt_set_options(adaopt_optimizer *opt, size_t group, const char *options)
{
    if (opt == NULL)
        return ADAOPT_ERR_NULL;
    if (options == NULL)
        return adaopt__fail(opt, ADAOPT_ERR_NULL, "set_options: the string must not be NULL");
    if (check_group(opt, group) != ADAOPT_OK)
        return ADAOPT_ERR_INDEX;
    adaopt_option chosen[MAX_ITEMS];
    double values[MAX_ITEMS];
    size_t n = 0;
    const char *at = options;
    for (;;) {
        while (is_separator(*at))
            at++;
        if (*at == '\0')
            break;
        size_t position = (size_t)(at - options);
        char key[MAX_TOKEN], token[MAX_TOKEN];
        if (read_token(&at, key, 1) <= 0 || *at != '=')
            return adaopt__fail(opt, ADAOPT_ERR_VALUE,
                                "set_options: expected name=value at position %zu of \"%.80s\"",
                                position, options);
        at++;
        adaopt_option pair[2];
        size_t n_values = 1;
        const char *hint = "a value";
        for (size_t k = 0; k < sizeof PAIRS / sizeof PAIRS[0] && n_values == 1; k++) {
            if (strcmp(key, PAIRS[k].key) == 0) {
                pair[0] = PAIRS[k].first;
                pair[1] = PAIRS[k].second;
                hint = PAIRS[k].hint;
                n_values = 2;
            }
        }
        if (n_values == 1 && adaopt_option_from_name(key, &pair[0]) != ADAOPT_OK) {
            return adaopt__fail(opt, ADAOPT_ERR_OPTION, "set_options: unknown option '%s'", key);
        }
        for (size_t v = 0; v < n_values; v++) {
            int len = v == 0 ? read_token(&at, token, 0) : read_second_value(&at, token);
            double value;
            if (len <= 0 || parse_value(pair[v], token, &value) != 0)
                return adaopt__fail(opt, ADAOPT_ERR_VALUE,
                                    "set_options: %s needs %s (at position %zu of \"%.80s\")",
                                    key, hint,
                                    position, options);
            adaopt_status st = check_pair(opt, chosen, n, pair[v], value, "set_options");
            if (st != ADAOPT_OK)
                return st;
            chosen[n] = pair[v];
            values[n++] = value;
        }
    }
    return apply(opt, group, chosen, values, n);
}

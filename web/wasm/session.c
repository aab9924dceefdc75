/*
 * session.c -- the web page's entry points into the C library, compiled to WebAssembly with the
 * library's own sources (scalar kernels, no threads) and the labs' problems and trace loop, so
 * that the page's numbers are the `adaopt trace` program's numbers.
 *
 * A session is one optimizer on one problem, set up from `adaopt trace`'s flags
 * ("--problem sparse-regression --optimizer adam --lr 0.1 --betas 0.9,0.999 --activity 0.1").
 * The page steps it and reads its point; it owns nothing global.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../labs/config.h"
#include "../../labs/problems.h"
#include "../../labs/trace.h"

#define WASM_EXPORT(name) __attribute__((export_name(#name)))

typedef struct session {
    problem p;
    adaopt_optimizer *opt;
    float x[TRACE_MAX_DIM];
    uint64_t t;
    trace_point point;
    char error[256];
} session;

enum { MAX_ARGS = 48 };

/* Memory the page fills (argument strings) or reads (points); freed with wa_free. */
WASM_EXPORT(wa_alloc) void *wa_alloc(size_t bytes)
{
    return malloc(bytes ? bytes : 1);
}

WASM_EXPORT(wa_free) void wa_free(void *p)
{
    free(p);
}

static int parse_count(const char *v, double lo, double hi, double *out)
{
    return parse_number(v, out) != 0 || *out < lo || *out > hi || *out != (double)(int64_t)*out;
}

/* Parses `args` (space-separated flags, modified in place) into a new session.  NULL on error,
 * with the message in err (errlen bytes). */
WASM_EXPORT(wa_session_new) session *wa_session_new(char *args, char *err, size_t errlen)
{
    char *argv[MAX_ARGS];
    int argc = 0;
    for (char *tok = strtok(args, " "); tok != NULL && argc < MAX_ARGS; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    const char *problem_name = NULL, *x0 = NULL;
    double a = 1.0, activity = 0.1, seed = 0;
    opt_config cfg;
    int have_cfg = 0;
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], "--optimizer") == 0) {
            if (config_init(&cfg, argv[i + 1]) != 0) {
                snprintf(err, errlen, "unknown optimizer '%s'", argv[i + 1]);
                return NULL;
            }
            have_cfg = 1;
        }
    if (!have_cfg) {
        snprintf(err, errlen, "needs --optimizer");
        return NULL;
    }
    for (int i = 0; i < argc; i++) {
        int rc = config_parse_arg(&cfg, argc, argv, &i, err, errlen);
        if (rc < 0)
            return NULL;
        if (rc > 0)
            continue;
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            snprintf(err, errlen, "%s needs a value", argv[i]);
            return NULL;
        }
        if (strcmp(argv[i], "--optimizer") == 0) {
        } else if (strcmp(argv[i], "--problem") == 0) {
            problem_name = v;
        } else if (strcmp(argv[i], "--x0") == 0) {
            x0 = v;
        } else if (strcmp(argv[i], "--a") == 0) {
            if (parse_number(v, &a)) {
                snprintf(err, errlen, "--a: '%s' is not a number", v);
                return NULL;
            }
        } else if (strcmp(argv[i], "--activity") == 0) {
            if (parse_number(v, &activity) || activity < 0 || activity > 1) {
                snprintf(err, errlen, "--activity: '%s' is not in [0, 1]", v);
                return NULL;
            }
        } else if (strcmp(argv[i], "--seed") == 0) {
            if (parse_count(v, 0, 9007199254740992.0, &seed)) {
                snprintf(err, errlen, "--seed: '%s' is not a whole number", v);
                return NULL;
            }
        } else {
            snprintf(err, errlen, "unknown argument '%s'", argv[i]);
            return NULL;
        }
        i++;
    }
    if (problem_name == NULL) {
        snprintf(err, errlen, "needs --problem");
        return NULL;
    }
    session *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int dim = 0;
    if (x0 != NULL) {
        /* Numbers separated by commas, each whole and finite, as the CLI's --x0. */
        const char *q = x0;
        for (;;) {
            char *end;
            double v = strtod(q, &end);
            if (end == q || !(v > -1e30 && v < 1e30) || dim == TRACE_MAX_DIM) {
                dim = -1;
                break;
            }
            s->x[dim++] = (float)v;
            if (*end == '\0')
                break;
            if (*end != ',') {
                dim = -1;
                break;
            }
            q = end + 1;
        }
    } else {
        dim = problem_default_x0(problem_name, s->x);
    }
    if (x0 != NULL && dim <= 0) {
        snprintf(err, errlen, "--x0: '%s' is not a list of numbers such as -1,1", x0);
        free(s);
        return NULL;
    }
    if (dim <= 0 || problem_init(&s->p, problem_name, (size_t)dim, a, activity, (uint64_t)seed)) {
        if (dim <= 0)
            snprintf(err, errlen, "unknown problem '%s'", problem_name);
        else
            snprintf(err, errlen, "problem '%s' refuses %d parameters (or is unknown)",
                     problem_name, dim);
        free(s);
        return NULL;
    }
    s->opt = config_create(&cfg, (size_t)dim, err, errlen);
    if (s->opt == NULL) {
        free(s);
        return NULL;
    }
    trace_fill_point(s->opt, &s->p, s->x, 0, &s->point);
    return s;
}

WASM_EXPORT(wa_session_free) void wa_session_free(session *s)
{
    if (s != NULL)
        adaopt_destroy(s->opt);
    free(s);
}

/* n more steps; 0, or -1 with the message in wa_session_error. */
WASM_EXPORT(wa_session_step) int wa_session_step(session *s, int n)
{
    for (int k = 0; k < n; k++) {
        if (trace_step(s->opt, &s->p, s->x, s->t + 1, s->error, sizeof s->error) != 0)
            return -1;
        s->t++;
    }
    trace_fill_point(s->opt, &s->p, s->x, s->t, &s->point);
    return 0;
}

WASM_EXPORT(wa_session_error) const char *wa_session_error(const session *s)
{
    return s->error;
}

WASM_EXPORT(wa_session_steps) double wa_session_steps(const session *s)
{
    return (double)s->t;
}

WASM_EXPORT(wa_session_dim) int wa_session_dim(const session *s)
{
    return (int)s->p.dim;
}

WASM_EXPORT(wa_session_loss) double wa_session_loss(const session *s)
{
    return s->point.loss;
}

/* The current x and effective learning rates (dim floats each, NaN before the first step). */
WASM_EXPORT(wa_session_x) const float *wa_session_x(const session *s)
{
    return s->point.x;
}

WASM_EXPORT(wa_session_effective_lr) const float *wa_session_effective_lr(const session *s)
{
    return s->point.effective_lr;
}

/* The session's loss at (x, y), for the contours. */
WASM_EXPORT(wa_session_loss_at) double wa_session_loss_at(const session *s, float x, float y)
{
    float xy[TRACE_MAX_DIM] = {x, y};
    return problem_loss(&s->p, xy);
}

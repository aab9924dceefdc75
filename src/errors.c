/*
 * errors.c -- the names of status codes, and an optimizer's last error message.
 * docs/ERRORS.md lists each code with its causes.
 */
#include <stdio.h>

#include "internal.h"

const char *adaopt_status_name(int status)
{
    switch (status) {
    case ADAOPT_OK:
        return "ok";
    case ADAOPT_ERR_NULL:
        return "a required pointer argument is NULL";
    case ADAOPT_ERR_ALLOC:
        return "out of memory";
    case ADAOPT_ERR_ALGORITHM:
        return "unknown algorithm";
    case ADAOPT_ERR_OPTION:
        return "unknown option, or not an option of this algorithm";
    case ADAOPT_ERR_VALUE:
        return "value out of range, NaN or infinite";
    case ADAOPT_ERR_INDEX:
        return "group or tensor index out of range";
    case ADAOPT_ERR_SIZE:
        return "sizes or counts do not match";
    case ADAOPT_ERR_STATE:
        return "state does not exist yet";
    case ADAOPT_ERR_CONFLICT:
        return "options conflict with each other";
    case ADAOPT_ERR_FORMAT:
        return "not a valid adaopt checkpoint";
    case ADAOPT_ERR_MISMATCH:
        return "checkpoint does not match this optimizer";
    case ADAOPT_ERR_IO:
        return "file input/output failed";
    case ADAOPT_ERR_NONFINITE:
        return "a gradient is NaN or infinite";
    default:
        return "unknown status code";
    }
}

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

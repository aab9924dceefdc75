/*
 * config.h -- an optimizer configuration: an algorithm and the hyperparameters that differ from
 * torch.optim's defaults, parsed from torch-style command-line flags (--lr 0.1, --betas 0.9,0.99,
 * --amsgrad, --eps-mode inside) or set by a lab.  Turns into an adaopt_optimizer.
 */
#ifndef ADAOPT_LAB_CONFIG_H
#define ADAOPT_LAB_CONFIG_H

#include <stddef.h>

#include "adaopt.h"

enum { CONFIG_MAX_OPTIONS = 24 };

typedef struct opt_config {
    adaopt_algorithm algorithm;
    size_t n;
    adaopt_option option[CONFIG_MAX_OPTIONS];
    double value[CONFIG_MAX_OPTIONS];
} opt_config;

/* A configuration with torch.optim's defaults; 0, or -1 for an unknown algorithm name. */
int config_init(opt_config *c, const char *algorithm_name);
/* Adds (or replaces) one hyperparameter; 0, or -1 with a message in err if adaopt refuses it. */
int config_set(opt_config *c, adaopt_option option, double value, char *err, size_t errlen);

/* If argv[*i] is a hyperparameter flag (--lr 0.1, --lr=0.1, --weight-decay, --betas b1,b2,
 * --amsgrad, --nesterov=0, --eps-mode hat, ...), consumes it (and its value) and returns 1;
 * returns 0 if it is not one; -1 with a message in err if it is malformed. */
int config_parse_arg(opt_config *c, int argc, char **argv, int *i, char *err, size_t errlen);

/* The optimizer, one group of one tensor of `numel` floats; NULL with a message on error. */
adaopt_optimizer *config_create(const opt_config *c, size_t numel, char *err, size_t errlen);

/* Parses a finite number; 0, or -1. */
int parse_number(const char *s, double *out);

#endif

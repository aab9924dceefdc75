/*
 * adaopt.h -- adaptive gradient optimizers in C.  This header is the manual.
 *
 * What it is
 *   The optimizer step of a training loop: SGD (momentum, dampening, Nesterov), AdaGrad,
 *   RMSProp (plain, centered, momentum), Adam (and AMSGrad), AdamW, Adamax, NAdam and RAdam,
 *   element-wise over lists of float32 (or bf16/fp16) tensors, with PyTorch's `torch.optim`
 *   semantics and defaults; and Lion and Schedule-Free AdamW as their reference packages
 *   (lion-pytorch, schedulefree) define them.  The exact formulas are in docs/ALGORITHMS.md;
 *   each kernel cites them.
 *
 * The five things to know
 *   1. One optimizer object (`adaopt_optimizer`) runs one algorithm over one or more parameter
 *      groups.  Each group is a list of tensors (given by their element counts) with its own
 *      hyperparameters, exactly like torch's param_groups.  Tensors are numbered 0, 1, 2, ...
 *      in the order their groups were added.
 *   2. Hyperparameters are set by enum, `adaopt_set(opt, group, ADAOPT_LR, 1e-3)`, so new
 *      options never break the ABI.  A new group starts with the algorithm's defaults (the same
 *      as torch.optim).  Every value is checked when it is set; a bad value is refused with an
 *      error and the old value stays.  Options may change between steps (schedules).
 *   3. You own the parameter and gradient memory and pass it to every `adaopt_step`; the
 *      optimizer owns its state (m, v, ...) and never allocates inside `adaopt_step`.
 *   4. Every function returns an `adaopt_status`.  ADAOPT_OK is 0; anything else is an error,
 *      described by `adaopt_status_name(code)` and, in detail, by `adaopt_last_error(opt)`.
 *      Nothing in the library aborts, prints or exits.  A call that fails changes nothing.
 *   5. No global state: distinct optimizer objects may be used from distinct threads at the
 *      same time.  One object must not be used by two threads at once.
 *
 * A complete program
 *       adaopt_optimizer *opt;
 *       size_t numels[2] = {784 * 128, 128}, group;
 *       if (adaopt_create(ADAOPT_ALGO_ADAMW, &opt) != ADAOPT_OK) return 1;
 *       adaopt_add_group(opt, numels, 2, &group);
 *       adaopt_set(opt, group, ADAOPT_LR, 3e-4);
 *       for (step...) {
 *           ... compute grads ...
 *           float *params[2] = {w, b};
 *           const float *grads[2] = {dw, db};
 *           if (adaopt_step(opt, params, grads, 2) != ADAOPT_OK)
 *               fprintf(stderr, "%s\n", adaopt_last_error(opt));
 *       }
 *       adaopt_destroy(opt);
 *
 * The same with one call for the options and one for the step, on a flat buffer of all tensors:
 *       adaopt_set_options(opt, group, "lr=3e-4, betas=0.9,0.95, weight_decay=0.1");
 *       adaopt_step_flat(opt, params, grads);   (w then b in one buffer of 784*128+128 floats)
 *
 * Defaults (torch.optim's; docs/OPTIONS.md has every option's range).  Note AdamW's weight
 * decay: it is on unless you set weight_decay=0.
 *   SGD      lr 1e-3, momentum 0, dampening 0, nesterov 0, weight_decay 0
 *   AdaGrad  lr 1e-2, lr_decay 0, initial_accumulator_value 0, eps 1e-10, weight_decay 0
 *   RMSProp  lr 1e-2, alpha 0.99, eps 1e-8, momentum 0, centered 0, weight_decay 0
 *   Adam     lr 1e-3, betas 0.9,0.999, eps 1e-8, amsgrad 0, weight_decay 0 (L2, coupled)
 *   AdamW    lr 1e-3, betas 0.9,0.999, eps 1e-8, amsgrad 0, weight_decay 0.01 (decoupled)
 *   Adamax   lr 2e-3, betas 0.9,0.999, eps 1e-8, weight_decay 0
 *   NAdam    lr 2e-3, betas 0.9,0.999, eps 1e-8, momentum_decay 4e-3, weight_decay 0,
 *            decoupled_weight_decay 0
 *   RAdam    lr 1e-3, betas 0.9,0.999, eps 1e-8, weight_decay 0, decoupled_weight_decay 0
 *   Lion     lr 1e-4, betas 0.9,0.99, weight_decay 0 (decoupled; lion-pytorch's defaults)
 *   adamw_schedulefree  lr 2.5e-3, betas 0.9,0.999, eps 1e-8, weight_decay 0 (at y, on the
 *            normalized gradient), warmup_steps 0, r 0, weight_lr_power 2 (schedulefree's)
 *   Lamb     lr 1e-3, betas 0.9,0.999, eps 1e-6, weight_decay 0, weight_decouple 1,
 *            fixed_decay 0, grad_averaging 1, adam 0, clamp 10 (pytorch-optimizer's)
 *   Adafactor  lr 1e-2, beta2_decay -0.8, eps1 1.1920928955078125e-07 (FLT_EPSILON), eps2 1e-3,
 *            d 1, weight_decay 0 (torch.optim.Adafactor's; eps=(eps1, eps2))
 *   Adadelta  lr 1, rho 0.9, eps 1e-6, weight_decay 0
 *   Rprop    lr 1e-2, eta_minus 0.5, eta_plus 1.2, step_size_min 1e-6, step_size_max 50
 *   ASGD     lr 1e-2, lambd 1e-4, alpha 0.75, t0 1000000, weight_decay 0
 *   Muon     lr 1e-3, weight_decay 0.1 (decoupled), momentum 0.95, nesterov 1, ns_a 3.4445,
 *            ns_b -4.775, ns_c 2.0315, eps 1e-7, ns_steps 5, adjust_lr_fn 0 (original),
 *            use_muon 1, betas 0.9,0.95 (a use_muon 0 group's AdamW)
 *   every    maximize 0; eps_mode outside (RAdam: hat), see adaopt_eps_mode;
 *            param_update master; state_storage float32; min_8bit_numel 4096 (low precision)
 *   classic  torch 2 (SGD to RAdam: round as torch 2.x does, see adaopt_torch_arith)
 *
 * Linking
 *   shared:  cc app.c -ladaopt                       (or `pkg-config --cflags --libs adaopt`)
 *   static:  cc app.c -fopenmp libadaopt.a -lm      (or `pkg-config --cflags --libs
 *            adaopt-static`, which names the archive itself): the static library needs the
 *            OpenMP runtime it was built with (gcc: -fopenmp, i.e. libgomp; a clang build:
 *            -fopenmp=libomp) and libm.  (`pkg-config --static --libs adaopt` says -ladaopt,
 *            and the linker takes libadaopt.so where both are installed.)
 *   CMake:   find_package(adaopt) and target_link_libraries(app adaopt::adaopt), or
 *            adaopt::adaopt_static, which brings its OpenMP and libm along.
 *   ZeRO over MPI (adaopt_mpi.h): see that header.
 */
#ifndef ADAOPT_H
#define ADAOPT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Symbols of the shared library (the build compiles everything else hidden). */
#if defined(ADAOPT_BUILDING_LIBRARY) && defined(__GNUC__)
#define ADAOPT_API __attribute__((visibility("default")))
#else
#define ADAOPT_API
#endif

#define ADAOPT_VERSION_MAJOR 0
#define ADAOPT_VERSION_MINOR 2
#define ADAOPT_VERSION_PATCH 0
#define ADAOPT_VERSION_STRING "0.2.0"

/* The version of the library actually linked, as MAJOR*10000 + MINOR*100 + PATCH. */
ADAOPT_API unsigned adaopt_version_number(void);

/* ---------------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------------- */

typedef enum adaopt_status {
    ADAOPT_OK = 0,
    ADAOPT_ERR_NULL = 1,      /* a required pointer argument is NULL */
    ADAOPT_ERR_ALLOC = 2,     /* out of memory (nothing was changed) */
    ADAOPT_ERR_ALGORITHM = 3, /* unknown algorithm */
    ADAOPT_ERR_OPTION = 4,    /* unknown option, or one this algorithm does not have */
    ADAOPT_ERR_VALUE = 5,     /* value out of range, NaN or infinite */
    ADAOPT_ERR_INDEX = 6,     /* group or tensor index out of range */
    ADAOPT_ERR_SIZE = 7,      /* counts or sizes that do not match */
    ADAOPT_ERR_STATE = 8,     /* asked for state that does not exist yet (before a first step) */
    ADAOPT_ERR_CONFLICT = 9,  /* options that are valid alone but not together (nesterov) */
    ADAOPT_ERR_FORMAT = 10,   /* not a checkpoint, a damaged one (checksum) or an unknown version */
    ADAOPT_ERR_MISMATCH = 11, /* a checkpoint of another algorithm, group layout or tensor shape */
    ADAOPT_ERR_IO = 12,       /* a file could not be read or written (errno in the message) */
    ADAOPT_ERR_NONFINITE = 13 /* a NaN or infinite gradient under ADAOPT_NONFINITE_ERROR */
} adaopt_status;

/* A short constant description of a status code ("lr out of range" style details are in
 * adaopt_last_error).  Unknown codes give "unknown status code".  Never NULL. */
ADAOPT_API const char *adaopt_status_name(int status);

/* ---------------------------------------------------------------------------------------------
 * Algorithms and options
 * ------------------------------------------------------------------------------------------- */

typedef enum adaopt_algorithm {
    ADAOPT_ALGO_SGD = 1,     /* torch.optim.SGD: momentum, dampening, nesterov */
    ADAOPT_ALGO_ADAGRAD = 2, /* torch.optim.Adagrad */
    ADAOPT_ALGO_RMSPROP = 3, /* torch.optim.RMSprop: centered, momentum */
    ADAOPT_ALGO_ADAM = 4,    /* torch.optim.Adam; AMSGrad is ADAOPT_AMSGRAD = 1 */
    ADAOPT_ALGO_ADAMW = 5,   /* torch.optim.AdamW: Adam with decoupled weight decay */
    ADAOPT_ALGO_ADAMAX = 6,  /* torch.optim.Adamax */
    ADAOPT_ALGO_NADAM = 7,   /* torch.optim.NAdam (PyTorch >= 2.0 formula, see docs) */
    ADAOPT_ALGO_RADAM = 8,   /* torch.optim.RAdam */
    ADAOPT_ALGO_LION = 9,    /* Lion (Chen et al., 2023), as lion-pytorch's Lion: the sign of
                                an interpolated momentum, decoupled weight decay */
    ADAOPT_ALGO_ADAMW_SCHEDULE_FREE = 10, /* Schedule-Free AdamW (Defazio et al., 2024), as the
                                schedulefree package's AdamWScheduleFree: no lr schedule; the
                                parameters hold y while training and x (the average) after
                                adaopt_eval, see "Schedule-Free" below */
    ADAOPT_ALGO_LAMB = 11,   /* LAMB (You et al., 2020), as pytorch-optimizer's Lamb: Adam's
                                direction scaled per tensor by the trust ratio
                                min(||p||, clamp) / (||u|| + eps) */
    ADAOPT_ALGO_ADAFACTOR = 12, /* torch.optim.Adafactor (PyTorch >= 2.5): the second moment
                                factored into row and column averages for tensors given a
                                shape of two or more dimensions (adaopt_set_shape) */
    ADAOPT_ALGO_ADADELTA = 13, /* torch.optim.Adadelta: steps scaled by the RMS of past steps
                                over the RMS of past gradients */
    ADAOPT_ALGO_RPROP = 14,  /* torch.optim.Rprop: per-coordinate step sizes grown or shrunk by
                                the sign agreement of successive gradients (full-batch) */
    ADAOPT_ALGO_ASGD = 15,   /* torch.optim.ASGD: SGD with a decaying step and a Polyak average
                                of the iterates (state "ax") */
    ADAOPT_ALGO_MUON = 16    /* torch.optim.Muon (torch >= 2.9): momentum orthogonalized by a
                                Newton-Schulz iteration, for 2-D tensors (adaopt_set_shape);
                                step the rest with AdamW (ADAOPT_USE_MUON) */
} adaopt_algorithm;

/* Lower-case name as in torch.optim ("sgd", "adagrad", "rmsprop", "adam", "adamw", "adamax",
 * "nadam", "radam", "adafactor", "adadelta", "rprop", "asgd", "muon") or the reference package ("lion", "adamw_schedulefree",
 * "lamb"), or NULL for an unknown algorithm. */
ADAOPT_API const char *adaopt_algorithm_name(adaopt_algorithm algorithm);
/* The algorithm of that name (case-insensitive), or ADAOPT_ERR_ALGORITHM. */
ADAOPT_API adaopt_status adaopt_algorithm_from_name(const char *name, adaopt_algorithm *algorithm);

/* Where eps enters the denominator (ALGORITHMS.md, "Epsilon placement"):
 *   OUTSIDE  sqrt(u_hat) + eps          PyTorch's form for AdaGrad, RMSProp, Adam(W), NAdam
 *   INSIDE   sqrt(u_hat + eps)          the seeds' form, Optax's eps_root
 *   HAT      (sqrt(u) + eps) before the bias correction sqrt(bc2) is applied: Adam paper,
 *            Keras, SparseAdam; PyTorch's own form for RAdam, which is RAdam's default.
 * Supported: AdaGrad, RMSProp: OUTSIDE, INSIDE.  Adam, AdamW, NAdam, RAdam: all three.
 * (AdaGrad and RMSProp have no bias correction, so HAT would equal OUTSIDE and is refused.)
 * With eps = 0 all modes give the same update. */
typedef enum adaopt_eps_mode {
    ADAOPT_EPS_OUTSIDE = 0,
    ADAOPT_EPS_INSIDE = 1,
    ADAOPT_EPS_HAT = 2
} adaopt_eps_mode;

/* Hyperparameters, one value per group, all passed as double (booleans as 0 or 1, eps_mode as
 * an adaopt_eps_mode).  Names and defaults are torch.optim's; the table of which algorithm has
 * which option, with defaults and valid ranges, is in docs/OPTIONS.md.  Setting an option the
 * algorithm does not have is ADAOPT_ERR_OPTION. */
typedef enum adaopt_option {
    ADAOPT_LR = 1,                        /* learning rate, >= 0 */
    ADAOPT_BETA1 = 2,                     /* betas[0], in [0, 1): Adam family */
    ADAOPT_BETA2 = 3,                     /* betas[1], in [0, 1): Adam family */
    ADAOPT_EPS = 4,                       /* >= 0 */
    ADAOPT_WEIGHT_DECAY = 5,              /* >= 0; coupled (L2) except AdamW / decoupled */
    ADAOPT_MOMENTUM = 6,                  /* >= 0: SGD, RMSProp */
    ADAOPT_DAMPENING = 7,                 /* finite: SGD */
    ADAOPT_NESTEROV = 8,                  /* 0/1: SGD; needs momentum > 0 and dampening 0 */
    ADAOPT_MAXIMIZE = 9,                  /* 0/1: every algorithm */
    ADAOPT_AMSGRAD = 10,                  /* 0/1: Adam, AdamW */
    ADAOPT_CENTERED = 11,                 /* 0/1: RMSProp */
    ADAOPT_ALPHA = 12,                    /* in [0, 1): RMSProp's smoothing (the seeds' rho) */
    ADAOPT_LR_DECAY = 13,                 /* >= 0: AdaGrad */
    ADAOPT_INITIAL_ACCUMULATOR_VALUE = 14, /* >= 0: AdaGrad; read at each tensor's first step */
    ADAOPT_MOMENTUM_DECAY = 15,           /* >= 0: NAdam */
    ADAOPT_DECOUPLED_WEIGHT_DECAY = 16,   /* 0/1: NAdam, RAdam */
    ADAOPT_EPS_MODE = 17,                 /* adaopt_eps_mode, see above */
    /* Low precision (every algorithm; see "Low precision" below).  Set before the group's first
     * step (ADAOPT_ERR_STATE after it): they decide how the state is stored. */
    ADAOPT_PARAM_UPDATE = 18,             /* adaopt_param_update: bf16/fp16 groups only */
    ADAOPT_STATE_STORAGE = 19,            /* adaopt_state_storage: float32 (default), bf16, 8-bit */
    ADAOPT_MIN_8BIT_NUMEL = 20,           /* 8-bit storage only for tensors of at least this
                                             many elements (4096, as bitsandbytes); smaller
                                             tensors keep float32 state */
    /* Schedule-Free AdamW (schedulefree's keywords) */
    ADAOPT_WARMUP_STEPS = 21,             /* whole number >= 0: linear warmup of lr over the
                                             first warmup_steps steps (lr (k+1)/warmup_steps) */
    ADAOPT_R = 22,                        /* >= 0: the average weighs step k by (k+1)^r */
    ADAOPT_WEIGHT_LR_POWER = 23,          /* >= 0: ... and by lr_max^weight_lr_power */
    /* LAMB (pytorch-optimizer's keywords) */
    ADAOPT_WEIGHT_DECOUPLE = 24,          /* 0/1 (1): decay p by lr wd (else wd p joins the update) */
    ADAOPT_FIXED_DECAY = 25,              /* 0/1 (0): decoupled decay by wd, not lr wd */
    ADAOPT_GRAD_AVERAGING = 26,           /* 0/1 (1): m takes (1-beta1) g (else g) */
    ADAOPT_ADAM_UPDATE = 27,              /* 0/1 (0), keyword "adam": trust ratio 1 (plain Adam
                                             direction, no bias correction of v) */
    ADAOPT_CLAMP = 28,                    /* >= 0 (10): ||p|| is clamped to this in the ratio */
    /* Adafactor (torch.optim.Adafactor's keywords; eps=(eps1, eps2)) */
    ADAOPT_BETA2_DECAY = 29,              /* <= 0 (-0.8): 1 - beta2_t = t^beta2_decay */
    ADAOPT_EPS1 = 30,                     /* >= 0 (float32's machine epsilon, torch's None):
                                             floor of the variance estimate, squared */
    ADAOPT_EPS2 = 31,                     /* >= 0 (1e-3): floor of the parameter's RMS */
    ADAOPT_D = 32,                        /* >= 1 (1): the update's RMS is clipped to d */
    /* The classic algorithms (SGD to RAdam) */
    ADAOPT_TORCH = 33,                    /* adaopt_torch_arith (2): whose float32 rounding */
    /* Adadelta, Rprop, ASGD (torch.optim's keywords; Rprop's etas=(eta_minus, eta_plus) and
     * step_sizes=(step_size_min, step_size_max)) */
    ADAOPT_RHO = 34,                      /* [0, 1) (0.9): Adadelta's averaging coefficient */
    ADAOPT_ETA_MINUS = 35,                /* (0, 1) (0.5): Rprop's shrink factor */
    ADAOPT_ETA_PLUS = 36,                 /* > 1 (1.2): Rprop's growth factor */
    ADAOPT_STEP_SIZE_MIN = 37,            /* >= 0 (1e-6): Rprop's smallest step size */
    ADAOPT_STEP_SIZE_MAX = 38,            /* >= step_size_min (50): Rprop's largest */
    ADAOPT_LAMBD = 39,                    /* >= 0 (1e-4): ASGD's decay term */
    ADAOPT_T0 = 40,                       /* >= 0 (1e6): ASGD averages from step t0 on */
    /* Muon (torch.optim.Muon's keywords; ns_coefficients=(ns_a, ns_b, ns_c)) */
    ADAOPT_NS_A = 41,                     /* finite (3.4445): X = a X + (b A + c A^2) X */
    ADAOPT_NS_B = 42,                     /* finite (-4.7750) */
    ADAOPT_NS_C = 43,                     /* finite (2.0315) */
    ADAOPT_NS_STEPS = 44,                 /* whole number < 100 (5): Newton-Schulz iterations */
    ADAOPT_ADJUST_LR_FN = 45,             /* adaopt_adjust_lr (original): lr by the shape */
    ADAOPT_USE_MUON = 46                  /* 0/1 (1): the group's tensors step by Muon; 0: by
                                             AdamW (lr, betas, eps, weight_decay), as
                                             MuonWithAuxAdam's groups: one optimizer for a model */
} adaopt_option;

#define ADAOPT_OPTION_MAX 46

/* ADAOPT_ADJUST_LR_FN, torch.optim.Muon's adjust_lr_fn, for a rows x cols matrix:
 *   ORIGINAL            lr sqrt(max(1, rows / cols))       (Keller Jordan's; torch's None)
 *   MATCH_RMS_ADAMW     lr 0.2 sqrt(max(rows, cols))       (Moonshot's: AdamW's lr and wd carry over)
 *   SPECTRAL_UNCLAMPED  lr sqrt(rows / cols) */
typedef enum adaopt_adjust_lr {
    ADAOPT_ADJUST_ORIGINAL = 0,
    ADAOPT_ADJUST_MATCH_RMS_ADAMW = 1,
    ADAOPT_ADJUST_SPECTRAL_UNCLAMPED = 2
} adaopt_adjust_lr;

/* ADAOPT_TORCH: the torch.optim version whose arithmetic a classic algorithm's step repeats,
 * operation for operation, on torch's default CPU path (single-tensor, foreach=False): the same
 * fused multiply-adds, lerps and scalar roundings, so that the step gives torch's bits where
 * torch's own operations are IEEE's (docs/ALGORITHMS.md, "Rounding as torch does it").
 *   ADAOPT_TORCH_2   torch 2.x (as of 2.15): first moments by lerp (Adam, AdamW, Adamax, NAdam,
 *                    RAdam; centered RMSProp's average).  The default.
 *   ADAOPT_TORCH_1   torch 1.13: first moments by mul_ then a fused add_; and its default
 *                    NAdam's P mu_t mu_next in the second coefficient's denominator (a bug that
 *                    torch 2.0 fixed, kept here so that a torch 1.x run is reproduced).
 * SGD and AdaGrad round the same in both.  adaopt.torch sets it from the installed torch. */
typedef enum adaopt_torch_arith {
    ADAOPT_TORCH_1 = 1,
    ADAOPT_TORCH_2 = 2
} adaopt_torch_arith;

/* torch.optim's keyword for the option ("lr", "beta1", "eps", "initial_accumulator_value",
 * "eps_mode", ...), or NULL for an unknown option. */
ADAOPT_API const char *adaopt_option_name(adaopt_option option);
/* The option of that name, or ADAOPT_ERR_OPTION. */
ADAOPT_API adaopt_status adaopt_option_from_name(const char *name, adaopt_option *option);
/* The word for a value of an option whose values are named: eps_mode "outside", "inside",
 * "hat"; param_update "master", "master_sr", "sr", "nearest"; state_storage "float32", "bf16",
 * "8bit"; adjust_lr_fn "original", "match_rms_adamw", "spectral_unclamped".  NULL for any other
 * option or value. */
ADAOPT_API const char *adaopt_option_value_name(adaopt_option option, double value);
/* The value of that word (any case) for the option, or ADAOPT_ERR_VALUE. */
ADAOPT_API adaopt_status adaopt_option_value_from_name(adaopt_option option, const char *name,
                                                       double *value);
/* The value of a constant of this header by its identifier ("ADAOPT_ERR_STATE" -> 8, every
 * enumerator of every enum above and below), so that a binding reads them from the library
 * instead of copying them; ADAOPT_ERR_VALUE for an identifier that is none. */
ADAOPT_API adaopt_status adaopt_constant(const char *identifier, int *value);

/* The default of `option` for `algorithm` (torch.optim's default; SGD's lr is 1e-3 as in
 * PyTorch 2.x).  ADAOPT_ERR_OPTION if the algorithm does not have the option. */
ADAOPT_API adaopt_status adaopt_default(adaopt_algorithm algorithm, adaopt_option option, double *value);

/* ADAOPT_OK if `value` is valid for `option` of `algorithm` (what adaopt_set would accept),
 * else ADAOPT_ERR_ALGORITHM, ADAOPT_ERR_OPTION or ADAOPT_ERR_VALUE.  For validating a whole
 * configuration before creating anything. */
ADAOPT_API adaopt_status adaopt_check_option(adaopt_algorithm algorithm, adaopt_option option,
                                             double value);

/* ---------------------------------------------------------------------------------------------
 * The optimizer
 * ------------------------------------------------------------------------------------------- */

typedef struct adaopt_optimizer adaopt_optimizer;

/* Creates an optimizer with no groups.  *out is set to NULL on failure. */
ADAOPT_API adaopt_status adaopt_create(adaopt_algorithm algorithm, adaopt_optimizer **out);
/* Frees the optimizer and all its state.  NULL is allowed and does nothing. */
ADAOPT_API void adaopt_destroy(adaopt_optimizer *opt);

/* Detail of the last error this object returned ("lr must be >= 0 (got -0.1)"), or "" if none
 * yet.  The string lives in the object until its next failing call.  NULL opt gives a fixed
 * message. */
ADAOPT_API const char *adaopt_last_error(const adaopt_optimizer *opt);

ADAOPT_API adaopt_algorithm adaopt_get_algorithm(const adaopt_optimizer *opt);

/* Adds a parameter group of `n_tensors` tensors with the given element counts (a count may be
 * 0) and the algorithm's default hyperparameters, allocates their state and returns the group's
 * index in *group (0, 1, ...; `group` may be NULL: the groups are numbered in the order they are
 * added).  The group's tensors get the next tensor numbers. */
ADAOPT_API adaopt_status adaopt_add_group(adaopt_optimizer *opt, const size_t *numels, size_t n_tensors,
                               size_t *group);

ADAOPT_API size_t adaopt_group_count(const adaopt_optimizer *opt);
ADAOPT_API size_t adaopt_tensor_count(const adaopt_optimizer *opt);
/* Element count of tensor `tensor`, and the group it belongs to. */
ADAOPT_API adaopt_status adaopt_tensor_info(const adaopt_optimizer *opt, size_t tensor, size_t *numel,
                                 size_t *group);

/* Pass as `group` to set an option in every group at once (for schedules). */
#define ADAOPT_ALL_GROUPS ((size_t)-1)

/* Sets a hyperparameter of one group (or of all, ADAOPT_ALL_GROUPS).  Errors: ADAOPT_ERR_OPTION
 * (unknown or not this algorithm's), ADAOPT_ERR_VALUE (out of range, NaN, inf, a boolean that
 * is not 0/1), ADAOPT_ERR_INDEX, ADAOPT_ERR_ALLOC (turning on an option that needs state, such
 * as amsgrad or momentum, allocates it here, never in adaopt_step).  On error nothing changes. */
ADAOPT_API adaopt_status adaopt_set(adaopt_optimizer *opt, size_t group, adaopt_option option,
                         double value);
ADAOPT_API adaopt_status adaopt_get(const adaopt_optimizer *opt, size_t group, adaopt_option option,
                         double *value);

/* Several hyperparameters of one group (or all, ADAOPT_ALL_GROUPS) in one call, written as
 * torch.optim's keywords:
 *       adaopt_set_options(opt, group, "lr=3e-4, betas=0.9,0.95, eps=1e-8, weight_decay=0");
 * Items are name=value, separated by commas, semicolons or blanks; names are those of
 * adaopt_option_name ('-' may stand for '_'), plus betas=b1,b2 (beta1, beta2), etas=a,b
 * (eta_minus, eta_plus) and step_sizes=a,b (step_size_min, step_size_max) as torch's pairs;
 * values are numbers in C syntax (whatever the locale), true/false for booleans, and the words
 * of adaopt_option_value_name for eps_mode, param_update and state_storage (any case).  Each value is checked as adaopt_set checks it, and the
 * group's resulting combination too (nesterov needs momentum > 0 and dampening 0, which
 * adaopt_set leaves to the step so that options can be set in any order).  All or nothing: on
 * any error -- ADAOPT_ERR_OPTION for an unknown name or one this algorithm has not,
 * ADAOPT_ERR_VALUE for a malformed, out-of-range or repeated value, ADAOPT_ERR_CONFLICT,
 * ADAOPT_ERR_INDEX, ADAOPT_ERR_ALLOC -- no group changes.  An empty string changes nothing. */
ADAOPT_API adaopt_status adaopt_set_options(adaopt_optimizer *opt, size_t group,
                                            const char *options);

/* The same from a program's variables, without formatting them into a string (where %g would
 * round lr to 6 digits): n (option, value) pairs, each checked as adaopt_set checks it and the
 * group's resulting combination too; all or nothing, with adaopt_set_options' errors (an option
 * given twice: ADAOPT_ERR_VALUE).  Cheap enough to call every step:
 *       const adaopt_option_value o[] = {{ADAOPT_LR, lr_t}, {ADAOPT_WEIGHT_DECAY, wd}};
 *       adaopt_set_values(opt, ADAOPT_ALL_GROUPS, o, 2);
 * n = 0 changes nothing. */
typedef struct adaopt_option_value {
    adaopt_option option;
    double value;
} adaopt_option_value;
ADAOPT_API adaopt_status adaopt_set_values(adaopt_optimizer *opt, size_t group,
                                           const adaopt_option_value *values, size_t n);

/* One optimizer step over every tensor.  params[i] and grads[i] point to tensor i's numel
 * floats; n_tensors must equal adaopt_tensor_count.  A NULL grads[i] skips tensor i this step
 * (its step count does not advance), as torch skips a parameter whose .grad is None.
 * Gradients are read only; params and state are updated in place.  A parameter and a gradient
 * must not overlap.  Every argument and option combination is checked before anything is
 * written: on error nothing changes. */
ADAOPT_API adaopt_status adaopt_step(adaopt_optimizer *opt, float *const *params, const float *const *grads,
                          size_t n_tensors);

/* adaopt_step for the common case of one buffer: the tensors lie one after another in tensor
 * order, params[0 .. total) and grads[0 .. total) with total the sum of every tensor's numel
 * (a single tensor is the simplest case; llm.c's params_memory and grads_memory are such
 * buffers).  Every tensor has a gradient.  Otherwise exactly adaopt_step. */
ADAOPT_API adaopt_status adaopt_step_flat(adaopt_optimizer *opt, float *params, const float *grads);

/* Where training stands: sets every tensor's step count to `steps_done`, so that the next step
 * is step t = steps_done + 1 (its bias corrections, RAdam's rectification, AdaGrad's lr_decay),
 * and the steps taken (adaopt_steps_taken, the schedule position) to the same number.  For a
 * program that keeps its own step counter, e.g. after restoring its own checkpoint: passing
 * llm.c's `t` means adaopt_set_step(opt, t - 1) before the step.  NAdam's product of momentum
 * coefficients is recomputed as that many steps with the groups' current beta1 and
 * momentum_decay would have made it (bit for bit).  State arrays are not touched -- restore
 * them with adaopt_set_state -- except that AdaGrad's sum, at a tensor's first step count,
 * gets initial_accumulator_value as its first step would have given it.  ADAOPT_ERR_VALUE past
 * 2^53.  One tensor alone: adaopt_set_state_scalar(opt, tensor, ADAOPT_STATE_STEP, t).
 * Schedule-Free and LAMB: every group's step count (k) is set too; Schedule-Free's weight_sum
 * and lr_max, which depend on the lr history, are set with adaopt_set_group_state. */
ADAOPT_API adaopt_status adaopt_set_step(adaopt_optimizer *opt, uint64_t steps_done);

/* ---------------------------------------------------------------------------------------------
 * Low precision: bf16 and fp16 parameters and gradients, float32 master weights, stochastic
 * rounding, and bf16 or 8-bit optimizer state (docs/ALGORITHMS.md, "Low precision").
 *
 * Element types are per group: adaopt_add_group_typed says the parameters' type (float32, bf16,
 * fp16) and the gradients' (the parameters' type or float32).  Such an optimizer steps with
 * adaopt_step_typed, whose arrays point to each tensor's elements in those types.  Every
 * algorithm computes in float32, with the float32 path's kernels, whatever the types:
 *   ADAOPT_PARAM_UPDATE, how a bf16/fp16 parameter takes the float32 result:
 *     MASTER       (default) the optimizer keeps a float32 copy of the parameter as state
 *                  (filled from the parameter at its first step), updates it exactly as the
 *                  float32 path would (the same bits), and writes it rounded to nearest-even;
 *     MASTER_SR    the same, with the rounded copy stochastically rounded;
 *     SR           no master: the parameter itself is read, updated and stochastically rounded
 *                  (llm.c's rule: away from zero with probability equal to the dropped
 *                  fraction), which keeps small updates alive in expectation;
 *     NEAREST      no master, rounded to nearest-even (what PyTorch's fused CPU Adam does):
 *                  updates smaller than half a bf16 ulp are lost -- kept to show that.
 *   Stochastic rounding's noise is a counter-based hash of (seed, tensor, element, step): the
 *   same bits on every ISA and thread count, and after a checkpoint.
 *   ADAOPT_STATE_STORAGE, how the state arrays are kept (orthogonal to the algorithm):
 *     F32   float32 (default);
 *     BF16  bf16, rounded to nearest-even after each step (half the bytes);
 *     8BIT  bitsandbytes' blockwise 8-bit: blocks of 256 elements, each a float32 absmax and one
 *           byte per element indexing a 256-value dynamic map (signed for first moments and
 *           momentum, unsigned for second moments and sums); a step decodes a block, updates it
 *           in float32, takes the new absmax and encodes (a quarter of the bytes).  Tensors below
 *           ADAOPT_MIN_8BIT_NUMEL elements keep float32 state.
 * ------------------------------------------------------------------------------------------- */

typedef enum adaopt_dtype {
    ADAOPT_DTYPE_F32 = 0,  /* float */
    ADAOPT_DTYPE_BF16 = 1, /* bfloat16: the top 16 bits of a float, as uint16_t */
    ADAOPT_DTYPE_F16 = 2   /* IEEE binary16, as uint16_t */
} adaopt_dtype;

typedef enum adaopt_param_update {
    ADAOPT_UPDATE_MASTER = 0,
    ADAOPT_UPDATE_MASTER_SR = 1,
    ADAOPT_UPDATE_SR = 2,
    ADAOPT_UPDATE_NEAREST = 3
} adaopt_param_update;

typedef enum adaopt_state_storage {
    ADAOPT_STORAGE_F32 = 0,
    ADAOPT_STORAGE_BF16 = 1,
    ADAOPT_STORAGE_8BIT = 2
} adaopt_state_storage;

/* "f32", "bf16", "f16", or NULL. */
ADAOPT_API const char *adaopt_dtype_name(adaopt_dtype dtype);
/* adaopt_add_group with the element types of its tensors: param_dtype any adaopt_dtype,
 * grad_dtype param_dtype or ADAOPT_DTYPE_F32 (ADAOPT_ERR_VALUE otherwise).  adaopt_add_group is
 * this with float32 for both. */
ADAOPT_API adaopt_status adaopt_add_group_typed(adaopt_optimizer *opt, const size_t *numels,
                                                size_t n_tensors, adaopt_dtype param_dtype,
                                                adaopt_dtype grad_dtype, size_t *group);
/* adaopt_step for any element types: params[i] and grads[i] point to tensor i's elements in its
 * group's types.  (adaopt_step, adaopt_step_flat and adaopt_step_sparse refuse an optimizer
 * with bf16/fp16 groups: ADAOPT_ERR_CONFLICT.) */
ADAOPT_API adaopt_status adaopt_step_typed(adaopt_optimizer *opt, void *const *params,
                                           const void *const *grads, size_t n_tensors);
/* For the next step only: every gradient is multiplied by `factor` (rounded to float32) as the
 * step reads it, with no pass of its own -- AMP's unscale (factor 1/scale), a clipping
 * coefficient (below), or their product.  For float32 gradients the bits are those of
 * multiplying them in place first (adaopt_unscale_grads, adaopt_clip_grad_norm) and stepping;
 * bf16/fp16 gradients are widened, then multiplied in float32.  `factor` finite and >= 0.  The
 * non-finite policy looks at the gradients as given (a NaN or infinity stays one).  Sparse steps
 * refuse it (ADAOPT_ERR_CONFLICT).  Cleared by the next step, whatever it returns. */
ADAOPT_API adaopt_status adaopt_scale_next_grads(adaopt_optimizer *opt, double factor);
/* The norm of the gradients grads[0 .. n_tensors) of this optimizer's tensors, read in their
 * types, as adaopt_clip_grad_norm computes it (norm_type 1, 2 or INFINITY; in double, the same
 * bits as on the gradients widened to float32), without changing them; NULL gradients are
 * skipped.  Clipping for any gradient type, in one read pass plus the step:
 *     adaopt_grad_norm(opt, grads, n, 2.0, &norm);
 *     adaopt_scale_next_grads(opt, fmin(1.0, max_norm / (norm + 1e-6)));  (torch's clip_coef) */
ADAOPT_API adaopt_status adaopt_grad_norm(const adaopt_optimizer *opt, const void *const *grads,
                                          size_t n_tensors, double norm_type, double *norm);
/* The seed of stochastic rounding's noise (default 0); saved in checkpoints. */
ADAOPT_API adaopt_status adaopt_set_rounding_seed(adaopt_optimizer *opt, uint64_t seed);
/* Bytes of state the optimizer holds now: every state array in its storage (8-bit codes and
 * their absmax included) and the master weights. */
ADAOPT_API size_t adaopt_state_bytes(const adaopt_optimizer *opt);

/* ---------------------------------------------------------------------------------------------
 * Row-sparse gradients (embedding tables).  A tensor of numel = rows * row_len elements may get,
 * instead of a dense gradient, a list of row indices (unsorted, repeats allowed: repeated rows
 * are summed first, in the order given, as torch's coalesce) and one row of values per index.
 * Only the rows named are read or written: the cost follows the rows touched, not the table.
 *   SGD (without momentum), AdaGrad: exact -- the same bits as a dense step whose gradient is
 *       zero outside those rows (AdaGrad with eps > 0).
 *   Adam, AdamW, AMSGrad, Adamax, NAdam, RAdam: lazy, as torch.optim.SparseAdam -- only the
 *       named rows' state and parameters change; t is the tensor's step count, which every
 *       sparse step advances; eps sits where SparseAdam puts it (eps_mode hat), whatever the
 *       group's eps_mode.  AdamW's decoupled decay applies to the named rows only.
 *   RMSProp, Lion: lazy likewise (only named rows decay their averages and move).
 *   Schedule-Free AdamW: refused (ADAOPT_ERR_CONFLICT): every row moves toward z at each step.
 * Refused with ADAOPT_ERR_CONFLICT: coupled weight decay (as torch), SGD momentum (it would make
 * every row move).
 * ------------------------------------------------------------------------------------------- */

typedef struct adaopt_sparse_grad {
    const int64_t *indices; /* n_indices row numbers in [0, rows) */
    size_t n_indices;
    const float *values;    /* n_indices * row_len floats: row k is the gradient of indices[k] */
    size_t row_len;         /* elements per row, > 0, dividing the tensor's numel */
} adaopt_sparse_grad;

/* Prepares the workspace sparse steps use, so that adaopt_step_sparse never allocates: room for
 * up to max_indices indices per gradient, rows of up to max_row_len elements, tables of up to
 * max_rows rows.  Only grows; a step that needs more fails with ADAOPT_ERR_SIZE. */
ADAOPT_API adaopt_status adaopt_reserve_sparse(adaopt_optimizer *opt, size_t max_indices,
                                               size_t max_row_len, size_t max_rows);

/* adaopt_step where some tensors have row-sparse gradients: sparse[i] (when sparse is not NULL
 * and sparse[i].indices or sparse[i].values is set) is tensor i's gradient, and grads[i] must
 * then be NULL.  Everything (indices in range, shapes, workspace, options) is checked before
 * anything is written.  ADAOPT_ERR_INDEX for an index out of range or negative. */
ADAOPT_API adaopt_status adaopt_step_sparse(adaopt_optimizer *opt, float *const *params,
                                            const float *const *grads,
                                            const adaopt_sparse_grad *sparse, size_t n_tensors);
/* adaopt_step_sparse for any element types (adaopt_step_typed's arrays); the sparse values
 * are float32 whatever the group's gradient type.  Low-precision parameters and bf16 state are
 * updated row by row as the dense path updates them (master weights, stochastic rounding with
 * the element's own noise); 8-bit state needs rows of a multiple of 256 elements (its blocks),
 * else ADAOPT_ERR_CONFLICT. */
ADAOPT_API adaopt_status adaopt_step_sparse_typed(adaopt_optimizer *opt, void *const *params,
                                                  const void *const *grads,
                                                  const adaopt_sparse_grad *sparse,
                                                  size_t n_tensors);

/* ---------------------------------------------------------------------------------------------
 * Speed: kernels and threads.  Neither changes results: every kernel is bit-identical to the
 * portable scalar one (the vector kernels repeat its float operations in its order, without
 * fused multiply-adds; only a NaN's payload may differ), and any thread count gives the same
 * bits.
 * ------------------------------------------------------------------------------------------- */

typedef enum adaopt_isa {
    ADAOPT_ISA_AUTO = 0,   /* the fastest this CPU supports (the default) */
    ADAOPT_ISA_SCALAR = 1, /* portable C: the reference */
    ADAOPT_ISA_AVX2 = 2,   /* x86-64 AVX2 */
    ADAOPT_ISA_AVX512 = 3, /* x86-64 AVX-512F */
    ADAOPT_ISA_NEON = 4    /* AArch64 NEON */
} adaopt_isa;

/* "auto", "scalar", "avx2", "avx512", "neon", or NULL. */
ADAOPT_API const char *adaopt_isa_name(adaopt_isa isa);
/* 1 if this build and this CPU can run `isa`'s kernels (AUTO and SCALAR: always). */
ADAOPT_API int adaopt_isa_supported(adaopt_isa isa);
/* Chooses the kernels (for tests and benchmarks).  ADAOPT_ERR_VALUE if not supported here. */
ADAOPT_API adaopt_status adaopt_set_isa(adaopt_optimizer *opt, adaopt_isa isa);
/* The ISA in use (never AUTO: what AUTO resolved to). */
ADAOPT_API adaopt_isa adaopt_get_isa(const adaopt_optimizer *opt);

/* Threads for one step: 0 means OpenMP's default, which is what an optimizer starts with:
 * OMP_NUM_THREADS when it is set (or the count the program gave omp_set_num_threads before
 * creating the optimizer), else every core the process may use -- as PyTorch does.  (Before
 * 0.2 the default was every core, ignoring OMP_NUM_THREADS.)  1 means no threads at all.  Large
 * tensors are cut into chunks of 64K elements, small ones go whole, and the chunks are shared
 * among the threads (OpenMP).  A build without OpenMP accepts only 0 and 1. */
ADAOPT_API adaopt_status adaopt_set_threads(adaopt_optimizer *opt, size_t threads);
/* The number of threads a step uses. */
ADAOPT_API size_t adaopt_get_threads(const adaopt_optimizer *opt);

/* LAMB and Adafactor only (ADAOPT_ERR_OPTION for the others): 1 lets the step use the float32
 * gradients as scratch, as apex's FusedLAMB does.  The pass that takes the norm of the update
 * direction u then stores u over the gradient, and the last pass reads p and u instead of
 * recomputing u: LAMB's second pass reads 2 arrays instead of 3 (p, m, v), Adafactor's third
 * skips u's division and square roots; the same bits.  So after a step the gradients hold u (for
 * LAMB: Adam's direction before the trust ratio; for Adafactor: g / sqrt(var), before alpha and
 * the clipping) -- those of groups with float32 parameters, gradients and state; others are not
 * written -- and they must be writable, whatever the const in adaopt_step's prototype.  With it
 * on, a step refuses gradients that overlap each other or a parameter (ADAOPT_ERR_CONFLICT,
 * before anything is written).  0 (the default) turns it off.  It is how this program calls the
 * step, not part of the optimizer: checkpoints do not record it.  (adaopt_mpi uses it on its own
 * averaged-gradient shard, never on the caller's gradients.) */
ADAOPT_API adaopt_status adaopt_set_overwrite_grads(adaopt_optimizer *opt, int enable);
/* 1 when the step may overwrite the gradients (adaopt_set_overwrite_grads), else 0. */
ADAOPT_API int adaopt_get_overwrite_grads(const adaopt_optimizer *opt);

/* ---------------------------------------------------------------------------------------------
 * Non-finite gradients.  What a step does when a gradient holds a NaN or an infinity:
 *   PROPAGATE  (default, PyTorch's behaviour) the arithmetic carries it into parameters and state;
 *   SKIP       the whole step is skipped -- no parameter, state or step count changes -- and
 *              counted (AMP's found-inf skip);
 *   ERROR      the step fails with ADAOPT_ERR_NONFINITE and changes nothing.
 * SKIP and ERROR decide before anything is written.  To know, the step reads every gradient once
 * more -- unless a pass that already read them all says what it found: adaopt_clip_grad_norm's
 * norm (non-finite exactly when some gradient is) or adaopt_unscale_grads's found_nonfinite,
 * handed over with adaopt_hint_nonfinite, costs nothing extra.
 * ------------------------------------------------------------------------------------------- */

typedef enum adaopt_nonfinite_policy {
    ADAOPT_NONFINITE_PROPAGATE = 0,
    ADAOPT_NONFINITE_SKIP = 1,
    ADAOPT_NONFINITE_ERROR = 2
} adaopt_nonfinite_policy;

ADAOPT_API adaopt_status adaopt_set_nonfinite_policy(adaopt_optimizer *opt,
                                                     adaopt_nonfinite_policy policy);
ADAOPT_API adaopt_nonfinite_policy adaopt_get_nonfinite_policy(const adaopt_optimizer *opt);
/* For the next step only: whether its gradients hold a NaN or infinity (found = 1) or not
 * (found = 0), as a pass that read them all found; the step then does not scan.  The hint must
 * be true: a step told 0 trusts it.  Cleared by the next step, whatever it returns. */
ADAOPT_API adaopt_status adaopt_hint_nonfinite(adaopt_optimizer *opt, int found);
/* Steps taken (successful calls of adaopt_step / adaopt_step_sparse that were not skipped): the
 * position a schedule is at, saved in checkpoints.  And steps skipped under SKIP. */
ADAOPT_API uint64_t adaopt_steps_taken(const adaopt_optimizer *opt);
ADAOPT_API uint64_t adaopt_steps_skipped(const adaopt_optimizer *opt);
/* 1 if the last step call was skipped for a non-finite gradient, else 0. */
ADAOPT_API int adaopt_last_step_skipped(const adaopt_optimizer *opt);

/* Dynamic loss scaling, as torch.cuda.amp.GradScaler: multiply the loss by `scale` before the
 * backward pass, then unscale the gradients (which also finds non-finite ones, in the same pass),
 * hint the optimizer, step, and update the scale: halved (backoff_factor) after a non-finite
 * step, doubled (growth_factor) after growth_interval finite ones. */
typedef struct adaopt_grad_scaler {
    double scale;           /* 65536 */
    double growth_factor;   /* 2.0, > 1 */
    double backoff_factor;  /* 0.5, in (0, 1) */
    uint32_t growth_interval; /* 2000, > 0 */
    uint32_t growth_tracker;  /* finite steps since the last change */
} adaopt_grad_scaler;

ADAOPT_API adaopt_grad_scaler adaopt_grad_scaler_defaults(void);
/* grads *= 1/scale; *found_nonfinite = 1 if any gradient (after unscaling) is NaN or infinite. */
ADAOPT_API adaopt_status adaopt_unscale_grads(const adaopt_grad_scaler *scaler, float *const *grads,
                                              const size_t *numels, size_t n_tensors,
                                              int *found_nonfinite);
ADAOPT_API adaopt_status adaopt_grad_scaler_update(adaopt_grad_scaler *scaler, int found_nonfinite);

/* ---------------------------------------------------------------------------------------------
 * Checkpoints: the complete state of an optimizer -- algorithm, every group's hyperparameters,
 * every tensor's step count and state arrays, the steps taken (the schedule position), the
 * non-finite policy -- in a versioned little-endian format with a CRC-32C per section
 * (docs/CHECKPOINT.md).  A checkpoint is loaded into an optimizer of the same algorithm whose
 * groups hold tensors of the same sizes (create it as the saved one was); everything is checked
 * before anything changes, and a refused checkpoint leaves the optimizer as it was.  Resuming is
 * exact: N steps, save, load, M steps gives the bits of N + M steps.  The kernels' ISA and the
 * thread count are not saved (they do not change results).
 * ------------------------------------------------------------------------------------------- */

/* Bytes a checkpoint of `opt` takes now. */
ADAOPT_API size_t adaopt_checkpoint_size(const adaopt_optimizer *opt);
/* Writes the checkpoint to buf (capacity bytes; ADAOPT_ERR_SIZE if too small); *written (may be
 * NULL) gets its length. */
ADAOPT_API adaopt_status adaopt_save_buffer(const adaopt_optimizer *opt, void *buf,
                                            size_t capacity, size_t *written);
ADAOPT_API adaopt_status adaopt_load_buffer(adaopt_optimizer *opt, const void *buf, size_t length);
/* Atomic: written to a temporary file in the same folder, flushed, fsync'ed, then renamed over
 * `path` (and the folder fsync'ed), so that a crash leaves the old checkpoint or the new one,
 * never a mixture.  ADAOPT_ERR_IO with errno's message on failure. */
ADAOPT_API adaopt_status adaopt_save_file(const adaopt_optimizer *opt, const char *path);
ADAOPT_API adaopt_status adaopt_load_file(adaopt_optimizer *opt, const char *path);

/* ---------------------------------------------------------------------------------------------
 * Inspecting the state
 * ------------------------------------------------------------------------------------------- */

/* Per-tensor state, named as in torch's optimizer.state. */
typedef enum adaopt_state_kind {
    ADAOPT_STATE_STEP = 1,           /* scalar: steps taken by this tensor (t) */
    ADAOPT_STATE_MU_PRODUCT = 2,     /* scalar: NAdam's product of momentum coefficients */
    ADAOPT_STATE_MOMENTUM_BUFFER = 3, /* SGD, RMSProp with momentum */
    ADAOPT_STATE_SUM = 4,            /* AdaGrad's G */
    ADAOPT_STATE_SQUARE_AVG = 5,     /* RMSProp's S */
    ADAOPT_STATE_GRAD_AVG = 6,       /* centered RMSProp's A */
    ADAOPT_STATE_EXP_AVG = 7,        /* m: Adam, AdamW, Adamax, NAdam, RAdam */
    ADAOPT_STATE_EXP_AVG_SQ = 8,     /* v: Adam, AdamW, NAdam, RAdam */
    ADAOPT_STATE_MAX_EXP_AVG_SQ = 9, /* AMSGrad's running max of v */
    ADAOPT_STATE_EXP_INF = 10,       /* Adamax's u */
    ADAOPT_STATE_MASTER = 11,        /* the float32 master weights of a bf16/fp16 tensor */
    ADAOPT_STATE_Z = 12,             /* Schedule-Free's z sequence (the plain SGD-like iterate) */
    /* Per-group scalars of Schedule-Free AdamW (adaopt_group_state; K also LAMB's): */
    ADAOPT_STATE_K = 13,             /* steps the group has taken (schedulefree's group['k'],
                                        pytorch-optimizer's LAMB group['step']) */
    ADAOPT_STATE_WEIGHT_SUM = 14,    /* sum of the average's weights so far */
    ADAOPT_STATE_LR_MAX = 15,        /* largest scheduled lr so far (-1 before the first step) */
    ADAOPT_STATE_SCHEDULED_LR = 16,  /* lr of the last step, after warmup (read only) */
    ADAOPT_STATE_TRAIN_MODE = 17,    /* 1 train, 0 eval: the optimizer's (every group's) mode */
    /* LAMB's per-tensor scalars of the last step (adaopt_state_scalar; saved): */
    ADAOPT_STATE_WEIGHT_NORM = 18,   /* min(||p||, clamp), after the decoupled decay */
    ADAOPT_STATE_ADAM_NORM = 19,     /* ||u||, u the Adam direction */
    ADAOPT_STATE_TRUST_RATIO = 20,   /* weight_norm / (adam_norm + eps), or 1 if either is 0 */
    /* Adafactor's arrays (torch's names): a factored tensor of shape (..., R, C) keeps
     * row_var, (..., R) elements, and col_var, (..., C); any other keeps variance, numel. */
    ADAOPT_STATE_ROW_VAR = 21,
    ADAOPT_STATE_COL_VAR = 22,
    ADAOPT_STATE_VARIANCE = 23,
    ADAOPT_STATE_ACC_DELTA = 24,     /* Adadelta's average of squared steps (its square_avg is
                                        ADAOPT_STATE_SQUARE_AVG) */
    ADAOPT_STATE_PREV = 25,          /* Rprop's previous gradient (0 where its sign flipped) */
    ADAOPT_STATE_STEP_SIZE = 26,     /* Rprop's per-coordinate step sizes (lr at the start) */
    ADAOPT_STATE_ETA = 27,           /* scalar: ASGD's step size for the next step */
    ADAOPT_STATE_MU = 28,            /* scalar: ASGD's averaging weight for the next step */
    ADAOPT_STATE_AX = 29             /* ASGD's average of the iterates */
} adaopt_state_kind;

/* torch's state key ("exp_avg", "sum", ...), or NULL. */
ADAOPT_API const char *adaopt_state_name(adaopt_state_kind kind);

/* The kind of that torch state key ("exp_avg" -> ADAOPT_STATE_EXP_AVG), or ADAOPT_ERR_STATE. */
ADAOPT_API adaopt_status adaopt_state_from_name(const char *name, adaopt_state_kind *kind);
/* 1 for a state that is never negative (a checkpoint or adaopt_set_state with a negative value
 * is refused): the second moments sum, square_avg, exp_avg_sq, max_exp_avg_sq, exp_inf,
 * row_var, col_var, variance, acc_delta, and Rprop's step_size; 0 otherwise. */
ADAOPT_API int adaopt_state_never_negative(adaopt_state_kind kind);

/* What an algorithm keeps, for bindings and tools that list it (index 0, 1, ... until 0):
 *   adaopt_algorithm_state         its state arrays, in slot order (Adafactor: row_var,
 *                                  col_var, then variance, which its unfactored tensors keep);
 *   adaopt_algorithm_scalar_state  its per-tensor scalars (adaopt_state_scalar): step, NAdam's
 *                                  mu_product, LAMB's weight_norm, adam_norm, trust_ratio;
 *   adaopt_algorithm_group_state   its per-group scalars (adaopt_group_state).
 * 0 past the last, and for an unknown algorithm. */
ADAOPT_API adaopt_state_kind adaopt_algorithm_state(adaopt_algorithm algorithm, size_t index);
ADAOPT_API adaopt_state_kind adaopt_algorithm_scalar_state(adaopt_algorithm algorithm,
                                                           size_t index);
ADAOPT_API adaopt_state_kind adaopt_algorithm_group_state(adaopt_algorithm algorithm,
                                                          size_t index);

/* Read-only view of a tensor's state array, as float32 whatever its storage (bf16 and 8-bit
 * state is decoded into a copy the optimizer keeps); valid until the next call that changes the
 * optimizer.  ADAOPT_ERR_OPTION: this algorithm has no such state (or it is a scalar);
 * ADAOPT_ERR_STATE: not created yet (before the tensor's first step, or an option such as
 * momentum was never on). */
ADAOPT_API adaopt_status adaopt_state(const adaopt_optimizer *opt, size_t tensor, adaopt_state_kind kind,
                           const float **data, size_t *numel);
/* Scalar state: ADAOPT_STATE_STEP (every algorithm), ADAOPT_STATE_MU_PRODUCT (NAdam),
 * LAMB's ADAOPT_STATE_WEIGHT_NORM, _ADAM_NORM, _TRUST_RATIO (of the tensor's last step), and
 * ASGD's ADAOPT_STATE_ETA, _MU (for its next step). */
ADAOPT_API adaopt_status adaopt_state_scalar(const adaopt_optimizer *opt, size_t tensor,
                                  adaopt_state_kind kind, double *value);

/* Writes one state array of a tensor (for importing state, e.g. from a torch.optim state_dict):
 * numel floats; the tensor's step count must be set too.  Allocates the array if its option was
 * never on.  ADAOPT_ERR_OPTION for a state this algorithm has not. */
ADAOPT_API adaopt_status adaopt_set_state(adaopt_optimizer *opt, size_t tensor,
                                          adaopt_state_kind kind, const float *data, size_t numel);
/* Sets ADAOPT_STATE_STEP (a whole number >= 0) or ADAOPT_STATE_MU_PRODUCT (NAdam, in [0, 1]). */
ADAOPT_API adaopt_status adaopt_set_state_scalar(adaopt_optimizer *opt, size_t tensor,
                                                 adaopt_state_kind kind, double value);

/* ---------------------------------------------------------------------------------------------
 * Schedule-Free AdamW (ADAOPT_ALGO_ADAMW_SCHEDULE_FREE; formulas in docs/ALGORITHMS.md).  It
 * keeps three sequences: z (an Adam-normalized SGD iterate, stored as state), x (the weighted
 * average of the z's: the weights to evaluate and to ship) and y = (1 - beta1) z + beta1 x, where
 * the gradients are taken.  Two are stored: while training the parameters hold y; adaopt_eval
 * turns them into x, and adaopt_train back into y.  So: adaopt_eval before evaluating or saving
 * the model, adaopt_train before the next step.  A step in eval mode is refused
 * (ADAOPT_ERR_STATE) and changes nothing.  A new optimizer is in train mode.  (schedulefree's
 * optimizer starts in eval mode and raises until .train() is called; before the first step
 * there is nothing to swap, so the two differ only in that exception.)  A tensor that has not
 * stepped yet has no z and is left as it is.  For the other algorithms both calls only record
 * the mode.  The mode is saved in checkpoints; save one in the mode the model was saved in.
 *
 * params[i] points to tensor i's elements in its group's type (adaopt_step_typed's arrays; a
 * float32 program passes its float pointers cast to void *).  For bf16/fp16 groups with master
 * weights the master is swapped and the parameter rewritten from it (nearest-even); without
 * master the parameter is swapped in float32 and rounded to nearest-even.  A NULL params[i]
 * skips tensor i.  Calling adaopt_eval in eval mode (or adaopt_train in train mode) does
 * nothing, as in schedulefree.
 * ------------------------------------------------------------------------------------------- */
ADAOPT_API adaopt_status adaopt_eval(adaopt_optimizer *opt, void *const *params, size_t n_tensors);
ADAOPT_API adaopt_status adaopt_train(adaopt_optimizer *opt, void *const *params, size_t n_tensors);
/* 1 in train mode (a new optimizer's), 0 after adaopt_eval; 0 for NULL. */
ADAOPT_API int adaopt_is_training(const adaopt_optimizer *opt);
/* Schedule-Free's per-group scalars: ADAOPT_STATE_K, _WEIGHT_SUM, _LR_MAX, _TRAIN_MODE and (read
 * only) _SCHEDULED_LR; LAMB's ADAOPT_STATE_K (its bias correction's t: every step advances it,
 * whether or not the group's tensors have gradients); ADAOPT_ERR_OPTION for other kinds or
 * algorithms.  Setting them imports a
 * schedulefree state_dict: K a whole number in [0, 2^53], WEIGHT_SUM not negative and not NaN
 * (infinite where the weights overflowed), LR_MAX >= -1 and within float32, TRAIN_MODE 0 or 1
 * (ADAOPT_ERR_VALUE otherwise).  Setting TRAIN_MODE records
 * the mode of every group without moving any parameter, as loading a state dict does (the
 * parameters come with the model). */
ADAOPT_API adaopt_status adaopt_group_state(const adaopt_optimizer *opt, size_t group,
                                            adaopt_state_kind kind, double *value);
ADAOPT_API adaopt_status adaopt_set_group_state(adaopt_optimizer *opt, size_t group,
                                                adaopt_state_kind kind, double value);

/* Shapes (Adafactor).  A tensor is a flat array of numel elements unless given a shape; a shape
 * of two or more dimensions (dims[0] x ... x dims[ndim-1], their product numel) makes Adafactor
 * factor its second moment over the last two dimensions: row_var of numel / dims[ndim-1]
 * elements and col_var of numel / dims[ndim-2] -- a 4096 x 4096 matrix keeps 32 KiB instead of
 * 64 MiB.  Set it before the tensor's first step (ADAOPT_ERR_STATE after, or once state was set;
 * its state is remade).  ndim 1..8 (1: a vector again); ADAOPT_ERR_SIZE if the product is not
 * numel.  Any algorithm accepts it; only Adafactor's state depends on it.  Saved in checkpoints
 * (a checkpoint loads only into tensors of the same shape). */
ADAOPT_API adaopt_status adaopt_set_shape(adaopt_optimizer *opt, size_t tensor, const size_t *dims,
                                          size_t ndim);

/* The per-coordinate effective learning rate of tensor `tensor`: the factor its most recent
 * step multiplied the (momentum-smoothed) gradient by, computed from the current state and the
 * group's current hyperparameters (ALGORITHMS.md, "Effective learning rate"):
 *   SGD lr;  AdaGrad clr/(sqrt(G)+eps);  RMSProp lr/d;  Adam(W) lr/bc1/(sqrt(u)/sqrt(bc2)+eps);
 *   Adamax lr/bc1/u;  Schedule-Free lr_k/(sqrt(v/bc2)+eps) (z's factor; lr_k after warmup);
 *   NAdam lr*((1-mu_t)/(1-P_t) + mu_next/(1-P_t*mu_next))/d  (the factor on
 *   g and on m added: the step when g equals m);  RAdam lr*r*sqrt(bc2)/bc1/(sqrt(v)+eps), or
 *   lr/bc1 while the variance is not tractable (rho_t <= 5).
 * Denominators follow the group's eps_mode.  Writes `numel` floats to out; numel must equal the
 * tensor's.  ADAOPT_ERR_STATE before the tensor's first step. */
ADAOPT_API adaopt_status adaopt_effective_lr(const adaopt_optimizer *opt, size_t tensor, float *out,
                                  size_t numel);

/* ---------------------------------------------------------------------------------------------
 * Learning-rate schedules: pure functions of (base lr, step), applied by the caller with
 * adaopt_set(opt, group, ADAOPT_LR, adaopt_schedule_lr(&s, base_lr, step)).  They mirror
 * torch.optim.lr_scheduler's closed forms; `step` counts scheduler steps from 0.
 * ------------------------------------------------------------------------------------------- */

typedef enum adaopt_schedule_kind {
    ADAOPT_SCHED_CONSTANT = 1,      /* lr = base */
    ADAOPT_SCHED_STEP = 2,          /* base * gamma^floor(step / step_size)          (StepLR) */
    ADAOPT_SCHED_EXPONENTIAL = 3,   /* base * gamma^step                      (ExponentialLR) */
    ADAOPT_SCHED_COSINE = 4,        /* eta_min + (base - eta_min)(1 + cos(pi step/t_max))/2,
                                       held at eta_min after t_max           (CosineAnnealingLR) */
    ADAOPT_SCHED_WARMUP_COSINE = 5  /* base * (step+1)/warmup_steps for step < warmup_steps,
                                       then cosine from base to eta_min over the remaining
                                       t_max - warmup_steps steps, then eta_min (seed 003's
                                       transformer recipe) */
} adaopt_schedule_kind;

typedef struct adaopt_schedule {
    adaopt_schedule_kind kind;
    uint64_t step_size;    /* STEP: > 0 */
    double gamma;          /* STEP, EXPONENTIAL: in (0, 1] */
    uint64_t t_max;        /* COSINE, WARMUP_COSINE: total steps, > 0 (> warmup_steps) */
    double eta_min;        /* COSINE, WARMUP_COSINE: final lr, >= 0 */
    uint64_t warmup_steps; /* WARMUP_COSINE: > 0 */
} adaopt_schedule;

/* ADAOPT_OK if the schedule's fields are valid for its kind, else ADAOPT_ERR_VALUE or
 * ADAOPT_ERR_NULL.  adaopt_schedule_lr on an invalid schedule returns NaN. */
ADAOPT_API adaopt_status adaopt_schedule_check(const adaopt_schedule *schedule);
ADAOPT_API double adaopt_schedule_lr(const adaopt_schedule *schedule, double base_lr, uint64_t step);

/* ---------------------------------------------------------------------------------------------
 * Gradient clipping: operates on your gradient buffers before adaopt_step, as
 * torch.nn.utils.clip_grad_norm_ / clip_grad_value_ do.  NULL gradients are skipped.
 * ------------------------------------------------------------------------------------------- */

/* Scales all gradients by min(1, max_norm / (total_norm + 1e-6)), where total_norm is the
 * `norm_type` norm of all gradients together (norm_type 2.0, 1.0, or INFINITY; accumulated in
 * double).  *total_norm (may be NULL) receives the norm before clipping.  max_norm must be
 * >= 0.  A non-finite norm is reported in *total_norm and scales the gradients to NaN, as
 * torch does with error_if_nonfinite=False. */
ADAOPT_API adaopt_status adaopt_clip_grad_norm(float *const *grads, const size_t *numels, size_t n_tensors,
                                    double max_norm, double norm_type, double *total_norm);
/* Clamps every gradient element to [-clip_value, clip_value]; clip_value must be >= 0. */
ADAOPT_API adaopt_status adaopt_clip_grad_value(float *const *grads, const size_t *numels,
                                     size_t n_tensors, double clip_value);

#ifdef __cplusplus
}
#endif
#endif /* ADAOPT_H */

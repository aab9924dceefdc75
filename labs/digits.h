/*
 * digits.h -- scikit-learn's 8x8 handwritten digits (1,797 images; labs/data/digits.csv.gz:
 * 64 pixel values 0..16 and the label per line) and a small MLP to classify them.
 */
#ifndef ADAOPT_DIGITS_H
#define ADAOPT_DIGITS_H

#include <stddef.h>
#include <stdint.h>

enum { DIGITS_MAX = 1797, DIGITS_PIXELS = 64, DIGITS_CLASSES = 10 };

typedef struct digits {
    int n;
    float x[DIGITS_MAX][DIGITS_PIXELS]; /* pixels / 16: in [0, 1] */
    int label[DIGITS_MAX];
} digits;

/* Loads a gzip (or plain) CSV; 0, or -1 with a message in err. */
int digits_load(const char *path, digits *d, char *err, size_t errlen);
/* The default data path (the copy in the source tree). */
const char *digits_default_path(void);

/* A 64-64-10 perceptron: relu hidden layer, softmax output, cross-entropy loss.  Its parameters
 * are four tensors, in this order: w1 (64 x 64), b1 (64), w2 (10 x 64), b2 (10). */
enum { MLP_HIDDEN = 64, MLP_TENSORS = 4 };
typedef struct mlp {
    float w1[MLP_HIDDEN * DIGITS_PIXELS], b1[MLP_HIDDEN];
    float w2[DIGITS_CLASSES * MLP_HIDDEN], b2[DIGITS_CLASSES];
} mlp;

extern const size_t MLP_NUMELS[MLP_TENSORS];
/* The four tensors of m, for adaopt_step. */
void mlp_tensors(mlp *m, float *out[MLP_TENSORS]);
/* Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights and biases, as torch.nn.Linear. */
void mlp_init(mlp *m, uint64_t seed);
/* Mean cross-entropy of the samples idx[0..n) of d; gradients (of that mean) into *grad. */
double mlp_loss_grad(const mlp *m, const digits *d, const int *idx, int n, mlp *grad);
/* Mean cross-entropy and accuracy of the samples idx[0..n). */
double mlp_evaluate(const mlp *m, const digits *d, const int *idx, int n, double *accuracy);

#endif

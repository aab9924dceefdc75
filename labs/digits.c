/*
 * digits.c -- the digits data set and the MLP.
 */
#define _POSIX_C_SOURCE 200809L
#include "digits.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "problems.h"

#ifndef ADAOPT_SOURCE_DIR
#define ADAOPT_SOURCE_DIR "."
#endif

const char *digits_default_path(void)
{
    return ADAOPT_SOURCE_DIR "/labs/data/digits.csv.gz";
}

/* A data file is a regular file (a FIFO or /dev/zero would be read forever) whose lines end in
 * a newline, hold no NUL byte and number at most LINES_MAX (a file of NULs or blank lines is
 * refused at that count, not read to its end). */
enum { LINES_MAX = 4 * DIGITS_MAX };

int digits_load(const char *path, digits *d, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, fd < 0 ? "cannot open %s" : "%s is not a regular file", path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    gzFile f = gzdopen(fd, "rb");
    if (f == NULL) {
        close(fd);
        snprintf(err, errlen, "cannot open %s", path);
        return -1;
    }
    char line[1024];
    d->n = 0;
    int line_no = 0;
    while (gzgets(f, line, sizeof line) != NULL) {
        line_no++;
        size_t len = strlen(line);
        if (line_no > LINES_MAX || len == 0 || (line[len - 1] != '\n' && !gzeof(f))) {
            snprintf(err, errlen, "%s:%d: %s", path, line_no, line_no > LINES_MAX
                     ? "too many lines for a digits file"
                     : "a line longer than 1023 bytes or with a NUL byte: not a digits file");
            gzclose(f);
            return -1;
        }
        if (line[strspn(line, " \r\n")] == '\0')
            continue;
        if (d->n == DIGITS_MAX) {
            snprintf(err, errlen, "%s: more than %d images", path, DIGITS_MAX);
            gzclose(f);
            return -1;
        }
        char *p = line;
        int values[DIGITS_PIXELS + 1], k = 0;
        while (k <= DIGITS_PIXELS) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p || v < 0 || v > 16)
                break;
            values[k++] = (int)v;
            p = end;
            if (*p == ',')
                p++;
        }
        if (k != DIGITS_PIXELS + 1 || values[DIGITS_PIXELS] > 9 || p[strspn(p, " \r\n")] != '\0') {
            snprintf(err, errlen, "%s:%d: expected 64 pixels 0..16 and a label 0..9", path, line_no);
            gzclose(f);
            return -1;
        }
        for (int i = 0; i < DIGITS_PIXELS; i++)
            d->x[d->n][i] = values[i] / 16.0f;
        d->label[d->n++] = values[DIGITS_PIXELS];
    }
    gzclose(f);
    if (d->n == 0) {
        snprintf(err, errlen, "%s: no images", path);
        return -1;
    }
    return 0;
}

const size_t MLP_NUMELS[MLP_TENSORS] = {MLP_HIDDEN * DIGITS_PIXELS, MLP_HIDDEN,
                                        DIGITS_CLASSES * MLP_HIDDEN, DIGITS_CLASSES};

void mlp_tensors(mlp *m, float *out[MLP_TENSORS])
{
    out[0] = m->w1;
    out[1] = m->b1;
    out[2] = m->w2;
    out[3] = m->b2;
}

void mlp_init(mlp *m, uint64_t seed)
{
    lab_rng r;
    lab_rng_seed(&r, seed);
    double a1 = 1.0 / sqrt(DIGITS_PIXELS), a2 = 1.0 / sqrt(MLP_HIDDEN);
    for (int i = 0; i < MLP_HIDDEN * DIGITS_PIXELS; i++)
        m->w1[i] = (float)(a1 * (2 * lab_rng_uniform(&r) - 1));
    for (int i = 0; i < MLP_HIDDEN; i++)
        m->b1[i] = (float)(a1 * (2 * lab_rng_uniform(&r) - 1));
    for (int i = 0; i < DIGITS_CLASSES * MLP_HIDDEN; i++)
        m->w2[i] = (float)(a2 * (2 * lab_rng_uniform(&r) - 1));
    for (int i = 0; i < DIGITS_CLASSES; i++)
        m->b2[i] = (float)(a2 * (2 * lab_rng_uniform(&r) - 1));
}

/* Forward pass of one image: hidden activations h and class probabilities p; returns -log p[y]. */
static double forward(const mlp *m, const float *x, int y, float *h, double *p)
{
    for (int j = 0; j < MLP_HIDDEN; j++) {
        float s = m->b1[j];
        for (int i = 0; i < DIGITS_PIXELS; i++)
            s += m->w1[j * DIGITS_PIXELS + i] * x[i];
        h[j] = s > 0.0f ? s : 0.0f; /* relu */
    }
    double zmax = -INFINITY, z[DIGITS_CLASSES], sum = 0.0;
    for (int c = 0; c < DIGITS_CLASSES; c++) {
        double s = m->b2[c];
        for (int j = 0; j < MLP_HIDDEN; j++)
            s += (double)m->w2[c * MLP_HIDDEN + j] * h[j];
        z[c] = s;
        zmax = s > zmax ? s : zmax;
    }
    for (int c = 0; c < DIGITS_CLASSES; c++)
        sum += (p[c] = exp(z[c] - zmax)); /* softmax, shifted for stability */
    for (int c = 0; c < DIGITS_CLASSES; c++)
        p[c] /= sum;
    return -(z[y] - zmax - log(sum));
}

double mlp_loss_grad(const mlp *m, const digits *d, const int *idx, int n, mlp *grad)
{
    memset(grad, 0, sizeof *grad);
    double loss = 0.0;
    const float scale = 1.0f / (float)n;
    for (int k = 0; k < n; k++) {
        const float *x = d->x[idx[k]];
        int y = d->label[idx[k]];
        float h[MLP_HIDDEN], dh[MLP_HIDDEN] = {0};
        double p[DIGITS_CLASSES];
        loss += forward(m, x, y, h, p);
        for (int c = 0; c < DIGITS_CLASSES; c++) {
            float dz = (float)(p[c] - (c == y)) * scale; /* d CE / d logit */
            grad->b2[c] += dz;
            for (int j = 0; j < MLP_HIDDEN; j++) {
                grad->w2[c * MLP_HIDDEN + j] += dz * h[j];
                dh[j] += dz * m->w2[c * MLP_HIDDEN + j];
            }
        }
        for (int j = 0; j < MLP_HIDDEN; j++) {
            if (h[j] <= 0.0f)
                continue; /* relu' = 0 */
            grad->b1[j] += dh[j];
            for (int i = 0; i < DIGITS_PIXELS; i++)
                grad->w1[j * DIGITS_PIXELS + i] += dh[j] * x[i];
        }
    }
    return loss / n;
}

double mlp_evaluate(const mlp *m, const digits *d, const int *idx, int n, double *accuracy)
{
    double loss = 0.0;
    int correct = 0;
    for (int k = 0; k < n; k++) {
        float h[MLP_HIDDEN];
        double p[DIGITS_CLASSES];
        loss += forward(m, d->x[idx[k]], d->label[idx[k]], h, p);
        int best = 0;
        for (int c = 1; c < DIGITS_CLASSES; c++)
            best = p[c] > p[best] ? c : best;
        correct += best == d->label[idx[k]];
    }
    if (accuracy)
        *accuracy = (double)correct / n;
    return loss / n;
}

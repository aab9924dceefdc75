/*
 * mpi_digits.c -- data-parallel training of the lab's 64-64-10 MLP on the 1,797 digits, with the
 * optimizer state sharded across MPI ranks (ZeRO-1, include/adaopt_mpi.h):
 *
 *   mpirun -np N ./build/mpi-digits [--epochs E] [--algorithm NAME] [--lr LR] [--data PATH]
 *
 * Every rank holds the model; each batch of 60 training images is split into N equal slices
 * (N must divide 60), rank r computes the mean-loss gradient of slice r, and adaopt_zero_step
 * averages the N gradients, updates each rank's shard of the parameters with its shard of the
 * state and gathers the parameters.  Printed per epoch: the mean training loss, and the test
 * loss and accuracy of the model (the same on every rank).
 *
 * The numbers agree across N to a stated bound, not bit for bit: the optimizer is bit-identical
 * to one process given the average gradient, but the average of N slice means is not the same
 * float sum as one mean over the batch (the association differs), so gradients differ in the
 * last bits and training drifts apart slowly (docs/ZERO.md gives the measured size).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adaopt_mpi.h"
#include "../labs/digits.h"

enum { BATCH = 60, N_TRAIN = 1500 };

static uint64_t next_random(uint64_t *s)
{
    uint64_t x = (*s += 0x9E3779B97F4A7C15ull);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    int epochs = 10;
    double lr = 3e-3;
    const char *data = NULL;
    adaopt_algorithm algorithm = ADAOPT_ALGO_ADAMW;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lr") && i + 1 < argc)
            lr = atof(argv[++i]);
        else if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp(argv[i], "--algorithm") && i + 1 < argc)
            bad |= adaopt_algorithm_from_name(argv[++i], &algorithm) != ADAOPT_OK;
        else
            bad = 1;
    }
    if (bad || epochs < 1 || epochs > 1000 || !(lr > 0) || BATCH % world != 0) {
        if (rank == 0)
            fprintf(stderr, "usage: mpirun -np N mpi-digits [--epochs 1..1000] [--lr LR > 0] "
                    "[--algorithm NAME] [--data PATH]  (N must divide %d)\n", BATCH);
        MPI_Finalize();
        return 2;
    }
    static digits d;
    char err[256];
    if (digits_load(data ? data : digits_default_path(), &d, err, sizeof err) != 0) {
        if (rank == 0)
            fprintf(stderr, "mpi-digits: %s\n", err);
        MPI_Finalize();
        return 1;
    }
    /* The same shuffled split and model on every rank. */
    int order[DIGITS_MAX];
    uint64_t seed = 7;
    for (int i = 0; i < d.n; i++)
        order[i] = i;
    for (int i = d.n - 1; i > 0; i--) {
        int j = (int)(next_random(&seed) % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int n_test = d.n - N_TRAIN;
    static mlp model, grad;
    mlp_init(&model, 1);
    float *params[MLP_TENSORS], *grads[MLP_TENSORS];
    mlp_tensors(&model, params);
    mlp_tensors(&grad, grads);

    size_t group_sizes[1] = {MLP_TENSORS};
    adaopt_zero *z;
    if (adaopt_zero_create(MPI_COMM_WORLD, algorithm, MLP_NUMELS, MLP_TENSORS, group_sizes, 1, &z,
                           err, sizeof err) != ADAOPT_OK ||
        adaopt_zero_set(z, 0, ADAOPT_LR, lr) != ADAOPT_OK ||
        /* the weight matrices' shapes (Adafactor factors them; others ignore them) */
        adaopt_zero_set_shape(z, 0, (const size_t[]){MLP_HIDDEN, DIGITS_PIXELS}, 2) != ADAOPT_OK ||
        adaopt_zero_set_shape(z, 2, (const size_t[]){DIGITS_CLASSES, MLP_HIDDEN}, 2) != ADAOPT_OK) {
        if (rank == 0)
            fprintf(stderr, "mpi-digits: %s\n", z ? adaopt_zero_last_error(z) : err);
        MPI_Finalize();
        return 1;
    }
    uint64_t off, len;
    adaopt_zero_shard(z, &off, &len);
    if (rank == 0)
        printf("%s on %d rank%s: each holds %zu bytes of optimizer state (%llu of the %zu "
               "parameters)\n", adaopt_algorithm_name(algorithm), world, world > 1 ? "s" : "",
               adaopt_zero_state_bytes(z), (unsigned long long)len,
               MLP_NUMELS[0] + MLP_NUMELS[1] + MLP_NUMELS[2] + MLP_NUMELS[3]);
    if (rank == 0)
        printf("epoch  train_loss  test_loss  test_accuracy\n");
    int slice = BATCH / world, batches = N_TRAIN / BATCH;
    double *losses = malloc((size_t)world * sizeof *losses);
    for (int epoch = 1; epoch <= epochs; epoch++) {
        double train = 0;
        for (int b = 0; b < batches; b++) {
            double mine = mlp_loss_grad(&model, &d, order + b * BATCH + rank * slice, slice, &grad);
            adaopt_status st = adaopt_zero_step(z, params, (const float *const *)grads, MLP_TENSORS);
            if (st != ADAOPT_OK) {
                if (rank == 0)
                    fprintf(stderr, "mpi-digits: step: %s\n", adaopt_zero_last_error(z));
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            /* The batch's loss: the slices' means, added in rank order. */
            MPI_Allgather(&mine, 1, MPI_DOUBLE, losses, 1, MPI_DOUBLE, MPI_COMM_WORLD);
            double batch = 0;
            for (int r = 0; r < world; r++)
                batch += losses[r];
            train += batch / world;
        }
        double acc, test = mlp_evaluate(&model, &d, order + N_TRAIN, n_test, &acc);
        if (rank == 0)
            printf("%5d  %10.6f  %9.6f  %13.4f\n", epoch, train / batches, test, acc);
    }
    free(losses);
    adaopt_zero_destroy(z);
    MPI_Finalize();
    return 0;
}

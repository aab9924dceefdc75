/* A program built against the installed adaopt_mpi (tests/install/run.sh): one ZeRO-1 AdamW step
 * on two ranks (or one), checked against the closed form of a first Adam step. */
#include <adaopt_mpi.h>
#include <math.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    adaopt_zero *z;
    size_t numels[2] = {3, 2}, groups[1] = {2};
    char msg[256];
    float w[3] = {1, 1, 1}, b[2] = {0, 0}, gw[3] = {1, -1, 2}, gb[2] = {0.5f, -0.5f};
    float *params[2] = {w, b};
    const float *grads[2] = {gw, gb};
    int bad = adaopt_zero_create(MPI_COMM_WORLD, ADAOPT_ALGO_ADAMW, numels, 2, groups, 1, &z, msg,
                                 sizeof msg) != ADAOPT_OK;
    if (!bad)
        bad = adaopt_zero_set(z, ADAOPT_ALL_GROUPS, ADAOPT_WEIGHT_DECAY, 0) != ADAOPT_OK ||
              adaopt_zero_step(z, params, grads, 2) != ADAOPT_OK;
    /* a first Adam step moves every element by lr against its gradient's sign */
    for (int i = 0; i < 3 && !bad; i++)
        bad = fabsf(w[i] - (1.0f - 1e-3f * (gw[i] > 0 ? 1.0f : -1.0f))) > 1e-6f;
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0)
        printf("adaopt_mpi: w = %.6f %.6f %.6f b = %.6f %.6f %s\n", w[0], w[1], w[2], b[0], b[1],
               bad ? "WRONG" : "ok");
    adaopt_zero_destroy(z);
    MPI_Finalize();
    return bad;
}

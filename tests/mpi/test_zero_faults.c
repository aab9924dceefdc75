/*
 * test_zero_faults.c -- every POSIX call of a sharded save and load (each rank's shard file, rank
 * 0's manifest) made to fail in turn on one rank (tests/faults.h, linked with --wrap): every rank
 * returns ADAOPT_ERR_IO, the failing rank's message names the file, the call and the cause, the
 * previous checkpoint still loads into exactly its state, the optimizer is unchanged, and no
 * temporary or orphan shard file is left; EINTR is retried and the save or load succeeds.
 *
 *   mpirun -np N test_zero_faults DIR
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../faults.h"
#include "zero_common.h"

static const config *CFG = &CONFIGS[6]; /* adam */

static adaopt_zero *make(void)
{
    adaopt_zero *z;
    char msg[256];
    if (adaopt_zero_create(MPI_COMM_WORLD, CFG->algorithm, NUMELS, N_TENSORS, GROUP_SIZES,
                           N_GROUPS, &z, msg, sizeof msg) != ADAOPT_OK) {
        fprintf(stderr, "create: %s\n", msg);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    adaopt_zero_set_threads(z, 1);
    configure(CFG, NULL, z);
    return z;
}

static void train(adaopt_zero *z, int from, int to)
{
    float **p = alloc_tensors(), **mine = alloc_tensors();
    initial_params(p);
    for (int s = from; s < to; s++)
        if (zero_step(CFG, z, p, mine, s, rank, world) != ADAOPT_OK)
            MPI_Abort(MPI_COMM_WORLD, 2);
    free_tensors(p);
    free_tensors(mine);
}

/* This rank's shard state, as bytes (the local optimizer's checkpoint). */
static unsigned char *snapshot(const adaopt_zero *z, size_t *n)
{
    const adaopt_optimizer *local = adaopt_zero_local(z);
    *n = adaopt_checkpoint_size(local);
    unsigned char *b = malloc(*n);
    if (b == NULL || adaopt_save_buffer(local, b, *n, n) != ADAOPT_OK)
        MPI_Abort(MPI_COMM_WORLD, 2);
    return b;
}

static int same_snapshot(const adaopt_zero *z, const unsigned char *want, size_t n)
{
    size_t m;
    unsigned char *now = snapshot(z, &m);
    int same = m == n && memcmp(now, want, n) == 0, all;
    free(now);
    MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all;
}

/* Files in dir: temporary ones, and all. */
static void count_files(const char *dir, int *temps, int *all)
{
    *temps = *all = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        (*all)++;
        *temps += strstr(e->d_name, ".adaopt-tmp-") != NULL;
    }
    if (d != NULL)
        closedir(d);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (argc != 2) {
        if (rank == 0)
            fprintf(stderr, "usage: %s DIR\n", argv[0]);
        MPI_Finalize();
        return 2;
    }
    char dir[400], path[512], other[512];
    snprintf(dir, sizeof dir, "%s/np%d", argv[1], world);
    if (rank == 0) {
        mkdir(argv[1], 0777);
        mkdir(dir, 0777);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    snprintf(path, sizeof path, "%s/ckpt", dir);
    snprintf(other, sizeof other, "%s/count", dir);

    adaopt_zero *old = make(), *z = make();
    train(old, 0, 20);
    train(z, 0, 35);
    size_t n_old, n_new;
    unsigned char *s_old = snapshot(old, &n_old), *s_new = snapshot(z, &n_new);

    /* The calls of one save and one load on every rank. */
    int save_count[N_CALLS], load_count[N_CALLS];
    faults_arm(-1, -1, 0);
    CHECK(adaopt_zero_save(z, other) == ADAOPT_OK, "counting save");
    faults_disarm();
    memcpy(save_count, faults.count, sizeof save_count);
    adaopt_zero *probe = make();
    faults_arm(-1, -1, 0);
    CHECK(adaopt_zero_load(probe, other) == ADAOPT_OK, "counting load");
    faults_disarm();
    memcpy(load_count, faults.count, sizeof load_count);
    adaopt_zero_destroy(probe);
    if (rank == 0) { /* the counting checkpoint goes */
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -f %s/count*", dir);
        CHECK(system(cmd) == 0, "rm");
    }
    MPI_Barrier(MPI_COMM_WORLD);

    static const int ERRS[] = {EIO, ENOSPC, EINTR};
    int trials = 0;
    for (int victim = 0; victim < world; victim++) {
        for (int load = 0; load < 2; load++) {
            int count[N_CALLS];
            memcpy(count, load ? load_count : save_count, sizeof count);
            MPI_Bcast(count, N_CALLS, MPI_INT, victim, MPI_COMM_WORLD);
            for (int call = 0; call < N_CALLS; call++) {
                for (int at = 0; at < count[call]; at++) {
                    for (size_t k = 0; k < sizeof ERRS / sizeof ERRS[0]; k++) {
                        int err = ERRS[k];
                        if ((err == EINTR && call == CALL_RENAME) || (load && err == ENOSPC))
                            continue;
                        /* the previous checkpoint: `old`'s, alone in the folder */
                        if (rank == 0) {
                            char cmd[600];
                            snprintf(cmd, sizeof cmd, "rm -f %s/ckpt*", dir);
                            CHECK(system(cmd) == 0, "rm");
                        }
                        MPI_Barrier(MPI_COMM_WORLD);
                        CHECK(adaopt_zero_save(old, path) == ADAOPT_OK, "restore: %s",
                              adaopt_zero_last_error(old));
                        adaopt_zero *target = load ? make() : z;
                        size_t n_before;
                        unsigned char *before = snapshot(target, &n_before);
                        if (rank == victim)
                            faults_arm(call, at, err);
                        adaopt_status st =
                            load ? adaopt_zero_load(target, path) : adaopt_zero_save(z, path);
                        faults_disarm();
                        const char *what = load ? "load" : "save";
                        char where[160];
                        snprintf(where, sizeof where, "%s, rank %d's %s #%d, %s", what, victim,
                                 CALL_NAMES[call], at, strerror(err));
                        int fired = rank != victim || faults.fired, all_fired;
                        MPI_Allreduce(&fired, &all_fired, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
                        if (!all_fired) { /* that call did not happen this time: nothing to test */
                            free(before);
                            if (load)
                                adaopt_zero_destroy(target);
                            continue;
                        }
                        int replaced = 0; /* the manifest was in place before the fault */
                        if (rank == victim && st != ADAOPT_OK)
                            replaced = strstr(adaopt_zero_last_error(target), "in place") != NULL;
                        MPI_Bcast(&replaced, 1, MPI_INT, victim, MPI_COMM_WORLD);
                        /* EINTR is retried; a close may fail harmlessly (a file read in full,
                         * a folder fsynced already) or not (a shard's, after its rename) */
                        int harmless = err == EINTR || (call == CALL_CLOSE && load);
                        int all_ok, ok = st == ADAOPT_OK;
                        MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
                        if (call == CALL_CLOSE && !load && all_ok)
                            harmless = 1;
                        if (harmless) {
                            CHECK(st == ADAOPT_OK, "%s: %s", where, adaopt_zero_last_error(target));
                        } else {
                            CHECK(st == ADAOPT_ERR_IO, "%s: status %s (%s)", where,
                                  adaopt_status_name(st), adaopt_zero_last_error(target));
                            if (rank == victim) {
                                const char *msg = adaopt_zero_last_error(target);
                                CHECK(strstr(msg, dir) && strstr(msg, strerror(err)) &&
                                          strstr(msg, CALL_NAMES[call]),
                                      "%s: message \"%s\" does not name the file, call and "
                                      "cause", where, msg);
                            }
                        }
                        if (load) {
                            /* a refused load changes nothing; an accepted one gives old's state */
                            int right = harmless ? same_snapshot(target, s_old, n_old)
                                              : same_snapshot(target, before, n_before);
                            CHECK(right, "%s: the state after the load is wrong", where);
                        } else {
                            CHECK(same_snapshot(z, before, n_before),
                                  "%s: the save changed the optimizer", where);
                            /* whatever happened, the checkpoint loads, old or new exactly */
                            adaopt_zero *check = make();
                            st = adaopt_zero_load(check, path);
                            CHECK(st == ADAOPT_OK, "%s: the checkpoint does not load: %s", where,
                                  adaopt_zero_last_error(check));
                            int newer = harmless || replaced;
                            CHECK(same_snapshot(check, newer ? s_new : s_old,
                                                newer ? n_new : n_old),
                                  "%s: the checkpoint holds neither state", where);
                            adaopt_zero_destroy(check);
                        }
                        MPI_Barrier(MPI_COMM_WORLD);
                        int temps = 0, files = 0;
                        if (rank == 0) {
                            count_files(dir, &temps, &files);
                            /* the manifest and one shard per rank; after a fault past the
                             * manifest's rename the previous shards stay too */
                            CHECK(temps == 0 && (files == 1 + world || (replaced && files == 1 + 2 * world)),
                                  "%s: %d files, %d temporary, after the %s", where, files,
                                  temps, what);
                        }
                        free(before);
                        if (load)
                            adaopt_zero_destroy(target);
                        trials++;
                    }
                }
            }
        }
    }
    int total;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("ZeRO checkpoints on %d ranks: %d faults injected (save and load, each rank in "
               "turn), each checked\n%s: %d failures\n", world, trials,
               total ? "FAILED" : "passed", total);
    free(s_old);
    free(s_new);
    adaopt_zero_destroy(old);
    adaopt_zero_destroy(z);
    MPI_Finalize();
    return total ? 1 : 0;
}

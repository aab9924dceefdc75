/*
 * test_crash.c -- checkpoints under real kills and real concurrency (issue 15):
 *   kills      a child saves two optimizer states A and B to one path in a loop and is killed
 *              with SIGKILL at a random moment, 100 times: every time the file loads and holds
 *              exactly A's or B's bytes; the killed saves' temporary files are removed by the
 *              next successful save, and no other file is touched;
 *   two        two processes save different states to one path at once while a third loads it:
 *              every save succeeds (nobody removes a temporary file another is writing), every
 *              load gives A or B exactly, and no temporary file is left;
 *   umask      a checkpoint file's mode is 0666 less the umask, as torch.save's.
 * Plain C (fork, kill, waitpid); prints "N passed, 0 failed" at the end.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "adaopt.h"

enum { NUMEL = 1 << 19 }; /* 2 MiB per Adam state array: a save takes a while */

static int failures;

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                              \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fprintf(stderr, "\n");                                                            \
            failures++;                                                                       \
            return -1;                                                                        \
        }                                                                                     \
    } while (0)

typedef struct bytes {
    unsigned char *p;
    size_t n;
} bytes;

static adaopt_optimizer *trained(int steps)
{
    static float p[NUMEL], g[NUMEL];
    adaopt_optimizer *opt;
    size_t n = NUMEL, group;
    if (adaopt_create(ADAOPT_ALGO_ADAM, &opt) != ADAOPT_OK ||
        adaopt_add_group(opt, &n, 1, &group) != ADAOPT_OK)
        exit(2);
    for (size_t i = 0; i < NUMEL; i++)
        p[i] = (float)(i % 11);
    for (int s = 0; s < steps; s++) {
        for (size_t i = 0; i < NUMEL; i++)
            g[i] = (float)((i + (size_t)s * 5) % 13) - 6.0f;
        if (adaopt_step_flat(opt, p, g) != ADAOPT_OK)
            exit(2);
    }
    return opt;
}

static bytes state_bytes(const adaopt_optimizer *opt)
{
    bytes b;
    b.n = adaopt_checkpoint_size(opt);
    b.p = malloc(b.n);
    if (b.p == NULL || adaopt_save_buffer(opt, b.p, b.n, &b.n) != ADAOPT_OK)
        exit(2);
    return b;
}

static bytes file_bytes(const char *path)
{
    bytes b = {NULL, 0};
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return b;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.p = malloc(n > 0 ? (size_t)n : 1);
    b.n = b.p ? fread(b.p, 1, (size_t)n, f) : 0;
    fclose(f);
    return b;
}

static int same(bytes a, bytes b)
{
    return a.p != NULL && b.p != NULL && a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

static int count_temps(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".adaopt-tmp-") != NULL;
    if (d != NULL)
        closedir(d);
    return n;
}

/* Saves a and b alternately, forever (or `rounds` times); exits 1 on the first failed save. */
static void saver(const char *path, adaopt_optimizer *a, adaopt_optimizer *b, int rounds)
{
    for (int k = 0; rounds < 0 || k < rounds; k++) {
        adaopt_optimizer *which = k % 2 ? b : a;
        if (adaopt_save_file(which, path) != ADAOPT_OK) {
            fprintf(stderr, "save %d failed: %s\n", k, adaopt_last_error(which));
            _exit(1);
        }
    }
    _exit(0);
}

/* The file loads, and is A or B to the byte. */
static int holds_a_or_b(const char *path, bytes a, bytes b, adaopt_optimizer *probe)
{
    bytes now = file_bytes(path);
    int ok = same(now, a) || same(now, b);
    free(now.p);
    CHECK(ok, "%s holds neither state", path);
    CHECK(adaopt_load_file(probe, path) == ADAOPT_OK, "load: %s", adaopt_last_error(probe));
    return 0;
}

static int kills(const char *dir, adaopt_optimizer *a, adaopt_optimizer *b, bytes ba, bytes bb)
{
    char path[512], bystander[512];
    snprintf(path, sizeof path, "%s/kill.ckpt", dir);
    /* a file that looks like ours but is not (no 12 hex digits): never removed */
    snprintf(bystander, sizeof bystander, "%s/kill.ckpt.adaopt-tmp-notours", dir);
    FILE *f = fopen(bystander, "w");
    CHECK(f != NULL && fclose(f) == 0, "cannot create %s", bystander);
    CHECK(adaopt_save_file(a, path) == ADAOPT_OK, "first save");
    adaopt_optimizer *probe = trained(0);
    uint64_t rng = (uint64_t)time(NULL) * 2654435761u;
    int mid_save = 0;
    for (int k = 0; k < 100; k++) {
        pid_t child = fork();
        CHECK(child >= 0, "fork");
        if (child == 0)
            saver(path, a, b, -1);
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        struct timespec wait = {0, (long)((rng >> 33) % 40000000)}; /* up to 40 ms */
        nanosleep(&wait, NULL);
        kill(child, SIGKILL);
        int status;
        waitpid(child, &status, 0);
        CHECK(WIFSIGNALED(status), "the saver ended by itself (status %d)", status);
        mid_save += count_temps(dir) > 1; /* the bystander, and a killed save's file */
        if (holds_a_or_b(path, ba, bb, probe) != 0)
            break;
    }
    /* the next save removes what the killed saves left, and nothing else */
    CHECK(adaopt_save_file(b, path) == ADAOPT_OK, "save after the kills");
    CHECK(count_temps(dir) == 1 && access(bystander, F_OK) == 0,
          "%d temporary files after the next save (want the bystander only)", count_temps(dir));
    printf("kills: 100 SIGKILLs, %d of them during a save; the checkpoint always loaded and was "
           "A or B to the byte; stale temporary files removed by the next save\n", mid_save);
    CHECK(mid_save > 0, "no kill landed during a save: the test did not test");
    unlink(bystander);
    unlink(path);
    adaopt_destroy(probe);
    return 0;
}

static int two_writers(const char *dir, adaopt_optimizer *a, adaopt_optimizer *b, bytes ba,
                       bytes bb)
{
    char path[512];
    snprintf(path, sizeof path, "%s/shared.ckpt", dir);
    CHECK(adaopt_save_file(a, path) == ADAOPT_OK, "first save");
    pid_t w1 = fork();
    if (w1 == 0)
        saver(path, a, a, 40);
    pid_t w2 = fork();
    if (w2 == 0)
        saver(path, b, b, 40);
    CHECK(w1 > 0 && w2 > 0, "fork");
    adaopt_optimizer *probe = trained(0);
    int loads = 0, done = 0, st1 = -1, st2 = -1;
    while (done < 2) {
        if (holds_a_or_b(path, ba, bb, probe) != 0)
            break;
        loads++;
        int status;
        pid_t p;
        while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
            done++;
            if (p == w1)
                st1 = status;
            else
                st2 = status;
        }
    }
    CHECK(WIFEXITED(st1) && WEXITSTATUS(st1) == 0 && WIFEXITED(st2) && WEXITSTATUS(st2) == 0,
          "a writer's save failed (statuses %d, %d)", st1, st2);
    CHECK(count_temps(dir) == 0, "%d temporary files left", count_temps(dir));
    printf("two writers: 80 saves to one path from two processes all succeeded; %d loads in "
           "between, each A or B to the byte; no temporary file left\n", loads);
    unlink(path);
    adaopt_destroy(probe);
    return 0;
}

static int umask_honoured(const char *dir, adaopt_optimizer *a)
{
    char path[512];
    snprintf(path, sizeof path, "%s/mode.ckpt", dir);
    static const mode_t masks[] = {022, 027, 077, 0};
    for (size_t k = 0; k < sizeof masks / sizeof masks[0]; k++) {
        mode_t old = umask(masks[k]);
        adaopt_status st = adaopt_save_file(a, path);
        umask(old);
        struct stat sb;
        CHECK(st == ADAOPT_OK && stat(path, &sb) == 0, "save");
        CHECK((sb.st_mode & 0777) == (0666 & ~masks[k]), "umask %03o: mode %03o, want %03o",
              (unsigned)masks[k], (unsigned)(sb.st_mode & 0777), (unsigned)(0666 & ~masks[k]));
        unlink(path);
    }
    printf("umask: modes 644, 640, 600, 666 under umasks 022, 027, 077, 000\n");
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/adaopt-crash-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    adaopt_optimizer *a = trained(3), *b = trained(6);
    bytes ba = state_bytes(a), bb = state_bytes(b);
    int passed = 0;
    passed += kills(dir, a, b, ba, bb) == 0;
    passed += two_writers(dir, a, b, ba, bb) == 0;
    passed += umask_honoured(dir, a) == 0;
    rmdir(dir);
    free(ba.p);
    free(bb.p);
    adaopt_destroy(a);
    adaopt_destroy(b);
    printf("%d passed, %d failed\n", passed, 3 - passed);
    return failures == 0 && passed == 3 ? 0 : 1;
}

/*
 * report.c -- output folders, CSV files, gnuplot pictures and progress lines for the labs.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab.h"

int lab_make_dir(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        fprintf(stderr, "adaopt: output path too long\n");
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                fprintf(stderr, "adaopt: cannot create %s: %s\n", buf, strerror(errno));
                return -1;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    return 0;
}

FILE *lab_open(const lab_ctx *ctx, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", ctx->out_dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fprintf(stderr, "adaopt: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

/* Runs gnuplot on `script` (a file name inside `dir`) with `dir` as its working folder: the
 * folder's name is never part of the script, so no name can be read as gnuplot code (a quote in
 * it would otherwise end a string, and gnuplot's system() runs a shell).  fork + chdir + exec,
 * since posix_spawn cannot change the folder portably.  1: no gnuplot; 0 ran, -1 failed. */
static int run_gnuplot(const char *dir, const char *script)
{
    int ready[2]; /* the child's exec failure (errno) comes back through a close-on-exec pipe */
    if (pipe(ready) != 0)
        return -1;
    (void)fcntl(ready[1], F_SETFD, FD_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) {
        close(ready[0]);
        close(ready[1]);
        return -1;
    }
    if (pid == 0) {
        close(ready[0]);
        int e = 0;
        if (chdir(dir) != 0)
            e = errno;
        else {
            char *const argv[] = {"gnuplot", (char *)script, NULL};
            execvp("gnuplot", argv);
            e = errno == ENOENT ? -1 : errno;
        }
        ssize_t w = write(ready[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(ready[1]);
    int e = 0;
    ssize_t got;
    do
        got = read(ready[0], &e, sizeof e);
    while (got < 0 && errno == EINTR);
    close(ready[0]);
    int status;
    pid_t waited;
    do
        waited = waitpid(pid, &status, 0);
    while (waited < 0 && errno == EINTR);
    if (got == (ssize_t)sizeof e)
        return e == -1 ? 1 : -1;
    return waited == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int lab_plot(const lab_ctx *ctx, const char *name, const char *script)
{
    static const char *const missing = "gnuplot was not found: pictures are skipped "
                                       "(apt-get install gnuplot-nox)";
    char gp[512];
    if (snprintf(gp, sizeof gp, "%s.gp", name) >= (int)sizeof gp)
        return -1;
    FILE *f = lab_open(ctx, gp);
    if (f == NULL)
        return -1;
    /* File names in the script are relative to the output folder, where gnuplot runs. */
    fprintf(f, "set terminal pngcairo size 1000,700 enhanced font 'DejaVu Sans,11'\n"
               "set output '%s.png'\nset datafile separator ','\nset key outside right\n"
               "set grid lc rgb '#dddddd'\n"
               /* ten distinct colours (matplotlib's tab10): the labs plot up to ten series */
               "set linetype 1 lc rgb '#1f77b4'\nset linetype 2 lc rgb '#ff7f0e'\n"
               "set linetype 3 lc rgb '#2ca02c'\nset linetype 4 lc rgb '#d62728'\n"
               "set linetype 5 lc rgb '#9467bd'\nset linetype 6 lc rgb '#8c564b'\n"
               "set linetype 7 lc rgb '#e377c2'\nset linetype 8 lc rgb '#7f7f7f'\n"
               "set linetype 9 lc rgb '#bcbd22'\nset linetype 10 lc rgb '#17becf'\n"
               "set linetype cycle 10\n%s",
            name, script);
    if (fclose(f) != 0) {
        fprintf(stderr, "adaopt: cannot write %s/%s: %s\n", ctx->out_dir, gp, strerror(errno));
        return -1;
    }
    int rc = run_gnuplot(ctx->out_dir, gp);
    if (rc == 1) {
        fprintf(stderr, "adaopt: %s\n", missing);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "adaopt: gnuplot failed on %s/%s\n", ctx->out_dir, gp);
        return -1;
    }
    return 0;
}

void lab_progress(const lab_ctx *ctx, const char *label, long done, long total)
{
    if (!ctx->progress)
        return;
    fprintf(stderr, "\r  %s: %ld/%ld%s", label, done, total, done == total ? "\r\033[K" : "");
    fflush(stderr);
}

void lab_heading(const char *title)
{
    printf("\n== %s ==\n\n", title);
}

int lab_contour_plot(const lab_ctx *ctx, const char *name, const char *paths_csv,
                     const char *title, double (*loss)(const void *arg, const float *xy),
                     const void *arg, const double box[4], const double zoom[4],
                     const char *levels, int n,
                     const char *titles, double mx, double my, const char *xlabel,
                     const char *ylabel)
{
    char file[512];
    snprintf(file, sizeof file, "%s_grid.csv", name);
    FILE *f = lab_open(ctx, file);
    if (f == NULL)
        return -1;
    const int cells = 200;
    for (int i = 0; i <= cells; i++) {
        for (int j = 0; j <= cells; j++) {
            float xy[2] = {(float)(box[0] + (box[1] - box[0]) * i / cells),
                           (float)(box[2] + (box[3] - box[2]) * j / cells)};
            fprintf(f, "%.6g,%.6g,%.6g\n", xy[0], xy[1], loss(arg, xy));
        }
        fprintf(f, "\n");
    }
    fclose(f);
    /* Contours and paths in one splot seen from above: the grid draws only its contours
     * (nosurface), the paths only their lines (nocontours). */
    char plot[2048], script[8192];
    size_t used = 0;
#define APPEND(...) used += (size_t)snprintf(script + used, sizeof script - used, __VA_ARGS__)
    snprintf(plot, sizeof plot,
             "splot '%s_grid.csv' using 1:2:3 with lines lc rgb '#c8c8c8' nosurface notitle, "
             "\\\n  for [k=0:%d] '%s' skip 1 using (column(2+2*k)):(column(3+2*k)):(0) "
             "with lines lw 2 lc (k+1) nocontours title word(titles, k+1), \\\n"
             "  for [k=0:%d] '%s' skip 1 every ::last::last using (column(2+2*k)):"
             "(column(3+2*k)):(0) with points pt 7 ps 1.3 lc (k+1) nocontours notitle, \\\n"
             "  '+' using (%g):(%g):(0) every ::0::0 with points pt 3 ps 3 lc rgb 'black' "
             "nocontours title 'minimum (dots: where each path ends)'\n",
             name, n - 1, paths_csv, n - 1, paths_csv, mx, my);
    if (zoom != NULL) /* two panels: a wider picture (this terminal line overrides the default) */
        APPEND("set terminal pngcairo size 1500,650 enhanced font 'DejaVu Sans,11'\n"
               "set output '%s.png'\nset multiplot layout 1,2\n", name);
    APPEND("stats '%s' skip 1 using 1 nooutput\nlast = STATS_records - 1\n", paths_csv);
    APPEND("set contour base\nset cntrparam levels discrete %s\nset cntrlabel onecolor\n"
           "set view map\nset size ratio -1\nunset colorbox\ntitles = '%s'\n"
           "set xlabel '%s'\nset ylabel '%s'\nset title '%s'\n"
           "set xrange [%g:%g]\nset yrange [%g:%g]\n",
           levels, titles, xlabel, ylabel, title, box[0], box[1], box[2], box[3]);
    if (zoom != NULL)
        APPEND("unset key\n%sset title 'close to the minimum'\nset key outside right\n"
               "set xrange [%g:%g]\nset yrange [%g:%g]\n%sunset multiplot\n",
               plot, zoom[0], zoom[1], zoom[2], zoom[3], plot);
    else
        APPEND("%s", plot);
#undef APPEND
    if (used >= sizeof script)
        return -1;
    return lab_plot(ctx, name, script);
}

/*
 * lab.h -- the seeds' experiments (`adaopt lab NAME`): each prints a table, writes CSV files and
 * PNG pictures (drawn by gnuplot) into the output folder, and returns 0 on success.
 */
#ifndef ADAOPT_LAB_H
#define ADAOPT_LAB_H

#include <stdio.h>

typedef struct lab_ctx {
    const char *out_dir;   /* CSV and PNG files go here (created if missing) */
    int progress;          /* show a progress line (on a terminal) */
    double activity;       /* sparse lab: the rare feature's probability */
    int sweep;             /* sparse lab: also sweep the activity */
    const char *data_path; /* digits lab: digits.csv.gz */
    int epochs;            /* digits lab: epochs (0: default) */
} lab_ctx;

int lab_sparse(const lab_ctx *ctx);
int lab_regression(const lab_ctx *ctx);
int lab_rosenbrock(const lab_ctx *ctx);
int lab_long_run(const lab_ctx *ctx);
int lab_worked(const lab_ctx *ctx);
int lab_digits(const lab_ctx *ctx);
int lab_precision(const lab_ctx *ctx);
int lab_after_adam(const lab_ctx *ctx);
int lab_muon(const lab_ctx *ctx);

/* The digits (--data or the copy in the tree) and their split order: a shuffle with seed 0,
 * the same for every lab that trains on them (lab_digits.c).  0, or -1 with a message. */
struct digits;
int lab_digits_data(const lab_ctx *ctx, struct digits *d, int *order, int min_images);

/* Helpers (report.c). */
/* Creates the output folder (and parents); 0 or -1 with a message on stderr. */
int lab_make_dir(const char *path);
/* Opens out_dir/name for writing, or prints why not and returns NULL. */
FILE *lab_open(const lab_ctx *ctx, const char *name);
/* Writes out_dir/name.gp and runs gnuplot on it inside out_dir, making out_dir/name.png: the
 * script names its files relative to the folder, whose own name never enters the script.
 * Without gnuplot it says so once and returns 0: the numbers still stand. */
int lab_plot(const lab_ctx *ctx, const char *name, const char *script);
/* A "label: done/total" line that rewrites itself, on a terminal only. */
void lab_progress(const lab_ctx *ctx, const char *label, long done, long total);
/* NAME.png: paths over the contours of a 2-parameter loss.  Writes NAME_grid.csv (the loss on a
 * 200 x 200 grid of box = {x0, x1, y0, y1}) and plots the contours at `levels` (gnuplot's
 * "discrete" list) with the paths of `paths_csv`, whose columns are step, then x and y of each
 * of the `n` paths titled by the space-separated `titles`; (mx, my) is marked as the minimum.
 * With a `zoom` box (or NULL) a second panel shows that region. */
int lab_contour_plot(const lab_ctx *ctx, const char *name, const char *paths_csv,
                     const char *title, double (*loss)(const void *arg, const float *xy),
                     const void *arg, const double box[4], const double zoom[4],
                     const char *levels, int n,
                     const char *titles, double mx, double my, const char *xlabel,
                     const char *ylabel);
/* A heading for a lab's output. */
void lab_heading(const char *title);

#endif

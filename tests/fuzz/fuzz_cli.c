/*
 * fuzz_cli.c -- libFuzzer target: the `adaopt` program's argument parsing.  The input is split
 * at NUL bytes into arguments.  `lab` is left out (it writes files and runs gnuplot) and every
 * run ends with --steps 5 (the last value wins), so that each input runs in microseconds.  Run
 * it with -close_fd_mask=3: the program prints, and libFuzzer keeps its own reports.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int adaopt_cli(int argc, char **argv);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[64];
    int argc = 0;
    argv[argc++] = "adaopt";
    for (size_t i = 0; i <= size && argc < 60;) {
        argv[argc++] = text + i;
        i += strlen(text + i) + 1;
    }
    if (argc > 1 && strcmp(argv[1], "lab") == 0) {
        free(text);
        return 0;
    }
    argv[argc++] = "--steps";
    argv[argc++] = "5";
    argv[argc] = NULL;
    adaopt_cli(argc, argv);
    free(text);
    return 0;
}

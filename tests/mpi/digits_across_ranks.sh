#!/bin/sh
# The MPI digits example trained on 1, 2, 3 and 4 ranks, with AdamW and with Adafactor (its two
# weight matrices factored): every epoch's training loss, test loss and test accuracy agree with
# one rank's to 1e-5 (the bound docs/ZERO.md states: the average of
# N slice means is not the same float sum as one batch mean).  Usage: digits_across_ranks.sh
# MPIRUN MPI_DIGITS
set -eu
mpirun=$1
prog=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for algo in adamw adafactor; do
    for n in 1 2 3 4; do
        "$mpirun" -np "$n" --oversubscribe "$prog" --epochs 8 --algorithm "$algo" --lr 0.01 |
            awk '/^ *[0-9]+ /' >"$work/$n.txt"
        [ "$(wc -l <"$work/$n.txt")" -eq 8 ] || { echo "$algo np $n: expected 8 epochs"; cat "$work/$n.txt"; exit 1; }
    done
    for n in 2 3 4; do
        paste "$work/1.txt" "$work/$n.txt" | awk -v n="$n" -v a="$algo" '
            { for (k = 2; k <= 4; k++) { d = $k - $(k + 4); if (d < 0) d = -d; if (d > worst) worst = d } }
            END { printf "%s, np %d vs 1: largest difference %.1e over 8 epochs\n", a, n, worst;
                  if (worst > 1e-5) { print "beyond the 1e-5 bound"; exit 1 } }'
    done
    cat "$work/4.txt"
done

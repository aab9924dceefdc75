#!/bin/sh
# Installs the built tree into a fresh prefix, then builds and runs tests/install/consumer.c
# through pkg-config and through find_package(adaopt).  Usage: run.sh BUILD_DIR
set -eu
build=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
pcdir=$(dirname "$(find "$prefix" -name adaopt.pc)")
libdir=$(dirname "$(find "$prefix" -name 'libadaopt.so' | head -n 1)")

echo "== pkg-config ($pcdir)"
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs adaopt)
echo "   cc consumer.c $flags"
cc -std=c11 -Wall -Werror "$here/consumer.c" $flags -o "$work/pc_consumer"
LD_LIBRARY_PATH=$libdir "$work/pc_consumer"
# the documented static line, verbatim; the binary must not need libadaopt.so
static_flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs adaopt-static)
echo "   cc consumer.c $static_flags"
cc -std=c11 -Wall -Werror "$here/consumer.c" $static_flags -o "$work/pc_static"
is_static() {
    if readelf -d "$1" | grep -q 'NEEDED.*libadaopt'; then
        echo "$1 needs libadaopt.so: not a static link" >&2
        exit 1
    fi
}
is_static "$work/pc_static"
"$work/pc_static"

echo "== the link lines adaopt.h gives"
inc=$(dirname "$(find "$prefix" -name adaopt.h)")
cc -std=c11 -Wall -Werror "$here/consumer.c" -I"$inc" -L"$libdir" -ladaopt -o "$work/line_shared"
LD_LIBRARY_PATH=$libdir "$work/line_shared"
# the OpenMP flag of the compiler that built the library (gcc: -fopenmp; clang: -fopenmp=libomp)
openmp=$(PKG_CONFIG_PATH=$pcdir pkg-config --static --libs adaopt | grep -o -- '-fopenmp[^ ]*' || true)
cc -std=c11 -Wall -Werror "$here/consumer.c" -I"$inc" $openmp "$libdir/libadaopt.a" -lm -o "$work/line_static"
is_static "$work/line_static"
"$work/line_static"

if [ -n "$(find "$prefix" -name adaopt_mpi.pc)" ]; then
    echo "== adaopt_mpi: mpicc with -ladaopt_mpi -ladaopt, pkg-config shared and static"
    run_mpi() { OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 LD_LIBRARY_PATH=$libdir \
        mpirun -np 2 --oversubscribe "$@"; }
    mpicc -std=c11 -Wall -Werror "$here/consumer_mpi.c" -I"$inc" -L"$libdir" -ladaopt_mpi -ladaopt \
        -lm -o "$work/mpi_line"
    run_mpi "$work/mpi_line"
    mflags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs adaopt_mpi)
    cc -std=c11 -Wall -Werror "$here/consumer_mpi.c" $mflags -lm -o "$work/mpi_pc_shared"
    run_mpi "$work/mpi_pc_shared"
    mcflags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags adaopt_mpi)
    mstatic=$(PKG_CONFIG_PATH=$pcdir pkg-config --static --libs adaopt_mpi | sed 's/-ladaopt_mpi//; s/-ladaopt//')
    cc -std=c11 -Wall -Werror "$here/consumer_mpi.c" $mcflags "$libdir/libadaopt_mpi.a" \
        "$libdir/libadaopt.a" $mstatic -lm -o "$work/mpi_pc_static"
    run_mpi "$work/mpi_pc_static"
fi

echo "== find_package"
cmake -S "$here" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cm" >/dev/null
LD_LIBRARY_PATH=$libdir "$work/cm/consumer_shared"
"$work/cm/consumer_static"
for t in consumer_mpi_shared consumer_mpi_static; do
    [ -x "$work/cm/$t" ] && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
        LD_LIBRARY_PATH=$libdir mpirun -np 2 --oversubscribe "$work/cm/$t"
done
echo "install test passed"

# Convenience over CMake.  The two commands of the README:
#   make demo   builds and runs every lab of the seeds (`adaopt lab all --sweep`): tables in the
#               terminal, CSV and PNG files in lab-output/
#   make test   builds and runs every test: gcc and clang with -Werror, the C suite under
#               ASan+UBSan and under valgrind, the Python binding, parity with PyTorch,
#               and installing the library and building against it.
# Both first install the Debian packages they need (scripts/install-deps.sh).

JOBS ?= $(shell nproc)
CTEST = ctest --output-on-failure -j$(JOBS)
C_TESTS = worked|first_steps|invariants|errors|schedule_clip|kernels|sparse|checkpoint|threads|muon|trainer_api|faults|alloc|precision|lowp|hostile

.PHONY: all deps build demo bench bench-mpi bench-torch web web-build test-web test test-gcc test-clang test-asan test-asan-clang test-valgrind test-fuzz test-python venv clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build -j$(JOBS)

demo: build
	./build/adaopt lab all --sweep --out lab-output

bench: build
	./build/adaopt-bench

# Python packages from PyPI live in .venv (made with Debian's python3, then reused): current
# PyTorch 2.x (with the CUDA libraries its wheel requires: about 3 GB on the first run), numpy
# and the build backend.  Debian's python3-torch (1.13) stays the system interpreter's.
VENV = .venv
VENV_PY = $(CURDIR)/$(VENV)/bin/python
$(VENV)/.ready: scripts/requirements-venv.txt
	@sh scripts/install-deps.sh
	test -x $(VENV_PY) || /usr/bin/python3 -m venv $(VENV)
	$(VENV_PY) -m pip install -q -r scripts/requirements-venv.txt
	touch $@
venv: $(VENV)/.ready

# The Python package as a user gets it: `pip install .` into the venv and `pip wheel .`; then,
# from outside the source tree (so the installed package is what imports), adaopt.torch's
# tests and the numpy binding's tests and parity tests against torch 2.x.  (ctest runs the
# same files from the source tree against Debian's torch 1.13.)
test-python: venv
	$(VENV_PY) -m pip install -q --no-build-isolation --no-deps --force-reinstall .
	rm -rf build/wheel && $(VENV_PY) -m pip wheel -q --no-build-isolation --no-deps . -w build/wheel
	ls build/wheel/adaopt-*-py3-none-*.whl
	cd build && for t in python/test_torch.py python/test_binding.py parity/torch_parity.py \
	    parity/sparse_parity.py parity/same_gradients.py; do \
	  echo "torch 2.x: $$t"; \
	  ADAOPT_TEST_INSTALLED=1 $(VENV_PY) $(CURDIR)/tests/$$t >/dev/null 2>test-python.log || \
	    { tail -40 test-python.log; exit 1; }; \
	done

# adaopt.torch against torch.optim (foreach, and fused where torch has it) and DeepSpeed's CPU
# Adam (installed into .venv here; its op compiles on first use): the step alone and a
# whole training iteration of a ~100M-parameter model, 1 and 2 threads, torch 2.x and 1.13;
# then the share of elements bit-identical to torch.optim on the same gradients (torch_bits);
# then Muon's step against torch.optim.Muon and its iteration against torch's GEMM (muon).
$(VENV)/.deepspeed: $(VENV)/.ready
	$(VENV_PY) -m pip install -q deepspeed ninja
	touch $@
bench-torch: build venv $(VENV)/.deepspeed
	$(VENV_PY) -m pip install -q --no-build-isolation --no-deps --force-reinstall .
	$(VENV_PY) bench/torch_bench.py
	/usr/bin/python3 bench/torch_bench.py
	$(VENV_PY) bench/torch_bits.py
	/usr/bin/python3 bench/torch_bits.py
	$(VENV_PY) bench/muon.py

# ZeRO-1: the state memory table, then step time on 1, 2 and 4 ranks (this machine's cores).
MPIRUN = OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1 \
  mpirun --oversubscribe
bench-mpi: build
	@$(MPIRUN) -np 1 ./build/zero-bench --memory-table
	@echo
	@echo "| ranks | elements | state per rank | sent per rank per step | ZeRO step | one-process step | ratio |"
	@echo "|--:|--:|--:|--:|--:|--:|--:|"
	@for n in 1 2 4; do $(MPIRUN) -np $$n ./build/zero-bench --elems 8388608 || exit 1; done
	@echo
	@echo "Adafactor, one 4096 x 4096 matrix (factored; cut between the ranks, which exchange its column sums):"
	@echo "| ranks | elements | state per rank | sent per rank per step | ZeRO step | one-process step | ratio |"
	@echo "|--:|--:|--:|--:|--:|--:|--:|"
	@for n in 1 2 4; do $(MPIRUN) -np $$n ./build/zero-bench --algorithm adafactor --elems 16777216 --cols 4096 || exit 1; done

test: test-gcc test-clang test-asan test-asan-clang test-valgrind test-fuzz test-web test-python
	@echo "make test: all suites passed"

test-gcc: build
	cd build && $(CTEST)

test-clang: deps
	cmake -S . -B build-clang -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build-clang -j$(JOBS)
	cd build-clang && $(CTEST) -R '^($(C_TESTS))$$'
	@# The NEON kernels, for AArch64 (compiled, not run: there is no such CPU here)
	clang --target=aarch64-linux-gnu -ffreestanding -std=c11 -Wall -Wextra -Werror \
	  -ffp-contract=off -fsyntax-only src/kernels/neon.c

test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DADAOPT_SANITIZE=ON >/dev/null
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=allocator_may_return_null=1 $(CTEST) -R '^($(C_TESTS))$$'
	@# ZeRO over MPI: memory errors and undefined behaviour.  Leak checking is off here: Open
	@# MPI's own allocations in the modules it unloads at exit cannot be told from leaks.
	cd build-asan && ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0 $(CTEST) -R '^zero_'

# The same under clang's sanitizers, whose UBSan also checks pointer arithmetic (overflowing
# offsets, pointers formed outside their array), which gcc's does not.
test-asan-clang: deps
	cmake -S . -B build-asan-clang -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	  -DADAOPT_SANITIZE=ON >/dev/null
	cmake --build build-asan-clang -j$(JOBS)
	cd build-asan-clang && ASAN_OPTIONS=allocator_may_return_null=1 $(CTEST) -R '^($(C_TESTS))$$'
	cd build-asan-clang && ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0 $(CTEST) -R '^zero_'

VALGRIND = valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect

test-valgrind: build
	@for t in $$(echo '$(C_TESTS)' | tr '|' ' '); do \
	  echo "valgrind test_$$t"; \
	  $(VALGRIND) ./build/tests/test_$$t >/dev/null || exit 1; \
	done
	@echo "valgrind adaopt lab worked, adaopt trace"
	@$(VALGRIND) ./build/adaopt lab worked --quiet --out build/valgrind-lab >/dev/null
	@$(VALGRIND) ./build/adaopt trace --problem sparse-regression --optimizer adam --steps 50 \
	  --every 10 --json >/dev/null

# libFuzzer with ASan+UBSan: each target for FUZZ_SECONDS from the seed corpus in tests/fuzz
# (new inputs go to a scratch copy, not the repository); any crash fails.
FUZZ_SECONDS ?= 60
test-fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	  -DADAOPT_SANITIZE=ON -DADAOPT_FUZZ=ON -DADAOPT_BUILD_TESTS=OFF >/dev/null
	cmake --build build-fuzz -j$(JOBS) --target fuzz_checkpoint fuzz_step fuzz_cli fuzz_fields
	@for t in checkpoint step cli fields; do \
	  rm -rf build-fuzz/corpus-$$t && mkdir -p build-fuzz/corpus-$$t && \
	  cp tests/fuzz/corpus/$$t/* build-fuzz/corpus-$$t/ && \
	  echo "fuzz_$$t for $(FUZZ_SECONDS) s" && \
	  ASAN_OPTIONS=allocator_may_return_null=1 ./build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	    -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 -close_fd_mask=3 build-fuzz/corpus-$$t \
	    2>build-fuzz/fuzz_$$t.log || { tail -60 build-fuzz/fuzz_$$t.log; exit 1; }; \
	  grep -E "stat::number_of_executed_units|stat::new_units_added" build-fuzz/fuzz_$$t.log; \
	done

# The live page (web/): the library's C sources and the labs' trace loop compiled to WebAssembly
# with clang and wasi-libc (scalar kernels, no threads, no files), then a Vite build of the page.
WASM_SOURCES = src/optimizer.c src/step.c src/state.c $(wildcard src/algorithms/*.c) src/lowp.c src/precision.c src/memory.c src/options.c src/names.c src/matrix.c src/errors.c src/schedule.c src/clip.c \
  src/scaler.c src/crc32c.c src/kernels/scalar.c src/kernels/dispatch.c labs/problems.c \
  labs/config.c labs/trace.c web/wasm/session.c
web/src/generated/adaopt.wasm: $(WASM_SOURCES) include/adaopt.h labs/*.h src/internal.h src/algorithms/algorithm.h
	@mkdir -p web/src/generated
	clang --target=wasm32-wasi --sysroot=/usr -O2 -std=c11 -Wall -Wextra -Werror -ffp-contract=off \
	  -Iinclude -mexec-model=reactor -o $@ $(WASM_SOURCES)

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

web-build: deps web/src/generated/adaopt.wasm web/node_modules/.package-lock.json
	cd web && npx vite build --logLevel warn

# Serves the built page and prints its address (Ctrl-C stops it).
WEB_PORT ?= 8080
web: web-build
	@echo "adaopt lab page: http://127.0.0.1:$(WEB_PORT)/"
	cd web && npx vite preview --host 127.0.0.1 --port $(WEB_PORT) --strictPort

# The page in headless Chromium, against the native program; screenshots go to build-web/.
test-web: build web-build
	cd web && ADAOPT_CLI=$(CURDIR)/build/adaopt ADAOPT_ARTIFACTS=$(CURDIR)/build-web node tests/browser.test.mjs

clean:
	rm -rf build build-clang build-asan build-asan-clang build-fuzz build-web web/dist web/src/generated

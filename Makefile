# Thin wrapper over CMake. `make demo`, `make test` (and the other developer targets) install
# missing Debian packages first (scripts/deps.sh) and build with -Werror (TTM_WERROR=ON);
# `make install` does neither: it builds with what is installed, as a packager does.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
REL_GCC_BUILD ?= build-rel-gcc
REL_CLANG_BUILD ?= build-rel-clang
INSTALL_BUILD ?= build-install
# `make install DESTDIR=/tmp/stage PREFIX=/usr`: the prefix the tree is configured for (the unit's
# ExecStart and the multiarch libdir depend on it), and where it is staged; CMAKE_ARGS go to
# that configure (e.g. -DCMAKE_C_COMPILER=clang).
PREFIX ?= /usr/local
DESTDIR ?=
CMAKE_ARGS ?=
# The project's own builds treat every warning as an error.
DEV_FLAGS = -DTTM_WERROR=ON
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# `make fuzz`: each libFuzzer target for FUZZ_RUNS executions or FUZZ_SECONDS, whichever ends
# first, one target after the other; FUZZ_TARGETS picks some (e.g. FUZZ_TARGETS="ring hello").
FUZZ_RUNS ?= 10000000
FUZZ_SECONDS ?= 1800
FUZZ_TARGETS ?= $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))

.PHONY: all deps build demo test test-release test-asan test-fuzz fuzz-build fuzz bench clean \
	install format

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(DEV_FLAGS)

# (configured again each time, so that a tree configured by hand gets -Werror back)
build: deps $(BUILD)/CMakeCache.txt
	cmake -S . -B $(BUILD) $(DEV_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/ttmem demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory test-release
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-fuzz

# What a release is built with: Release (-O3 and NDEBUG: other inlining, no asserts, so other
# warnings than RelWithDebInfo) with gcc and with clang, every target, -Werror. Built, not run:
# the tests ran above.
test-release: deps
	cmake -S . -B $(REL_GCC_BUILD) -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Release $(DEV_FLAGS)
	cmake --build $(REL_GCC_BUILD) -j $(JOBS)
	cmake -S . -B $(REL_CLANG_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Release $(DEV_FLAGS)
	cmake --build $(REL_CLANG_BUILD) -j $(JOBS)

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTTM_SANITIZE=ON $(DEV_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

# The fuzz build: clang, every library instrumented for libFuzzer with ASan+UBSan (TTM_FUZZ).
$(FUZZ_BUILD)/CMakeCache.txt:
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTTM_FUZZ=ON \
	  $(DEV_FLAGS)

fuzz-build: deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake -S . -B $(FUZZ_BUILD) $(DEV_FLAGS) >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz-libfuzzer

# Each libFuzzer target briefly over its corpus and regression inputs (ctest label libfuzzer).
test-fuzz: fuzz-build
	cd $(FUZZ_BUILD) && ctest --output-on-failure -L libfuzzer -j $(JOBS)

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz_$$t: $(FUZZ_RUNS) runs or $(FUZZ_SECONDS) s"; \
	  bash fuzz/run.sh $(FUZZ_BUILD)/fuzz/fuzz_$${t}_libfuzzer $$t -runs=$(FUZZ_RUNS) \
	    -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

bench: build
	./$(BUILD)/bench/bench_core
	./$(BUILD)/bench/bench_analyze_log
	./$(BUILD)/bench/bench_client
	./$(BUILD)/bench/bench_e2e
	./$(BUILD)/bench/bench_top
	./$(BUILD)/bench/bench_metrics
	./$(BUILD)/bench/bench_stacks
	python3 bench/pystack.py ./$(BUILD)/tests/libttm_pyprobe.so

# A packager's build in a tree of its own: Release, BUILD_TESTING=OFF (cmocka and the other test
# dependencies are not looked for), warnings not fatal; then staged into DESTDIR (if given) +
# PREFIX. Installs no package: what is missing fails the configure, naming it.
install:
	cmake -S . -B $(INSTALL_BUILD) -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
	  -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS)
	cmake --build $(INSTALL_BUILD) -j $(JOBS)
	DESTDIR="$(DESTDIR)" cmake --install $(INSTALL_BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(REL_GCC_BUILD) $(REL_CLANG_BUILD) $(INSTALL_BUILD)

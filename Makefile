# Thin wrapper over CMake. `make demo` and `make test` install missing Debian packages first.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# `make fuzz`: each libFuzzer target for FUZZ_RUNS executions or FUZZ_SECONDS, whichever ends
# first, one target after the other; FUZZ_TARGETS picks some (e.g. FUZZ_TARGETS="ring hello").
FUZZ_RUNS ?= 10000000
FUZZ_SECONDS ?= 1800
FUZZ_TARGETS ?= $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))

.PHONY: all deps build demo test test-asan test-fuzz fuzz-build fuzz bench clean install format

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/ttmem demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-fuzz

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTTM_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

# The fuzz build: clang, every library instrumented for libFuzzer with ASan+UBSan (TTM_FUZZ).
$(FUZZ_BUILD)/CMakeCache.txt:
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTTM_FUZZ=ON

fuzz-build: deps $(FUZZ_BUILD)/CMakeCache.txt
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

install: build
	cmake --install $(BUILD) --prefix $(or $(PREFIX),/usr/local)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# The two commands of the quick start:
#   make demo   install what is needed, build, run the bundled example jobs
#   make test   install what is needed, build, run every test (plus an ASan+UBSan build)
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja
# Warnings are errors when the project checks itself (`make test`, which CI runs).
WERROR     ?= OFF

.PHONY: setup build build-asan demo test unit e2e test-asan fuzz-smoke bench install package format clean

setup:
	@scripts/setup.sh

# The main build is Release (what users run, and what CI checks with -Werror); configured again
# each time so that WERROR takes effect (quick when nothing changed).
build: setup
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DMAEL_WERROR=$(WERROR) > /dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-asan: setup
	cmake -S . -B $(BUILD_ASAN) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DMAEL_SANITIZE=ON -DMAEL_WERROR=$(WERROR) > /dev/null
	cmake --build $(BUILD_ASAN) -j $(JOBS) --target all_unit_tests

demo: build
	$(BUILD)/bin/maelstrom-run --file examples/demo.json

unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

e2e: build
	MAEL_BIN_DIR=$(abspath $(BUILD))/bin python3 -m pytest -q tests

test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1 ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS)

# Every libFuzzer target (clang, ASan, UBSan) built and run a few seconds on its seed corpus;
# bench/fuzz.sh TARGET SECONDS runs one for longer (bench/FUZZ.md).
fuzz-smoke: setup
	CC=clang CXX=clang++ cmake -S . -B $(BUILD_FUZZ) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMAEL_FUZZ=ON -DMAEL_WERROR=$(WERROR) > /dev/null
	BUILD_FUZZ=$(BUILD_FUZZ) JOBS=$(JOBS) bench/fuzz.sh all 3

# Target-specific: everything `test` builds has warnings as errors.
test: WERROR = ON
test: unit e2e test-asan fuzz-smoke

bench: build
	bench/run.sh

install: build
	cmake --install $(BUILD)

# A Debian package of the Release build: $(BUILD)/maelstrom-cpp_VERSION_ARCH.deb
# (install it with `apt-get install ./FILE.deb`).
package: build
	cd $(BUILD) && cpack -G DEB

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)

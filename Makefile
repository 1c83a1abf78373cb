# nodelet: one entry point. Each component describes itself in a module.mk
# fragment (see mk/rules.mk for the templates it may call).
#
#   make            every binary into build/bin/
#   make deps       apt-get install every build and test dependency
#   make check      build and run every test; last line "N passed, N failed, N skipped"
#   make demo       the main job
#   make bench      side-by-side benchmarks against the reference tools
#   make fuzz       longer fuzzing runs
#   make install    PREFIX=/usr/local DESTDIR= (CNI plugins to CNI_BIN_DIR=/opt/cni/bin)
#   make format     clang-format every C file in place
#   SANITIZE=1      build with ASan+UBSan into build-asan/ and test that build

SHELL := /bin/bash
.DEFAULT_GOAL := all

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
else
BUILD ?= build
endif

CC ?= gcc
FUZZ_CC ?= clang
PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
DESTDIR ?=
CNI_BIN_DIR ?= /opt/cni/bin

include mk/rules.mk
include mk/deps.mk

# Component fragments, in a stable order. A fragment only appends to the
# variables below and calls the templates.
MODULE_MKS := $(sort $(wildcard */module.mk */*/module.mk */*/*/module.mk lib/*.mk))
include $(MODULE_MKS)
$(foreach p,$(MUSL_PROGRAMS),$(eval $(call musl_program,$(p))))

.PHONY: all deps check unit integration fuzz fuzz-check demo bench install format format-check clean check-vm
all: $(ALL_BINS)

deps:
	@bash mk/deps.sh $(sort $(APT_PKGS))

check: deps
	@$(MAKE) --no-print-directory all unit-bins fuzz-bins
	@/usr/bin/python3 tests/run_all.py --build $(BUILD) --sanitize $(SANITIZE) \
		--unit "$(UNIT_TESTS)" --fuzz "$(FUZZ_TARGETS)" --fuzz-seconds $(FUZZ_SECONDS) \
		--extra "$(EXTRA_CHECKS)"

unit-bins: $(UNIT_TESTS)
fuzz-bins: $(FUZZ_TARGETS)

unit: unit-bins
	@/usr/bin/python3 tests/run_all.py --build $(BUILD) --sanitize $(SANITIZE) --unit "$(UNIT_TESTS)" --only unit

integration: all
	@/usr/bin/python3 tests/run_all.py --build $(BUILD) --sanitize $(SANITIZE) --only integration

FUZZ_SECONDS ?= 5
fuzz: fuzz-bins
	@/usr/bin/python3 tests/run_all.py --build $(BUILD) --fuzz "$(FUZZ_TARGETS)" --fuzz-seconds $${FUZZ_LONG_SECONDS:-300} --only fuzz

demo: deps all
	@bash mk/demo.sh $(BUILD)

bench: deps all
	@bash bench/run.sh $(BUILD)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(CNI_BIN_DIR)
	for b in $(INSTALL_BINS); do install -m 0755 $(BUILD)/bin/$$b $(DESTDIR)$(PREFIX)/bin/; done
	for b in $(CNI_PLUGINS); do install -m 0755 $(BUILD)/bin/$$b $(DESTDIR)$(CNI_BIN_DIR)/; done

C_SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null | grep -v '^build')
format:
	clang-format -i $(C_SOURCES)
format-check:
	@clang-format --dry-run --Werror $(C_SOURCES)

clean:
	rm -rf build build-asan

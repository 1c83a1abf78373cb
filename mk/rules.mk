# Build templates used by the module.mk fragments.
#
#   $(eval $(call static_lib,NAME,SRCS))
#       -> $(BUILD)/lib/libNAME.a
#   $(eval $(call program,NAME,SRCS,STATIC_LIBS,LDLIBS))
#       -> $(BUILD)/bin/NAME, linked with the named static libs (first
#          depends on later) and extra linker flags
#   $(eval $(call unit_test,NAME,SRCS,STATIC_LIBS,LDLIBS))
#       -> $(BUILD)/tests/NAME (cmocka), run by make check
#   $(eval $(call fuzz_target,NAME,SRCS,LDLIBS))
#       -> $(BUILD)/fuzz/NAME, built with clang -fsanitize=fuzzer from the
#          listed sources (so the code under test is instrumented)
#
# Variables a fragment appends to: APT_PKGS (Debian packages it needs to build
# or test), EXTRA_CHECKS (commands, see below), INSTALL_BINS (go to $(PREFIX)/bin), CNI_PLUGINS (go to CNI_BIN_DIR).

PKGS_ALL := jansson libnl-3.0 libnl-route-3.0 yaml-0.1 libcurl libseccomp libcap libarchive libcrypto libprotobuf-c libmicrohttpd
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS_ALL) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 -Wno-format-nonliteral
BASE_CFLAGS := -std=gnu17 -O2 -g $(WARN) -D_GNU_SOURCE -fno-strict-aliasing -fstack-protector-strong \
	-I. -I$(BUILD)/gen $(PKG_CFLAGS)
BASE_LDFLAGS :=
ifeq ($(SANITIZE),1)
BASE_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
BASE_LDFLAGS += -fsanitize=address,undefined
else
BASE_CFLAGS += -D_FORTIFY_SOURCE=2
endif
CFLAGS_EXTRA ?=
ALL_CFLAGS = $(BASE_CFLAGS) $(CFLAGS_EXTRA)

FUZZ_CFLAGS := -std=gnu17 -O1 -g -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I. -I$(BUILD)/gen $(PKG_CFLAGS) -Wno-unused-command-line-argument

ALL_BINS :=
UNIT_TESTS :=
FUZZ_TARGETS :=
APT_PKGS :=
INSTALL_BINS :=
CNI_PLUGINS :=
# Commands run last by make check, separated by ";;" (EXTRA_CHECKS += ;; cmd);
# each prints its own closing line
# "N passed, N failed[, N skipped]" which is added to the totals.
EXTRA_CHECKS :=

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CFLAGS_$(subst /,_,$(dir $<))) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

define static_lib
$(BUILD)/lib/lib$(1).a: $(call obj,$(2))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	ar rcs $$@ $$^
endef

define program
ALL_BINS += $(BUILD)/bin/$(1)
$(BUILD)/bin/$(1): $(call obj,$(2)) $(foreach l,$(3),$(BUILD)/lib/lib$(l).a)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BASE_LDFLAGS) -o $$@ $(call obj,$(2)) $(foreach l,$(3),$(BUILD)/lib/lib$(l).a) $(4)
endef

define unit_test
UNIT_TESTS += $(BUILD)/tests/$(1)
$(BUILD)/tests/$(1): $(call obj,$(2)) $(foreach l,$(3),$(BUILD)/lib/lib$(l).a)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BASE_LDFLAGS) -o $$@ $(call obj,$(2)) $(foreach l,$(3),$(BUILD)/lib/lib$(l).a) $(4) -lcmocka
endef

define fuzz_target
FUZZ_TARGETS += $(BUILD)/fuzz/$(1)
$(BUILD)/fuzz/$(1): $(2)
	@mkdir -p $$(dir $$@)
	$$(FUZZ_CC) $$(FUZZ_CFLAGS) -o $$@ $(2) $(3)
endef

# MUSL_PROGRAMS += NAME, with MUSL_SRCS_NAME and MUSL_LDLIBS_NAME set (with
# "=", so they may name source lists of fragments read later)
#   -> $(BUILD)/bin/NAME, linked statically against musl (musl-gcc) from the
#      sources compiled into $(BUILD)/musl-obj/; the rules are made after
#      every fragment is read (Makefile). For the short-lived CNI plugins:
#      glibc's static start-up alone costs ~0.25 ms on x86 VMs (it probes
#      the CPU's caches with dozens of trapping cpuid instructions), musl's
#      ~0.01 ms. musl-gcc searches only musl's headers, so the kernel's
#      uapi headers and jansson's are offered through $(MUSL_INC); archives
#      built for glibc (libjansson.a) link against musl with the few
#      glibc-only symbols they use (cni-plugins/skel/glibc_compat.c).
MUSL_PROGRAMS :=
MUSL_CC ?= musl-gcc
MUSL_INC := $(BUILD)/musl-include
MUSL_MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
MUSL_CFLAGS = -std=gnu17 -O2 -g $(WARN) -D_GNU_SOURCE -fno-strict-aliasing -fstack-protector-strong \
	-I. -isystem $(MUSL_INC) $(CFLAGS_EXTRA)
musl_obj = $(patsubst %.c,$(BUILD)/musl-obj/%.o,$(1))

$(MUSL_INC)/.stamp:
	@mkdir -p $(MUSL_INC)
	ln -sfn /usr/include/linux $(MUSL_INC)/linux
	ln -sfn /usr/include/asm-generic $(MUSL_INC)/asm-generic
	ln -sfn /usr/include/$(MUSL_MULTIARCH)/asm $(MUSL_INC)/asm
	ln -sfn /usr/include/jansson.h $(MUSL_INC)/jansson.h
	ln -sfn /usr/include/jansson_config.h $(MUSL_INC)/jansson_config.h
	@touch $@

$(BUILD)/musl-obj/%.o: %.c | $(MUSL_INC)/.stamp
	@mkdir -p $(dir $@)
	$(MUSL_CC) $(MUSL_CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD)/musl-obj -name '*.d' 2>/dev/null)

define musl_program
ALL_BINS += $(BUILD)/bin/$(1)
$(BUILD)/bin/$(1): $(call musl_obj,$(MUSL_SRCS_$(1)))
	@mkdir -p $$(dir $$@)
	$$(MUSL_CC) -static -o $$@ $(call musl_obj,$(MUSL_SRCS_$(1))) $(MUSL_LDLIBS_$(1))
endef

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

# Streamer: `make run` starts a server, `make test` runs the suite.
# Build outputs go to build/ (build/san with SAN=1); gen/ is written by
# `make gen` only. Quiet by default; V=1 shows every command.

.DEFAULT_GOAL := all
SHELL := /bin/bash

ifeq ($(SAN),1)
BUILD ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	    -fno-sanitize-recover=undefined
else
BUILD ?= build
SANFLAGS :=
endif

CC ?= cc
PKGS := libwebsockets libjwt libpq jansson openssl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS := -std=c11 -Wall -Wextra -Werror -O2 -g -D_GNU_SOURCE \
	  -Iruntime/include $(SANFLAGS)
DEPFLAGS = -MMD -MP
LDFLAGS := $(SANFLAGS)
LDLIBS := -lev -lpthread -lm

RE2C := re2c -W -Werror --no-generation-date --no-version

ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2)
endif

# Fragments append to these.
TEST_BINS :=
TEST_DEPS :=
CLEAN :=

.PHONY: all deps gen test run migrate bench fuzz install clean
# Keep intermediate files (objects of tests, re2c output): they are cached work.
.SECONDARY:
all:

deps:
	$(Q)sh scripts/deps.sh

include codegen/codegen.mk
include runtime/runtime.mk
include tests/lib/lib.mk
include tests/tests.mk
-include bench/bench.mk

# --- generic rules ---------------------------------------------------------

$(BUILD)/%.o: %.c
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) $(DEPFLAGS) -c -o $@ $<

# re2c sources become C under build/, never next to the source.
$(BUILD)/%.c: %.re
	$(call say,RE2C,$<)
	@mkdir -p $(@D)
	$(Q)$(RE2C) -o $@ $<

$(BUILD)/%.o: $(BUILD)/%.c
	$(call say,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -I$(dir $*) -Iruntime -Icodegen $(DEPFLAGS) -c -o $@ $<

# --- the two commands ------------------------------------------------------

# The suite: a throwaway PostgreSQL cluster, every test file under prove,
# each test with its own database (tests/lib/run-test).
test: deps
	$(Q)$(MAKE) --no-print-directory -j$(shell nproc) all $(TEST_BINS) $(TEST_DEPS)
	$(Q)ST_BUILD=$(BUILD) SAN=$(SAN) scripts/test.sh $(TESTS)

run: deps
	$(Q)$(MAKE) --no-print-directory -j$(shell nproc) all
	$(Q)ST_BUILD=$(BUILD) scripts/run.sh

migrate: all
	$(Q)ST_BUILD=$(BUILD) scripts/run.sh migrate

clean:
	rm -rf build $(CLEAN)

# The three programs; the migrations travel inside streamerd.
PREFIX ?= /usr/local
install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/streamerd $(BUILD)/streamer-cli $(BUILD)/streamc \
		$(DESTDIR)$(PREFIX)/bin/

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

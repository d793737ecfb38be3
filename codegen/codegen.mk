# codegen/: streamc, the .stream compiler, and what it generates.
#
#   make gen        idl/*.stream -> gen/ (and stubs in handlers/), rerun only
#                   when a .stream file or streamc changed (stamp in $(BUILD))
#   GEN_OBJ         objects of gen/*.c + handlers/*.c, linked into streamerd
#   TESTGEN_LIB     $(BUILD)/libtestgen.a: idl/*.stream + tests/idl/*.stream
#                   generated into $(BUILD)/test-gen with the handlers of
#                   handlers/ and tests/handlers/; prepended to TEST_LINK so
#                   every C test links the generated code and st_registry_main
#   make fuzz       libFuzzer targets (clang): $(BUILD)/fuzz/{parse,decode}
#   make bench      (bench-codec) decoding vs jansson, streamc on 500 actions
#
# The generated file lists are only known after streamc ran, so the stamp
# rules also write $(BUILD)/gen.mk (-included: make restarts once with it).

STREAMC := $(BUILD)/streamc
STREAMC_SRC := $(wildcard codegen/*.c)
STREAMC_RE := $(wildcard codegen/*.re)
STREAMC_OBJ := $(STREAMC_SRC:%.c=$(BUILD)/%.o) $(STREAMC_RE:%.re=$(BUILD)/%.o)

$(STREAMC): $(STREAMC_OBJ)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

all: $(STREAMC)

# --- make gen: idl/ -> gen/ + handlers/ --------------------------------------

IDL := $(sort $(wildcard idl/*.stream))
# The stamps are the makefiles listing what was generated: make includes
# them, so rewriting one restarts make with the new lists.
GEN_STAMP := $(BUILD)/gen.mk
TESTGEN := $(BUILD)/test-gen
TESTGEN_STAMP := $(BUILD)/test-gen.mk
TESTGEN_LIB := $(BUILD)/libtestgen.a
TEST_IDL := $(IDL) $(sort $(wildcard tests/idl/*.stream))
TEST_HANDLERS := $(wildcard handlers/*.c tests/handlers/*.c)

# Regenerate when gen/ was emptied by hand, too.
GEN_FORCE := $(if $(wildcard gen/registry.c),,FORCE)
TESTGEN_FORCE := $(if $(wildcard $(TESTGEN)/registry.c),,FORCE)
.PHONY: FORCE
FORCE:

gen: $(GEN_STAMP)

$(GEN_STAMP): $(IDL) $(STREAMC) $(GEN_FORCE)
	$(call say,GEN,gen/)
	@mkdir -p gen handlers $(@D)
	$(Q)$(STREAMC) -o gen --handlers handlers $(IDL)
	$(Q){ printf 'GEN_SRC :='; for f in gen/*.c handlers/*.c; do \
		[ -e "$$f" ] && printf ' %s' "$$f"; done; echo; } > $@

# The test build: its own copy of the handlers, so stubs for test-only IDL
# never land in handlers/.
$(TESTGEN_STAMP): $(TEST_IDL) $(STREAMC) $(TEST_HANDLERS) $(TESTGEN_FORCE)
	$(call say,GEN,$(TESTGEN)/)
	@rm -rf $(TESTGEN) && mkdir -p $(TESTGEN)/handlers
	$(Q)for f in $(TEST_HANDLERS); do cp "$$f" $(TESTGEN)/handlers/; done
	$(Q)$(STREAMC) -o $(TESTGEN) --handlers $(TESTGEN)/handlers $(TEST_IDL)
	$(Q){ printf 'TESTGEN_SRC :='; for f in $(TESTGEN)/*.c $(TESTGEN)/handlers/*.c; do \
		[ -e "$$f" ] && printf ' %s' "$$f"; done; echo; } > $@

ifeq ($(filter clean deps,$(MAKECMDGOALS)),)
ifneq ($(shell command -v re2c 2>/dev/null),)
-include $(GEN_STAMP) $(TESTGEN_STAMP)
endif
endif

GEN_OBJ := $(GEN_SRC:%.c=$(BUILD)/%.o)
TESTGEN_OBJ := $(TESTGEN_SRC:%.c=%.o)
export GEN_OBJ TESTGEN_LIB

$(GEN_OBJ): $(GEN_STAMP)
$(BUILD)/gen/%.o $(BUILD)/handlers/%.o: CFLAGS += -Igen
$(TESTGEN_OBJ): $(TESTGEN_STAMP)
$(TESTGEN)/%.o: CFLAGS += -I$(TESTGEN)

$(TESTGEN_LIB): $(TESTGEN_OBJ)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

TEST_LINK := $(TESTGEN_LIB) $(TEST_LINK)
TEST_DEPS += $(STREAMC) $(TESTGEN_LIB)
CLEAN += gen/*.c gen/*.h gen/*.fbs

# C tests see the generated headers of the test build.
$(BUILD)/tests/%.o: CFLAGS += -I$(TESTGEN)
$(patsubst tests/%.c,$(BUILD)/tests/%.o,$(wildcard tests/[0-9][0-9][0-9][0-9]-*.c)): $(TESTGEN_STAMP)

# --- make fuzz: libFuzzer targets (clang) ----------------------------------

FUZZ_CC := $(shell command -v clang-14 2>/dev/null || command -v clang 2>/dev/null)
FUZZ_FLAGS := -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
	      -Iruntime/include -Iruntime -Icodegen
FUZZ_CODEC := runtime/arena.c runtime/verr.c runtime/scalars.c runtime/jsonw.c \
	      runtime/fb.c $(BUILD)/runtime/json.c
FUZZ_BINS := $(BUILD)/fuzz/parse $(BUILD)/fuzz/decode

$(BUILD)/fuzz/parse: codegen/fuzz/parse.c $(filter-out codegen/main.c,$(STREAMC_SRC)) \
		$(BUILD)/codegen/lexer.c codegen/streamc.h
	$(call say,FUZZ,$@)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(filter %.c,$^)

$(BUILD)/fuzz/decode: codegen/fuzz/decode.c $(FUZZ_CODEC) $(TESTGEN_STAMP)
	$(call say,FUZZ,$@)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -I$(TESTGEN) -o $@ codegen/fuzz/decode.c $(FUZZ_CODEC) \
		$(TESTGEN)/codec_test.c $(TESTGEN)/ct_common.c $(TESTGEN)/demo.c -lm

fuzz: $(FUZZ_BINS)
ifneq ($(FUZZ_CC),)
TEST_DEPS += $(FUZZ_BINS)
endif

# --- make bench: the codec benchmark ------------------------------------------

$(BUILD)/bench/codec: $(BUILD)/bench/codec.o $(TESTGEN_LIB) $(BUILD)/libstreamer.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)
$(BUILD)/bench/codec.o: CFLAGS += -I$(TESTGEN)
$(BUILD)/bench/codec.o: $(TESTGEN_STAMP)

.PHONY: bench-codec
bench-codec: $(BUILD)/bench/codec $(STREAMC)
	$(Q)$(BUILD)/bench/codec $(STREAMC)
bench: bench-codec

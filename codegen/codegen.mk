# codegen/: streamc, the .stream compiler, and what it generates.
#
#   make gen          idl/*.stream -> gen/ (+ stubs in handlers/), when a
#                     .stream file or streamc changed (stamp under $(BUILD))
#   GEN_OBJ           objects of gen/*.c + handlers/*.c, for streamerd
#   TESTGEN_LIB       $(BUILD)/libtestgen.a: idl/ + tests/idl/ generated into
#                     $(BUILD)/test-gen, with handlers/ + tests/handlers/;
#                     prepended to TEST_LINK
#   make fuzz         libFuzzer targets (clang) for the parser and decoders

STREAMC := $(BUILD)/streamc
STREAMC_SRC := $(wildcard codegen/*.c)
STREAMC_RE := $(wildcard codegen/*.re)
STREAMC_OBJ := $(STREAMC_SRC:%.c=$(BUILD)/%.o) $(STREAMC_RE:%.re=$(BUILD)/%.o)

$(STREAMC): $(STREAMC_OBJ)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

all: $(STREAMC)

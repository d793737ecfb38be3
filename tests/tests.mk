# tests/: every tests/NNNN-*.c is a TAP program built to $(BUILD)/tests/,
# linked with $(TEST_LINK) (libstreamer and, once streamc exists, the code
# generated from idl/ and tests/idl/). tests/lib/run-test runs each test
# file, whatever its kind, with a database of its own.

TEST_C := $(wildcard tests/[0-9][0-9][0-9][0-9]-*.c)
TEST_BINS += $(TEST_C:tests/%.c=$(BUILD)/tests/%)
TEST_LINK += $(LIBSTREAMER)

$(BUILD)/tests/%.o: CFLAGS += -Itests/lib

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_LINK)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(TEST_LINK) $(PKG_LIBS) $(LDLIBS)

# tests/lib: shared test infrastructure. libtestlib.a (the WebSocket
# client, HTTP GET and server launcher of wsclient.h; the one-action
# streamerd of onereg.h, for tests that are their own server) is linked
# into every test program; fakesrv is streamerd with the hand-written
# registry of fakereg.c. Works whether included before or after
# tests/tests.mk.

TESTLIB := $(BUILD)/tests/lib/libtestlib.a
FAKESRV := $(BUILD)/tests/lib/fakesrv

$(TESTLIB): $(BUILD)/tests/lib/wsclient.o $(BUILD)/tests/lib/onereg.o
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/lib/%.o: CFLAGS += -Itests/lib -Iruntime

$(FAKESRV): $(BUILD)/tests/lib/fakesrv.o $(BUILD)/tests/lib/fakereg.o $(LIBSTREAMER)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBSTREAMER) $(PKG_LIBS) $(LDLIBS)

# streamerd-test: the real streamerd (runtime/main.c, which streamerd-test.c
# wraps) with the test build's registry (idl/ + tests/idl/, handlers/ +
# tests/handlers/), for the end to end tests that need test-only actions
# (tests/4010-async-*.c). Its main also sets the test hooks of
# runtime/testhooks.h from STREAMER_TEST_LOSE_* (tests/4018 to 4020);
# streamerd never reads those.
STREAMERD_TEST := $(BUILD)/tests/lib/streamerd-test

$(STREAMERD_TEST): $(BUILD)/tests/lib/streamerd-test.o $(TESTGEN_LIB) $(LIBSTREAMER)
	$(call say,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(BUILD)/tests/lib/streamerd-test.o \
		$(TESTGEN_LIB) $(LIBSTREAMER) $(PKG_LIBS) $(LDLIBS)

TEST_DEPS += $(FAKESRV) $(TESTLIB) $(STREAMERD_TEST)
ifneq ($(strip $(TEST_BINS)),)
$(TEST_BINS): $(TESTLIB)
endif
TEST_LINK := $(TESTLIB) $(TEST_LINK)

# runtime/: libstreamer.a (every runtime/*.c and *.re but main.c, plus the
# embedded migrations) and streamerd (main.c + the generated code + the
# user's handlers).

RT_SRC := $(filter-out runtime/main.c,$(wildcard runtime/*.c))
RT_RE := $(wildcard runtime/*.re)
RT_OBJ := $(RT_SRC:%.c=$(BUILD)/%.o) $(RT_RE:%.re=$(BUILD)/%.o) \
	  $(BUILD)/migrations.o
LIBSTREAMER := $(BUILD)/libstreamer.a

$(LIBSTREAMER): $(RT_OBJ)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# The migrations, embedded into the binary.
MIGRATIONS := $(sort $(wildcard migrations/[0-9]*.sql))
$(BUILD)/migrations.c: $(MIGRATIONS) scripts/embed-sql.sh
	$(call say,GEN,$@)
	@mkdir -p $(@D)
	$(Q)scripts/embed-sql.sh $(MIGRATIONS) > $@.tmp && mv $@.tmp $@
$(BUILD)/migrations.o: $(BUILD)/migrations.c
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -Iruntime $(DEPFLAGS) -c -o $@ $<

# streamerd: the runtime, the generated code and the user's handlers.
# GEN_OBJ comes from codegen/codegen.mk (empty until streamc exists).
STREAMERD := $(BUILD)/streamerd
$(STREAMERD): $(BUILD)/runtime/main.o $(GEN_OBJ) $(LIBSTREAMER)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(BUILD)/runtime/main.o $(GEN_OBJ) \
		$(LIBSTREAMER) $(PKG_LIBS) $(LDLIBS)

all: $(LIBSTREAMER) $(STREAMERD)

# streamer-cli: tokens for development and tests, requests from a shell
# (cli/: every cli/*.c).
CLI := $(BUILD)/streamer-cli
CLI_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard cli/*.c))
$(CLI): $(CLI_OBJ)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(PKG_LIBS) $(LDLIBS)

all: $(CLI)

# runtime/: libstreamer.a (every runtime/*.c and *.re but main.c) and
# streamerd (main.c + the generated code + the user's handlers).

RT_SRC := $(filter-out runtime/main.c,$(wildcard runtime/*.c))
RT_RE := $(wildcard runtime/*.re)
RT_OBJ := $(RT_SRC:%.c=$(BUILD)/%.o) $(RT_RE:%.re=$(BUILD)/%.o)
LIBSTREAMER := $(BUILD)/libstreamer.a

$(LIBSTREAMER): $(RT_OBJ)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

all: $(LIBSTREAMER)

# bench/: `make bench` builds the load generator and the bare libwebsockets
# echo server, then bench/run.sh measures streamerd beside its peers and
# appends the tables to bench/results.md. See bench/README.md.

BENCH_BINS := $(BUILD)/bench/loadgen $(BUILD)/bench/lws_load $(BUILD)/bench/lws_echo \
	$(BUILD)/bench/queue

# The queue engine alone (no WebSocket): needs the runtime library.
$(BUILD)/bench/queue: $(BUILD)/bench/queue.o $(LIBSTREAMER)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(PKG_LIBS) $(LDLIBS)

# streamerd is built by bench/run.sh, which measures the peers alone when
# it does not build or does not serve yet.
bench: $(BENCH_BINS)
	$(Q)ST_BUILD=$(BUILD) BENCH_CMD="make bench$(if $(SAN), SAN=$(SAN))" \
		bench/run.sh

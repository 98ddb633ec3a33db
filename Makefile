# breadcrumb: build, test and setup.
#
#   make            all binaries into bin/ (runs `make deps` first when a header is missing)
#   make test       unit tests (cmocka), then integration tests on breadcrumb-broker
#   make test-long  full-size and soak runs
#   make bench      throughput, latency and memory against the raw exactly-once copy
#                   (QUICK=1: about 2 minutes)
#   make test SANITIZE=1   the same, built with AddressSanitizer + UBSan
#   make deps       installs every Debian package and npm test package the project needs
#
# Sources are discovered, not listed: common/*.c is libbreadcrumb, tools/broker/*.c the
# broker, tools/breadcrumb/*.c the CLI, workers/<name>/*.c a worker; in each, main.c holds
# main() and the other files form a library that the CLI and the tests link too,
# tests/unit/test_*.c one cmocka binary each, tests/tools/*.c one test helper program each.

# Every Debian package the project builds, runs or tests with (the Dockerfile in compose/
# installs the runtime subset of this list).
DEB_PACKAGES := build-essential pkg-config ca-certificates \
	librdkafka-dev libavro-dev libjansson-dev libyajl-dev libyaml-dev libcmocka-dev \
	libmicrohttpd-dev libxxhash-dev libssl-dev libcurl4-openssl-dev libisal-dev \
	zlib1g-dev liblz4-dev libzstd-dev libsnappy-dev libjemalloc-dev \
	kcat jq python3 python3-confluent-kafka python3-avro python3-jsonschema prometheus \
	docker-compose

# A header (or file) per package group: when one is missing, `make` runs `make deps`.
DEP_FILES := /usr/include/librdkafka/rdkafka.h /usr/include/avro.h /usr/include/jansson.h \
	/usr/include/yaml.h /usr/include/cmocka.h /usr/include/microhttpd.h /usr/include/xxhash.h \
	/usr/include/openssl/hmac.h /usr/include/x86_64-linux-gnu/curl/curl.h \
	/usr/include/isa-l/crc.h /usr/include/zlib.h /usr/include/lz4.h /usr/include/zstd.h \
	/usr/include/snappy-c.h /usr/include/yajl/yajl_parse.h /usr/include/jemalloc/jemalloc.h \
	/usr/bin/jq
TEST_DEP_FILES := /usr/bin/kcat /usr/lib/python3/dist-packages/confluent_kafka \
	/usr/lib/python3/dist-packages/avro /usr/lib/python3/dist-packages/jsonschema \
	tests/node/node_modules/kafkajs/package.json /usr/bin/prometheus \
	/usr/bin/docker-compose

ifeq ($(SANITIZE),1)
MODE := san
MODE_CFLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
MODE_LDFLAGS := -fsanitize=address,undefined
MODE_LDLIBS :=
else
MODE := rel
MODE_CFLAGS := -O2
MODE_LDFLAGS :=
# jemalloc as malloc: librdkafka allocates every produced message and its headers on the
# writing thread and frees them on its broker thread, a pattern glibc's malloc serves
# slowly (arena locks, fastbin consolidation). Not with the sanitizers (their allocator).
MODE_LDLIBS := -Wl,--push-state,--no-as-needed -ljemalloc -Wl,--pop-state
endif

CC ?= cc
BUILD := build/$(MODE)
BIN := bin
CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -MMD -MP $(MODE_CFLAGS) \
	-Icommon -I. $(EXTRA_CFLAGS)
LDFLAGS := $(MODE_LDFLAGS) $(EXTRA_LDFLAGS)
LDLIBS := -lrdkafka -lavro -ljansson -lyaml -lmicrohttpd -lcurl -lssl -lcrypto -lxxhash \
	-lisal -lz -llz4 -lzstd -lsnappy -lyajl -lpthread -lm $(MODE_LDLIBS)

# bin/ is shared by both modes: remember which one linked it, and relink on a switch.
MODE_STAMP := build/mode-$(MODE)
$(shell mkdir -p build; [ -f $(MODE_STAMP) ] || { rm -f build/mode-*; touch $(MODE_STAMP); })

COMMON_SRC := $(wildcard common/*.c)
COMMON_LIB := $(BUILD)/libbreadcrumb.a
BROKER_SRC := $(filter-out tools/broker/main.c,$(wildcard tools/broker/*.c))
BROKER_LIB := $(BUILD)/libbroker.a
CLI_SRC := $(filter-out tools/breadcrumb/main.c,$(wildcard tools/breadcrumb/*.c))
CLI_LIB := $(BUILD)/libcli.a
WORKER_DIRS := $(patsubst %/,%,$(dir $(wildcard workers/*/main.c)))
WORKER_NAMES := $(notdir $(WORKER_DIRS))
WORKER_SRC := $(filter-out %/main.c,$(wildcard workers/*/*.c))
WORKER_LIB := $(BUILD)/libworkers.a
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_SUPPORT_SRC := $(filter-out tests/unit/test_%,$(wildcard tests/unit/*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRC))

# bin/<worker>: workers/tail_sampler -> bin/tail-sampler
WORKER_BINS := $(foreach w,$(WORKER_NAMES),$(BIN)/$(subst _,-,$(w)))
BINARIES := $(if $(wildcard tools/broker/main.c),$(BIN)/breadcrumb-broker) $(WORKER_BINS) \
	$(if $(wildcard tools/breadcrumb/main.c),$(BIN)/breadcrumb)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

.PHONY: all binaries test test-unit test-integration test-long bench run deps ensure-deps \
	ensure-test-deps clean format
.DEFAULT_GOAL := all

all: ensure-deps
	@$(MAKE) --no-print-directory binaries

binaries: $(BINARIES) $(TOOL_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(COMMON_LIB): $(call obj,$(COMMON_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BROKER_LIB): $(call obj,$(BROKER_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(WORKER_LIB): $(call obj,$(WORKER_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(CLI_LIB): $(call obj,$(CLI_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Link order: users before what they use.
LINK_LIBS := $(CLI_LIB) $(WORKER_LIB) $(BROKER_LIB) $(COMMON_LIB)
# The one cycle: common/bc_options.c lists the worker types of workers/*/options.c, which
# use common. Scan both again after the first pass.
LDLIBS := $(WORKER_LIB) $(COMMON_LIB) $(LDLIBS)

$(BIN)/breadcrumb-broker: $(call obj,tools/broker/main.c) $(LINK_LIBS) $(MODE_STAMP)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LDLIBS)

# The subcommand objects are linked directly: main.c refers to them weakly, and a weak
# reference never pulls a member out of an archive.
$(BIN)/breadcrumb: $(call obj,tools/breadcrumb/main.c) $(call obj,$(CLI_SRC)) $(LINK_LIBS) \
		$(MODE_STAMP)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LDLIBS)

define worker_rule
$(BIN)/$(subst _,-,$(1)): $(call obj,workers/$(1)/main.c) $(LINK_LIBS) $(MODE_STAMP)
	@mkdir -p $(BIN)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o %.a,$$^) $$(LDLIBS)
endef
$(foreach w,$(WORKER_NAMES),$(eval $(call worker_rule,$(w))))

# Objects built through pattern rules (the unit tests' support code) are kept: else make
# deletes them after linking and relinks every unit test on the next run.
.SECONDARY:

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(call obj,$(UNIT_SUPPORT_SRC)) $(LINK_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) -lcmocka $(LDLIBS)

$(BUILD)/tests/tools/%: $(BUILD)/obj/tests/tools/%.o $(LINK_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LDLIBS)

# ---------------------------------------------------------------------------------------
# Tests. Unit tests print cmocka's summary each; integration tests print
# "N passed, N failed" at the end (tests/integration/run.sh).

# The build of `make test` uses every core unless -j was given (a plain `make test` built
# one file at a time).
BUILD_JOBS = $(if $(findstring -j,$(MAKEFLAGS)),,-j$(shell nproc))

test: ensure-deps ensure-test-deps
	@$(MAKE) --no-print-directory $(BUILD_JOBS) binaries $(UNIT_BINS)
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory test-integration

test-unit: $(UNIT_BINS)
	@tests/run-unit.sh $(UNIT_BINS)

test-integration: binaries
	@BC_BUILD=$(BUILD) tests/integration/run.sh $(TESTS)

test-long: ensure-deps ensure-test-deps
	@$(MAKE) --no-print-directory $(BUILD_JOBS) binaries $(UNIT_BINS)
	@$(MAKE) --no-print-directory test-unit
	@BC_LONG=1 BC_BUILD=$(BUILD) tests/integration/run.sh $(TESTS)

# Throughput, latency and memory of every worker against the raw exactly-once copy, in one
# run (README "Performance"): a table on stdout, build/bench/results.json. Not part of
# `make test`. QUICK=1: small sizes, about 2 minutes.
bench: ensure-deps ensure-test-deps
	@$(MAKE) --no-print-directory binaries
	@BC_BUILD=$(BUILD) tools/bench/run.sh $(if $(QUICK),--quick)

# The whole pipeline on this machine, fed with generated data, with a report (README).
run: ensure-deps
	@$(MAKE) --no-print-directory binaries
	@tools/run-demo.sh

# ---------------------------------------------------------------------------------------
# Setup.

ensure-deps:
	@missing=""; for f in $(DEP_FILES); do [ -e "$$f" ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then echo "make: missing$$missing; running make deps"; \
	$(MAKE) --no-print-directory deps; fi

ensure-test-deps:
	@missing=""; for f in $(TEST_DEP_FILES); do [ -e "$$f" ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then echo "make: missing$$missing; running make deps"; \
	$(MAKE) --no-print-directory deps; fi

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PACKAGES)
	@# Node.js may come from another packaging (with its own npm): Debian's only when absent.
	command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y \
		--no-install-recommends nodejs npm
	cd tests/node && npm ci --no-audit --no-fund

clean:
	rm -rf build bin

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

-include $(shell find build/$(MODE)/obj -name '*.d' 2>/dev/null)

# Makefile: builds libttt (static and shared), the `ttt` command, the tests and the examples.
#   make                 release build in build/
#   make DEBUG=1         AddressSanitizer + UndefinedBehaviorSanitizer build in build-debug/
#   make PORTABLE=1      release build for any x86-64 CPU (-march=$(PORTABLE_MARCH), default
#                        x86-64-v2) in build-portable/: CPU-specific kernels chosen at run time
#   make test            installs missing Debian packages, fetches the data, then runs the test
#                        suite in both builds
#   make demo            the README's main job
#   make install PREFIX=/usr/local
CC      ?= cc
PREFIX  ?= /usr/local
VERSION := 0.1.0

ifeq ($(DEBUG),1)
BUILD   ?= build-debug
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
else ifeq ($(PORTABLE),1)
PORTABLE_MARCH ?= x86-64-v2
BUILD   ?= build-portable
OPT     := -O3 -march=$(PORTABLE_MARCH) -g
else
BUILD   ?= build
OPT     := -O3 -march=native -g
endif

CPPFLAGS := -Iinclude -Isrc -D_DEFAULT_SOURCE -DTTT_BUILD_FLAGS='"$(CC) $(OPT)"' 
CFLAGS   := -std=c11 -Wall -Wextra -fopenmp -fPIC $(OPT) $(EXTRA_CFLAGS)
LDLIBS   := -lcjson -lpcre2-8 -lutf8proc -lopenblas -lm
# ttt serve (src/serve, linked into the command only): libmicrohttpd
SERVE_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
LDFLAGS  := -fopenmp $(filter -fsanitize=%,$(OPT)) $(EXTRA_LDFLAGS)

# numeric code compiled twice, float (f32) and double (f64), see src/core/real.h: every file
# under src/ops (but kernels.c) and src/layers, and the language models src/model/lm_*.c
GEN_SRC := $(filter-out src/ops/kernels.c,$(sort $(wildcard src/ops/*.c src/layers/*.c))) \
           $(sort $(wildcard src/model/lm_*.c))
# everything else under src/ except the command-line tool is compiled once
ALL_SRC := $(shell find src -name '*.c' | sort)
CLI_SRC := $(filter src/cli/% src/serve/%,$(ALL_SRC))
LIB_SRC := $(filter-out $(GEN_SRC) $(CLI_SRC),$(ALL_SRC))
TEST_SRC := $(wildcard tests/*.c)
# the test suite's toy model family (docs/adding-a-family.md): compiled like a family's model
# file (twice, f32 and f64), linked into the tests and into $(BUILD)/ttt-toy, the command with
# the toy registered; nothing under src/ names it
TOY_SRC := $(sort $(wildcard tests/family/*.c))

GEN_OBJ := $(GEN_SRC:%.c=$(BUILD)/obj/f32/%.o) $(GEN_SRC:%.c=$(BUILD)/obj/f64/%.o)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
TOY_OBJ := $(TOY_SRC:%.c=$(BUILD)/obj/f32/%.o) $(TOY_SRC:%.c=$(BUILD)/obj/f64/%.o)

.PHONY: all lib test check demo install clean examples deps
all: $(BUILD)/ttt $(BUILD)/libttt.a $(BUILD)/libttt.so $(BUILD)/run_tests $(BUILD)/ttt-toy examples

lib: $(BUILD)/libttt.a $(BUILD)/libttt.so

$(BUILD)/obj/f32/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DTTT_REAL=32 $(CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/obj/f64/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DTTT_REAL=64 $(CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DTTT_REAL=64 $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libttt.a: $(GEN_OBJ) $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/libttt.so: $(GEN_OBJ) $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/ttt: $(CLI_OBJ) $(BUILD)/libttt.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libttt.a $(LDLIBS) $(SERVE_LIBS)

$(BUILD)/run_tests: $(TEST_OBJ) $(TOY_OBJ) $(BUILD)/libttt.a
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(TOY_OBJ) $(BUILD)/libttt.a $(LDLIBS)

$(BUILD)/ttt-toy: $(CLI_OBJ) $(TOY_OBJ) $(BUILD)/libttt.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(TOY_OBJ) $(BUILD)/libttt.a $(LDLIBS) $(SERVE_LIBS)

examples: $(BUILD)/examples/forward
$(BUILD)/examples/forward: examples/forward.c $(BUILD)/libttt.a
	@mkdir -p $(dir $@)
	$(CC) -Iinclude $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libttt.a $(LDLIBS)

deps:
	@scripts/install-deps.sh

# the test suite, in the release build and in the sanitizer build, after fetching the public
# data the tokenizer tests need (scripts/fetch-data.sh: about 150 MB once, then a no-op)
test: deps
	@$(MAKE) --no-print-directory data
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory data-tokens TOKENIZER=llama2 > /dev/null  # the studies' smoke test
	@$(MAKE) --no-print-directory data-long > /dev/null  # the BPE studies' smoke tests (data-bpe too)
	@$(MAKE) --no-print-directory DEBUG=1 all
	@scripts/run-tests.sh

# run the suite of one build only (make check, make check DEBUG=1)
check: all
	@$(BUILD)/run_tests --ttt $(BUILD)/ttt

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh $(BUILD)/ttt

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(BUILD)/ttt $(DESTDIR)$(PREFIX)/bin/ttt
	install -m 644 $(BUILD)/libttt.a $(DESTDIR)$(PREFIX)/lib/libttt.a
	install -m 755 $(BUILD)/libttt.so $(DESTDIR)$(PREFIX)/lib/libttt.so
	install -m 644 include/ttt.h $(DESTDIR)$(PREFIX)/include/ttt.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' -e 's|@LIBS_PRIVATE@|$(LDLIBS)|g' ttt.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ttt.pc
	install -m 644 include/ttt_train.h include/ttt_generate.h include/ttt_tokenizer.h include/ttt_state.h \
	    include/ttt_inner_loop.h $(DESTDIR)$(PREFIX)/include/

clean:
	rm -rf build build-debug build-portable

-include $(GEN_OBJ:.o=.d) $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(TOY_OBJ:.o=.d)

# extra targets of independent parts (data pipeline, fuzzing, benchmarks) live in mk/*.mk
-include $(wildcard mk/*.mk)

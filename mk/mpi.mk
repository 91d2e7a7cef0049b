# mpi.mk: builds the distributed path of `ttt train` (src/dist, docs/distributed.md) when MPI is
# installed. When `mpicc` is on PATH (Debian: openmpi-bin and libopenmpi-dev), src/dist is
# compiled with MPI's include flags and -DTTT_HAVE_MPI, and everything linked with $(LDLIBS)
# (ttt, the tests, libttt.so, examples, benchmarks) gets MPI's link flags; otherwise src/dist
# is the single-process version and nothing needs MPI at run time.
#   make MPI=0      build without MPI even where it is installed
# The flags are recorded in $(BUILD)/obj/src/dist/mpi.flags, so installing or removing MPI
# rebuilds src/dist and relinks.
MPI ?= $(if $(shell command -v mpicc 2>/dev/null),1,0)

ifeq ($(MPI),1)
# Open MPI: --showme:compile/--showme:link; MPICH: -compile_info/-link_info (after the compiler)
MPI_CFLAGS := $(or $(shell mpicc --showme:compile 2>/dev/null),\
                   $(filter -I% -D% -pthread,$(shell mpicc -compile_info 2>/dev/null)))
MPI_LIBS   := $(or $(shell mpicc --showme:link 2>/dev/null),\
                   $(filter -L% -l% -Wl% -pthread,$(shell mpicc -link_info 2>/dev/null)))
# MPI's headers as system headers: their warnings are not ours
MPI_CPPFLAGS := $(patsubst -I%,-isystem %,$(MPI_CFLAGS)) -DTTT_HAVE_MPI
else
MPI_CPPFLAGS :=
MPI_LIBS :=
endif

MPI_STAMP := $(BUILD)/obj/src/dist/mpi.flags
$(shell mkdir -p $(dir $(MPI_STAMP)) && { echo '$(MPI_CPPFLAGS) | $(MPI_LIBS)' | cmp -s - $(MPI_STAMP) || \
    echo '$(MPI_CPPFLAGS) | $(MPI_LIBS)' > $(MPI_STAMP); })

DIST_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard src/dist/*.c))
$(DIST_OBJ): CPPFLAGS += $(MPI_CPPFLAGS)
$(DIST_OBJ): $(MPI_STAMP)
LDLIBS += $(MPI_LIBS)

.PHONY: mpi-info
mpi-info:
	@echo "MPI=$(MPI)  compile: $(MPI_CPPFLAGS)  link: $(MPI_LIBS)"

# training tokens/s of 1 process against 2 MPI processes (bench/mpi_scaling.sh; a quiet machine)
.PHONY: bench-mpi
bench-mpi: all
	@bench/mpi_scaling.sh $(MPI_BENCH_ARGS)

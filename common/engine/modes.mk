# common/engine/modes.mk: fragment owned by one piece of work; see Makefile.am.
# The EAM Hessian (hessian.c), normal modes, participation, VDOS and the
# harmonic MSD (modes.c) and their tests.  modes.c uses CHOLMOD (Debian
# libsuitesparse-dev), which configure checks and ENGINE_LIBS carries.
libpelengine_a_SOURCES += \
  common/engine/hessian.c \
  common/engine/modes.c

MODES_LIBS =

check_PROGRAMS += tests/engine/test_hessian tests/engine/test_modes
tests_engine_test_hessian_SOURCES = tests/engine/test_hessian.c
tests_engine_test_hessian_LDADD = $(TESTUTIL_LDADD) $(MODES_LIBS)
tests_engine_test_modes_SOURCES = tests/engine/test_modes.c
tests_engine_test_modes_LDADD = $(TESTUTIL_LDADD) $(MODES_LIBS)
TESTS += tests/engine/test_hessian tests/engine/test_modes
check_PROGRAMS += tests/engine/test_modes_msd
tests_engine_test_modes_msd_SOURCES = tests/engine/test_modes_msd.c
tests_engine_test_modes_msd_LDADD = $(TESTUTIL_LDADD) $(MODES_LIBS)
TESTS += tests/engine/test_modes_msd

# Benchmark (not a test): bench/modes_bench N0 REP [auto|dense|sparse]
noinst_PROGRAMS += bench/modes_bench
bench_modes_bench_SOURCES = bench/modes_bench.c
bench_modes_bench_LDADD = $(ENGINE_LIBS) $(MODES_LIBS)

# common/engine/artn.mk: fragment owned by one piece of work; see Makefile.am.
# ARTn saddle searches (artn.c), its test and benchmark.
libpelengine_a_SOURCES += common/engine/artn.c

check_PROGRAMS += tests/engine/test_artn
tests_engine_test_artn_SOURCES = tests/engine/test_artn.c
tests_engine_test_artn_LDADD = $(ENGINE_LIBS)
noinst_HEADERS += tests/engine/artn_util.h
TESTS += tests/engine/test_artn

noinst_PROGRAMS += bench/artn_bench
bench_artn_bench_SOURCES = bench/artn_bench.c
bench_artn_bench_LDADD = $(ENGINE_LIBS)
CLEANFILES += tests/artn_glass_300_slow.data

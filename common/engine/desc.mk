# common/engine/desc.mk: structural descriptors (g(r), Voronoi through
# voro++, local S2, MSD and flexibility volume, D2min) and their tests.
# See docs/descriptors.md.
libpelengine_a_SOURCES += \
  common/engine/gr.c \
  common/engine/voronoi.cc \
  common/engine/s2.c \
  common/engine/msd.c \
  common/engine/d2min.c

check_PROGRAMS += tests/engine/test_gr tests/engine/test_voronoi
tests_engine_test_gr_SOURCES = tests/engine/test_gr.c
tests_engine_test_gr_LDADD = $(TESTUTIL_LDADD)
tests_engine_test_voronoi_SOURCES = tests/engine/test_voronoi.c
tests_engine_test_voronoi_LDADD = $(TESTUTIL_LDADD)
TESTS += tests/engine/test_gr tests/engine/test_voronoi
check_PROGRAMS += tests/engine/test_s2 tests/engine/test_msd tests/engine/test_d2min
tests_engine_test_s2_SOURCES = tests/engine/test_s2.c
tests_engine_test_s2_LDADD = $(TESTUTIL_LDADD)
# test_msd compares with the harmonic MSD of modes.c (CHOLMOD: MODES_LIBS).
tests_engine_test_msd_SOURCES = tests/engine/test_msd.c
tests_engine_test_msd_LDADD = $(TESTUTIL_LDADD) $(MODES_LIBS)
tests_engine_test_d2min_SOURCES = tests/engine/test_d2min.c
tests_engine_test_d2min_LDADD = $(TESTUTIL_LDADD)
TESTS += tests/engine/test_s2 tests/engine/test_msd tests/engine/test_d2min

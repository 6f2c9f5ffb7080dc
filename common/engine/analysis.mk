# common/engine/analysis.mk: analysis of per-atom fields (engine analysis.c,
# its tests); fragment owned by the analysis work.  See Makefile.am.
libpelengine_a_SOURCES += common/engine/analysis.c

check_PROGRAMS += tests/engine/test_analysis
tests_engine_test_analysis_SOURCES = tests/engine/test_analysis.c
tests_engine_test_analysis_LDADD = $(TESTUTIL_LDADD)
TESTS += tests/engine/test_analysis
EXTRA_DIST += tests/engine/analysis_ref.py

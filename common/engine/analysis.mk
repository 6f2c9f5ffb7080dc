# common/engine/analysis.mk: analysis of per-atom fields (engine analysis.c,
# its tests); fragment owned by the analysis work.  See Makefile.am.
libpelengine_a_SOURCES += common/engine/analysis.c

check_PROGRAMS += tests/engine/test_analysis
tests_engine_test_analysis_SOURCES = tests/engine/test_analysis.c
tests_engine_test_analysis_LDADD = $(TESTUTIL_LDADD)
TESTS += tests/engine/test_analysis
EXTRA_DIST += tests/engine/analysis_ref.py

# The analysis and pipeline job kinds through kind_io (common/kinds_analysis.c,
# common/kinds_pipeline.c).
check_PROGRAMS += tests/cli/test_analysis_kind
tests_cli_test_analysis_kind_SOURCES = tests/cli/test_analysis_kind.c
tests_cli_test_analysis_kind_CPPFLAGS = $(AM_CPPFLAGS) $(CJSON_CFLAGS)
tests_cli_test_analysis_kind_LDADD = $(PEL_KINDS_LIBS)
TESTS += tests/cli/test_analysis_kind
TESTS += tests/cli/test_analysis.sh
EXTRA_DIST += tests/cli/test_analysis.sh tests/cli/test_analysis.py
# The pipeline through pelmapd + workers (kill -9 of one), against the CLI.
TESTS += tests/cli/test_pipeline_service.sh
EXTRA_DIST += tests/cli/test_pipeline_service.sh

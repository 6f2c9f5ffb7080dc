# common/engine/dyn.mk: minimisation, molecular dynamics and the quench
# protocol (min.c, md.c, quench.c) and their tests.
libpelengine_a_SOURCES += \
  common/engine/min.c \
  common/engine/md.c \
  common/engine/quench.c

noinst_HEADERS += tests/engine/test_md_util.h

check_PROGRAMS += tests/engine/test_min tests/engine/test_md
tests_engine_test_min_SOURCES = tests/engine/test_min.c
tests_engine_test_min_LDADD = $(ENGINE_LIBS)
tests_engine_test_md_SOURCES = tests/engine/test_md.c
tests_engine_test_md_LDADD = $(ENGINE_LIBS)
TESTS += tests/engine/test_min tests/engine/test_md
check_PROGRAMS += tests/engine/test_md_ens
tests_engine_test_md_ens_SOURCES = tests/engine/test_md_ens.c
tests_engine_test_md_ens_LDADD = $(ENGINE_LIBS)
TESTS += tests/engine/test_md_ens

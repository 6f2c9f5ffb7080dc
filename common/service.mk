# common/service.mk: fragment owned by one piece of work; see Makefile.am.

# --- libpelkinds.a + pelmap CLI + tests/cli (engineer K's block) ---
noinst_LIBRARIES += libpelkinds.a
libpelkinds_a_SOURCES = common/kinds.h common/kinds_internal.h \
  common/kinds.c common/kinds_run.c
libpelkinds_a_CPPFLAGS = $(AM_CPPFLAGS) $(CJSON_CFLAGS)
# what a program linking libpelkinds.a needs after it
PEL_KINDS_LIBS = libpelkinds.a libpelengine.a $(CJSON_LIBS) \
  $(LAPACKE_LIBS) $(OPENBLAS_LIBS) $(ARPACK_LIBS) -lm
# --- end of K's block ---

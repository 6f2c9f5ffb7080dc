# common/service.mk: fragment owned by one piece of work; see Makefile.am.

# --- libpelservice.a: the SQLite job queue (engineer S's block) ---
# The schema migrations schema/NNN_*.sql are compiled in as strings
# (common/jobq_schema.c, generated); list new migrations here in order.
JOBQ_MIGRATIONS = schema/001_init.sql schema/002_read_opts.sql schema/003_graphs.sql
noinst_LIBRARIES += libpelservice.a
libpelservice_a_SOURCES = common/jobq.h common/jobq.c
nodist_libpelservice_a_SOURCES = common/jobq_schema.c
libpelservice_a_CPPFLAGS = $(AM_CPPFLAGS) $(SQLITE_CFLAGS) $(CRYPTO_CFLAGS)
CLEANFILES += common/jobq_schema.c
common/jobq_schema.c: $(JOBQ_MIGRATIONS:%=$(top_srcdir)/%) Makefile
	$(AM_V_GEN)mkdir -p common && { \
	  echo '/* Generated from the schema migrations by common/service.mk: do not edit. */'; \
	  n=0; for f in $(JOBQ_MIGRATIONS); do n=$$((n+1)); \
	    echo "static const char jobq__m$$n[] ="; \
	    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/  "/' -e 's/$$/\\n"/' $(top_srcdir)/$$f; \
	    echo '  ;'; done; \
	  echo 'extern const char *const jobq__migrations[];'; \
	  echo 'extern const int jobq__nmigrations;'; \
	  printf 'const char *const jobq__migrations[] = {'; \
	  i=0; while [ $$i -lt $$n ]; do i=$$((i+1)); printf 'jobq__m%d, ' $$i; done; \
	  echo '0};'; \
	  echo "const int jobq__nmigrations = $$n;"; \
	} > $@-t && mv $@-t $@
# what a program linking libpelservice.a needs after it
PEL_SERVICE_LIBS = libpelservice.a $(SQLITE_LIBS) $(CRYPTO_LIBS) -lm
# --- end of S's block ---

# --- libpelkinds.a + pelmap CLI + tests/cli (engineer K's block) ---
noinst_LIBRARIES += libpelkinds.a
libpelkinds_a_SOURCES = common/kinds.h common/kinds_internal.h \
  common/kinds.c common/kinds_run.c common/kinds_desc.c common/kinds_graph.c \
  common/kinds_artn.c common/kinds_analysis.c common/kinds_pipeline.c
libpelkinds_a_CPPFLAGS = $(AM_CPPFLAGS) $(CJSON_CFLAGS)
# what a program linking libpelkinds.a needs after it
PEL_KINDS_LIBS = libpelkinds.a $(ENGINE_LIBS) $(CJSON_LIBS) \
  $(LAPACKE_LIBS) $(OPENBLAS_LIBS) $(ARPACK_LIBS) -lm
bin_PROGRAMS += pelmap
pelmap_SOURCES = common/cli/pelmap.c common/cli/cli.h common/cli/random.c
pelmap_CPPFLAGS = $(AM_CPPFLAGS) $(CJSON_CFLAGS)
pelmap_LDADD = $(PEL_KINDS_LIBS)
# tests/cli: the kind table directly, and the CLI on a small structure (TAP)
check_PROGRAMS += tests/cli/test_kinds
tests_cli_test_kinds_SOURCES = tests/cli/test_kinds.c
tests_cli_test_kinds_CPPFLAGS = $(AM_CPPFLAGS) $(CJSON_CFLAGS)
tests_cli_test_kinds_LDADD = $(PEL_KINDS_LIBS)
TESTS += tests/cli/test_kinds tests/cli/test_cli.sh
EXTRA_DIST += tests/cli/test_cli.sh tests/cli/test_cli.py tests/cli/cuzr_b2_250.data
# the descriptors kind through the CLI and through kind_io (TAP; both use
# tests/data/desc/cuzr500.data)
check_PROGRAMS += tests/cli/test_kinds_desc
tests_cli_test_kinds_desc_SOURCES = tests/cli/test_kinds_desc.c
tests_cli_test_kinds_desc_CPPFLAGS = $(AM_CPPFLAGS) $(CJSON_CFLAGS)
tests_cli_test_kinds_desc_LDADD = $(PEL_KINDS_LIBS)
TESTS += tests/cli/test_desc.sh tests/cli/test_kinds_desc
EXTRA_DIST += tests/cli/test_desc.sh tests/cli/test_desc.py
# the artn sweep kind (job graph) through the CLI, on a 250-atom glass (TAP)
TESTS += tests/cli/test_artn.sh
EXTRA_DIST += tests/cli/test_artn.sh tests/cli/test_artn.py \
  tests/cli/test_artn_glass250.data
# ... and through pelmapd + workers (--db, --server): equal to the CLI sweep
TESTS += tests/cli/test_artn_service.sh
EXTRA_DIST += tests/cli/test_artn_service.sh
# --- end of K's block ---

# server/: pelmapd (libmicrohttpd + SQLite + cJSON) and the job-service tests
# of tests/service/ (engineer S; tests/service/worker_* are engineer K's and
# registered in worker/local.mk).

# --- queue tests (jobq called directly) ---
check_PROGRAMS += tests/service/test_jobq tests/service/test_jobq_race
tests_service_test_jobq_SOURCES = tests/service/test_jobq.c
tests_service_test_jobq_CPPFLAGS = $(AM_CPPFLAGS) $(SQLITE_CFLAGS)
tests_service_test_jobq_LDADD = $(PEL_SERVICE_LIBS)
tests_service_test_jobq_race_SOURCES = tests/service/test_jobq_race.c
tests_service_test_jobq_race_CPPFLAGS = $(AM_CPPFLAGS) $(SQLITE_CFLAGS)
tests_service_test_jobq_race_LDADD = $(PEL_SERVICE_LIBS)
TESTS += tests/service/test_jobq tests/service/test_jobq_race
# job graphs in the queue (jobq_submit_graph): shape, order, inputs,
# failure/cancel cascades, lost children, limits, speed with 2,000 children
check_PROGRAMS += tests/service/test_jobq_graph
tests_service_test_jobq_graph_SOURCES = tests/service/test_jobq_graph.c
tests_service_test_jobq_graph_CPPFLAGS = $(AM_CPPFLAGS) $(SQLITE_CFLAGS)
tests_service_test_jobq_graph_LDADD = $(PEL_SERVICE_LIBS)
TESTS += tests/service/test_jobq_graph

# --- pelmapd ---
bin_PROGRAMS += server/pelmapd
noinst_LIBRARIES += libpelhttp.a
libpelhttp_a_SOURCES = server/http_util.h server/http_util.c
libpelhttp_a_CPPFLAGS = $(AM_CPPFLAGS) $(CJSON_CFLAGS)
server_pelmapd_SOURCES = server/server.h server/pelmapd.c server/api.c server/openapi.c
server_pelmapd_CPPFLAGS = $(AM_CPPFLAGS) $(MHD_CFLAGS) $(CJSON_CFLAGS) $(SQLITE_CFLAGS)
server_pelmapd_LDADD = libpelhttp.a $(PEL_SERVICE_LIBS) $(PEL_KINDS_LIBS) $(MHD_LIBS)

# --- HTTP tests (real pelmapd on loopback) ---
dist_noinst_SCRIPTS += tests/service/api_http.sh
TESTS += tests/service/api_http.sh
# read options of an upload (?types=, ?frame=) through pelmapd and real
# pelmap-worker processes in --db and --server mode
dist_noinst_SCRIPTS += tests/service/read_opts.sh
TESTS += tests/service/read_opts.sh
# job graphs through pelmapd and real workers (--db and --server): fan-out,
# failure, kill -9, cancel, structure_from (graph_qtool queues a chain), CLI
check_PROGRAMS += tests/service/graph_qtool
tests_service_graph_qtool_SOURCES = tests/service/graph_qtool.c
tests_service_graph_qtool_CPPFLAGS = $(AM_CPPFLAGS) $(SQLITE_CFLAGS)
tests_service_graph_qtool_LDADD = $(PEL_SERVICE_LIBS)
dist_noinst_SCRIPTS += tests/service/graph_http.sh
TESTS += tests/service/graph_http.sh
# the shared preamble of the service shell tests (sourced by graph_http.sh,
# tests/cli/test_artn_service.sh, tests/cli/test_pipeline_service.sh)
EXTRA_DIST += tests/service/lib.sh

# --- fuzz target of the HTTP-facing parsers (fixed-seed driver in make check) ---
check_PROGRAMS += tests/fuzz/fuzz_api
tests_fuzz_fuzz_api_SOURCES = tests/fuzz/fuzz_api.c
tests_fuzz_fuzz_api_CPPFLAGS = $(AM_CPPFLAGS) $(CJSON_CFLAGS)
tests_fuzz_fuzz_api_LDADD = libpelhttp.a $(PEL_KINDS_LIBS)
TESTS += tests/fuzz/fuzz_api

# worker/: pelmap-worker (libuv event loop; local --db or remote --server
# job sources).  Owned by engineer K.  Tests: tests/service/worker_*.sh.
bin_PROGRAMS += pelmap-worker
pelmap_worker_SOURCES = worker/worker.h worker/main.c worker/src_db.c \
  worker/src_http.c
pelmap_worker_CPPFLAGS = $(AM_CPPFLAGS) $(CJSON_CFLAGS) $(UV_CFLAGS) \
  $(CURL_CFLAGS) $(SQLITE_CFLAGS)
pelmap_worker_LDADD = $(PEL_KINDS_LIBS) $(PEL_SERVICE_LIBS) $(UV_LIBS) \
  $(CURL_LIBS)

# tests/service/worker_*: real workers on a real queue (and pelmapd when built)
check_PROGRAMS += tests/service/worker_qtool
tests_service_worker_qtool_SOURCES = tests/service/worker_qtool.c
tests_service_worker_qtool_CPPFLAGS = $(AM_CPPFLAGS) $(CJSON_CFLAGS) $(SQLITE_CFLAGS)
tests_service_worker_qtool_LDADD = $(PEL_KINDS_LIBS) $(PEL_SERVICE_LIBS)
TESTS += tests/service/worker_db.sh
EXTRA_DIST += tests/service/worker_db.sh
TESTS += tests/service/worker_http.sh
EXTRA_DIST += tests/service/worker_http.sh

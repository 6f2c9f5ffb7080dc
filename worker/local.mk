# worker/: pelmap-worker (libuv event loop; local --db or remote --server
# job sources).  Owned by engineer K.  Tests: tests/service/worker_*.sh.
bin_PROGRAMS += pelmap-worker
pelmap_worker_SOURCES = worker/worker.h worker/main.c worker/src_db.c \
  worker/src_http.c
pelmap_worker_CPPFLAGS = $(AM_CPPFLAGS) $(CJSON_CFLAGS) $(UV_CFLAGS) \
  $(CURL_CFLAGS) $(SQLITE_CFLAGS)
pelmap_worker_LDADD = $(PEL_KINDS_LIBS) $(PEL_SERVICE_LIBS) $(UV_LIBS) \
  $(CURL_LIBS)

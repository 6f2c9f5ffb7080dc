# bench/local.mk: fragment owned by one piece of work; see Makefile.am.

# --- job-service benchmark (engineer S): not part of make check ---
# bench/service_bench.sh BUILDDIR runs it (needs wrk for the latency part).
EXTRA_PROGRAMS = bench/service_client
bench_service_client_SOURCES = bench/service_client.c
bench_service_client_CPPFLAGS = $(AM_CPPFLAGS) $(CURL_CFLAGS)
bench_service_client_LDADD = $(CURL_LIBS)
CLEANFILES += bench/service_client

# --- engine benchmark (lead): bench/engine.sh BUILDDIR runs it against LAMMPS ---
noinst_PROGRAMS += bench/bench_engine
bench_bench_engine_SOURCES = bench/bench_engine.c
bench_bench_engine_LDADD = $(ENGINE_LIBS)

# --- descriptor benchmark (H5): bench/desc.sh BUILDDIR runs it against LAMMPS ---
noinst_PROGRAMS += bench/desc_bench
bench_desc_bench_SOURCES = bench/desc_bench.c
bench_desc_bench_LDADD = $(ENGINE_LIBS)

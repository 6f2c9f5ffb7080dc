# tests/: every test prints TAP.  Engine tests first; service tests are in
# tests/service.mk (owned by the job-service work).
noinst_HEADERS += tests/tap.h

check_PROGRAMS += tests/engine/test_system
tests_engine_test_system_SOURCES = tests/engine/test_system.c
tests_engine_test_system_LDADD = $(ENGINE_LIBS)

TESTS += tests/engine/test_system

check_LIBRARIES = tests/engine/libtestutil.a
tests_engine_libtestutil_a_SOURCES = tests/engine/testutil.c tests/engine/testutil.h
TESTUTIL_LDADD = tests/engine/libtestutil.a $(ENGINE_LIBS)

check_PROGRAMS += tests/engine/test_eam
tests_engine_test_eam_SOURCES = tests/engine/test_eam.c
tests_engine_test_eam_LDADD = $(TESTUTIL_LDADD)
TESTS += tests/engine/test_eam

check_PROGRAMS += tests/engine/test_neigh
tests_engine_test_neigh_SOURCES = tests/engine/test_neigh.c
tests_engine_test_neigh_LDADD = $(TESTUTIL_LDADD)
TESTS += tests/engine/test_neigh

# Exact local clusters (background density offset; ARTn local mode).
check_PROGRAMS += tests/engine/test_cluster
tests_engine_test_cluster_SOURCES = tests/engine/test_cluster.c
tests_engine_test_cluster_LDADD = $(ENGINE_LIBS)
TESTS += tests/engine/test_cluster

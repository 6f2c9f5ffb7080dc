# tests/: every test prints TAP.  Engine tests first; service tests are in
# tests/service.mk (owned by the job-service work).
noinst_HEADERS += tests/tap.h

check_PROGRAMS += tests/engine/test_system
tests_engine_test_system_SOURCES = tests/engine/test_system.c
tests_engine_test_system_LDADD = libpelengine.a -lm

TESTS += tests/engine/test_system

# common/engine/io.mk: structure-file I/O (LAMMPS data/dump, extended XYZ),
# its tests and fuzz driver.  See docs/formats.md.
libpelengine_a_SOURCES += \
  common/engine/io_common.h \
  common/engine/io_common.c \
  common/engine/io_lammps.c \
  common/engine/io_xyz.c

check_PROGRAMS += tests/engine/test_io
tests_engine_test_io_SOURCES = tests/engine/test_io.c
tests_engine_test_io_LDADD = $(ENGINE_LIBS)
TESTS += tests/engine/test_io

# Fixed-seed mutation fuzzing of the readers (the libFuzzer build is in
# docs/formats.md; it is not part of the default build).
check_PROGRAMS += tests/fuzz/fuzz_io
tests_fuzz_fuzz_io_SOURCES = tests/fuzz/fuzz.h tests/fuzz/fuzz_read.c tests/fuzz/fuzz_main.c
tests_fuzz_fuzz_io_LDADD = $(ENGINE_LIBS)
TESTS += tests/fuzz/fuzz_io

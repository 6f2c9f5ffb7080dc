# common/: the engine library (no HTTP, SQL or JSON inside) and the pelmap CLI.
noinst_LIBRARIES += libpelengine.a
# No errno from sqrt & co: lets the compiler inline them (2% fewer instructions in the force loop).
libpelengine_a_CFLAGS = $(AM_CFLAGS) -fno-math-errno $(FP_CFLAGS)
libpelengine_a_SOURCES = \
  common/engine/engine.h \
  common/engine/internal.h \
  common/engine/err.c \
  common/engine/rng.c \
  common/engine/system.c
libpelengine_a_SOURCES += \
  common/engine/neigh.h \
  common/engine/neigh.c \
  common/engine/eam.c
libpelengine_a_SOURCES += common/engine/eam_int.h

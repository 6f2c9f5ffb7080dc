# common/engine/io.mk: fragment owned by one piece of work; see Makefile.am.

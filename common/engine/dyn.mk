# common/engine/dyn.mk: fragment owned by one piece of work; see Makefile.am.

# common/engine/modes.mk: fragment owned by one piece of work; see Makefile.am.

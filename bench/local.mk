# bench/local.mk: fragment owned by one piece of work; see Makefile.am.

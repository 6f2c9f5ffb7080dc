# common/engine/analysis.mk: analysis of per-atom fields (engine analysis.c,
# its tests); fragment owned by the analysis work.  See Makefile.am.

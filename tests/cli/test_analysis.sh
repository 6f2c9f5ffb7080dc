#!/bin/sh
# test_analysis.sh -- TAP: the analysis job kind through the pelmap command
# line with --input result files (the checks are in test_analysis.py).
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3  # (numpy; a pyenv shim costs ~1 s per start)
exec "$PY" "${PELMAP_SRCDIR:-$(dirname "$0")/../..}/tests/cli/test_analysis.py"

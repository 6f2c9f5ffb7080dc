#!/bin/sh
# test_artn.sh -- TAP: the artn sweep job kind through the pelmap command
# line (the checks are in test_artn.py, next to this file).
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3  # (a pyenv shim costs ~1 s per start)
exec "$PY" "${PELMAP_SRCDIR:-$(dirname "$0")/../..}/tests/cli/test_artn.py"

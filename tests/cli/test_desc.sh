#!/bin/sh
# test_desc.sh -- TAP: the descriptors job kind through the pelmap command
# line (the checks are in test_desc.py, next to this file).
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3  # (a pyenv shim costs ~1 s per start)
exec "$PY" "${PELMAP_SRCDIR:-$(dirname "$0")/../..}/tests/cli/test_desc.py"

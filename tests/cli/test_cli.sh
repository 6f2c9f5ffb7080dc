#!/bin/sh
# test_cli.sh -- TAP: black-box tests of the pelmap command line
# (the checks are in test_cli.py, next to this file).
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3  # (a pyenv shim costs ~1 s per start)
exec "$PY" "${PELMAP_SRCDIR:-$(dirname "$0")/../..}/tests/cli/test_cli.py"

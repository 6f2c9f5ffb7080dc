#!/bin/sh
# test_cli.sh -- TAP: black-box tests of the pelmap command line
# (the checks are in test_cli.py, next to this file).
exec python3 "${PELMAP_SRCDIR:-$(dirname "$0")/../..}/tests/cli/test_cli.py"

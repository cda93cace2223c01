#!/usr/bin/env bash
# Second command of the README: install what the tests need, then run lint, types and the
# whole test suite. Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/install.sh"
cd "$root"
.venv/bin/ruff format --check kiln tests bench
.venv/bin/ruff check kiln tests bench
.venv/bin/mypy
exec .venv/bin/pytest "$@"

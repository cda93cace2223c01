#!/usr/bin/env bash
# First command of the README: install what Kiln needs, then run Kiln's main job.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/install.sh"
exec "$root/.venv/bin/kiln" demo "$@"

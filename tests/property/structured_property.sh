#!/usr/bin/env bash
# structured_property.sh VKAGENT — the structured-output property test
# (structured_property.mjs) with the seed fixed for CI; VKAGENT_PROPERTY_SEED
# and VKAGENT_PROPERTY_SCHEMAS change it (README.md beside this file).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null 2>&1; then
  echo "FAIL: node is not installed (run ./scripts/setup)"
  exit 1
fi
exec node "$here/structured_property.mjs" --vkagent "$1" "${@:2}"

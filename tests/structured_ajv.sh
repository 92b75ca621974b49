#!/usr/bin/env bash
# structured_ajv.sh — the constrained generations of test_structured, checked
# by ajv (an independent JSON Schema validator; scripts/setup installs it).
# usage: structured_ajv.sh BUILD_DIR SOURCE_DIR TEST_DATA
set -euo pipefail
build=$1 src=$2 data=$3
model="$data/models/stories260K.gguf"
if [[ ! -f "$model" ]]; then
  echo "SKIP: fixture missing: $model (set VKAGENT_TEST_DATA)"
  exit 77
fi
if [[ ! -f "$src/tests/validator/node_modules/ajv/package.json" ]]; then
  echo "FAIL: ajv is not installed in tests/validator (run ./scripts/setup, which runs npm ci there)"
  exit 1
fi
"$build/tests/structured_gen" "$model" "$src/tests/data/schemas" "$build/structured-cases.json"
node "$src/tests/validator/validate.mjs" "$build/structured-cases.json"

#!/usr/bin/env bash
# Runs every test from a clean clone: installs the dependencies, configures, builds, runs ctest.
#
#   scripts/test.sh            the whole suite (g++ with ASan/UBSan, then clang/libFuzzer replay)
#   scripts/test.sh -L unit    extra arguments go to the g++ ctest run
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=$(nproc)
# Let ccache share results between clones in different folders (CI builds a fresh clone).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
status=0

# 1. The main build: g++ 12, Debug, AddressSanitizer + UndefinedBehaviorSanitizer. Every label.
cmake --preset dev
cmake --build --preset dev -j "$jobs"
ctest --preset dev -j "$jobs" --timeout 600 "$@" || status=1

# 2. clang 14 builds the tree too (warnings are errors there as well), with the parsers linked
#    against libFuzzer; its ctest replays the committed corpora through the real fuzzing engine.
if [ $# -eq 0 ]; then
  cmake --preset fuzz
  cmake --build --preset fuzz -j "$jobs"
  ctest --preset fuzz -j "$jobs" -L fuzz-replay --timeout 600 || status=1
fi

exit $status

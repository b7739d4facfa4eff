#!/usr/bin/env bash
# The library as a user gets it: pip installs the package (its files only; dependencies come from
# the Python running this) into a temporary directory, and this example's offline test runs from
# outside the repository, where `components` and `stacks` are not importable.
# Usage: examples/library/check-installed.sh [python]   (README: "Use as a library"; .ci/run)
set -euo pipefail
python="${1:-python}"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
# a copy, so the build leaves nothing behind in the checkout
cp -r "$repo/pyproject.toml" "$repo/requirements.txt" "$repo/README.md" "$repo/components" "$work/src/"
"$python" -m pip install -q --no-deps --target "$work/site" "$work/src"
cp -r "$repo/examples/library" "$work/team-llm"
cd "$work/team-llm"
PYTHONPATH="$work/site" "$python" -c \
  "import importlib.util as u; assert not (u.find_spec('components') or u.find_spec('stacks')), 'repo importable'"
PYTHONPATH="$work/site" "$python" -m pytest -q -p no:cacheprovider test_program.py

#!/usr/bin/env bash
# The library as a user gets it: pip installs the package (its files only; dependencies come from
# the Python running this) into a temporary directory, and this example's offline test runs from
# outside the repository, where `components` and `stacks` are not importable.
# Usage: examples/library/check-installed.sh [python]   (docs/library.md; .ci/run)
set -euo pipefail
python="${1:-python}"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
# a copy, so the build leaves nothing behind in the checkout
cp -r "$repo/pyproject.toml" "$repo/requirements.txt" "$repo/README.md" "$repo/components" "$work/src/"
"$python" -m pip install -q --no-deps --target "$work/site" "$work/src"
# --no-deps keeps the run fast; the declared dependencies must still resolve together from the index
# (a resolution only, ~5 s: nothing is installed)
"$python" -m pip install -q --dry-run --ignore-installed --report "$work/resolved.json" "$work/src"
"$python" - "$work/resolved.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
resolved = {item["metadata"]["name"].lower().replace("_", "-") for item in report["install"]}
missing = {"apertus-azure", "pulumi", "pulumi-azure-native", "pulumi-kubernetes", "pulumi-random"} - resolved
assert not missing, f"not resolved: {sorted(missing)}"
PY
cp -r "$repo/examples/library" "$work/team-llm"
cd "$work/team-llm"
PYTHONPATH="$work/site" "$python" -c \
  "import importlib.util as u; assert not (u.find_spec('components') or u.find_spec('stacks')), 'repo importable'"
PYTHONPATH="$work/site" "$python" -m pytest -q -p no:cacheprovider test_program.py

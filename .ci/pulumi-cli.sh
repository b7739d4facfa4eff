#!/usr/bin/env bash
# Build the pinned Pulumi CLI, the Pulumi YAML language host, pulumi-gen-sdk and pulumi-check-stack-config
# from the Go module proxy (and, when npm is there, TypeScript + @pulumi/pulumi to compile generated SDKs) into a cache
# directory, and print its bin directory. Does nothing but print it when everything is built.
#
#   .ci/pulumi-cli.sh            -> ~/.cache/apertus-azure/pulumi-cli/v3.276.0/bin
#   APERTUS_TOOLS_DIR=/opt/tools -> /opt/tools/pulumi-cli/v3.276.0/bin
#
# Needs Go (>= the go directive of pulumi/pkg's go.mod) and the module proxy. The Python language
# host (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) is not built: the module
# proxy does not serve that module (403 "This module version is not available" for every version),
# see docs/pulumi-cli.md, which also gives the build times.
set -euo pipefail

PULUMI_VERSION="${PULUMI_VERSION:-v3.276.0}"            # github.com/pulumi/pulumi/{pkg,sdk}/v3
PULUMI_YAML_VERSION="${PULUMI_YAML_VERSION:-v1.25.0}"   # github.com/pulumi/pulumi-yaml
root="${APERTUS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/apertus-azure}/pulumi-cli/$PULUMI_VERSION"
bin="$root/bin"
node="$root/node"  # TypeScript and @pulumi/pulumi, to compile the generated Node.js SDK (tsc)
here="$(cd "$(dirname "$0")" && pwd)"

has_npm() { command -v npm >/dev/null 2>&1; }
if [[ -x "$bin/pulumi" && -x "$bin/pulumi-language-yaml" && -x "$bin/pulumi-gen-sdk" &&
  -x "$bin/pulumi-check-stack-config" ]] &&
  { [[ -x "$node/node_modules/.bin/tsc" ]] || ! has_npm; }; then
  echo "$bin"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "error: go is not on PATH: the Pulumi CLI is built from the Go module proxy (https://go.dev/dl/)" >&2
  exit 1
fi

# Throwaway modules requiring the pinned releases: `go install ...@version` refuses pkg/v3, whose
# go.mod has replace directives. Minimal version selection makes each build reproducible from its
# pins; go.sum is checked against sum.golang.org. The YAML host gets a module of its own:
# pulumi-yaml v1.25.0 does not compile against pkg v3.276.0 (plugin.NewContextWithRoot changed),
# so it keeps the pulumi version its own go.mod asks for.
module() {  # module <dir> <name> <module@version>...: a go.mod requiring the pins
  local dir="$1" name="$2"
  shift 2
  mkdir -p "$dir"
  {
    printf 'module apertus-azure/%s\n\ngo 1.24\n\nrequire (\n' "$name"
    for pin in "$@"; do printf '\t%s %s\n' "${pin%@*}" "${pin#*@}"; done
    printf ')\n'
  } >"$dir/go.mod"
}
build() {  # build <dir> <binary> <package> <ldflags>
  (cd "$1" && GOFLAGS=-mod=mod go mod tidy && GOFLAGS=-mod=mod go build -o "$bin/$2.tmp" -ldflags "$4" "$3") >&2
  mv "$bin/$2.tmp" "$bin/$2"
}
tool() {  # tool <dir> <package>: a tools.go importing the command, so `go mod tidy` keeps it
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$2" >"$1/tools.go"
}

mkdir -p "$bin"
echo "building what is missing of the Pulumi CLI $PULUMI_VERSION, pulumi-language-yaml $PULUMI_YAML_VERSION," \
  "pulumi-gen-sdk and pulumi-check-stack-config under $root (minutes when cold)" >&2
pins=("github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION")
if [[ ! -x "$bin/pulumi" ]]; then
  module "$root/src/cli" pulumi "${pins[@]}"
  tool "$root/src/cli" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  # the version the release binaries report (`pulumi version`), set as pulumi's own Makefile does
  build "$root/src/cli" pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
fi
if [[ ! -x "$bin/pulumi-language-yaml" ]]; then
  module "$root/src/yaml" pulumi-language-yaml "github.com/pulumi/pulumi-yaml@$PULUMI_YAML_VERSION"
  tool "$root/src/yaml" github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml
  build "$root/src/yaml" pulumi-language-yaml github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml \
    "-X github.com/pulumi/pulumi-yaml/pkg/version.Version=$PULUMI_YAML_VERSION"
fi
if [[ ! -x "$bin/pulumi-gen-sdk" ]]; then
  # `pulumi package gen-sdk` for nodejs and go without their language hosts (.ci/pulumi-gen-sdk/main.go)
  module "$root/src/gen-sdk" pulumi-gen-sdk "${pins[@]}"
  cp "$here/pulumi-gen-sdk/main.go" "$root/src/gen-sdk/main.go"
  build "$root/src/gen-sdk" pulumi-gen-sdk . ""
fi
if [[ ! -x "$bin/pulumi-check-stack-config" ]]; then
  # preview's stack-config check for many config files in one process (.ci/pulumi-check-stack-config/main.go)
  module "$root/src/check-stack-config" pulumi-check-stack-config "${pins[@]}"
  cp "$here/pulumi-check-stack-config/main.go" "$root/src/check-stack-config/main.go"
  build "$root/src/check-stack-config" pulumi-check-stack-config . ""
fi
if has_npm && [[ ! -x "$node/node_modules/.bin/tsc" ]]; then
  # the versions the generated package.json accepts (typescript ^4.7.0, @pulumi/pulumi ^3.269.0)
  mkdir -p "$node"
  printf '{"private": true, "dependencies": {"@pulumi/pulumi": "3.276.0", "typescript": "4.9.5", "@types/node": "20.19.43"}}\n' \
    >"$node/package.json"
  (cd "$node" && npm install --no-audit --no-fund --ignore-scripts) >&2
fi
echo "$bin"

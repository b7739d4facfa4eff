#!/usr/bin/env bash
# Build the pinned Pulumi CLI (and the Pulumi YAML language host) from the Go module proxy into a
# cache directory and print its bin directory. Does nothing but print it when both are built.
#
#   .ci/pulumi-cli.sh            -> ~/.cache/apertus-azure/pulumi-cli/v3.276.0/bin
#   APERTUS_TOOLS_DIR=/opt/tools -> /opt/tools/pulumi-cli/v3.276.0/bin
#
# Needs Go (>= the go directive of pulumi/pkg's go.mod) and the module proxy. The Python language
# host (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) is not built: the module
# proxy does not serve that module (403 "This module version is not available" for every version),
# see docs/pulumi-cli.md. Times: docs/pulumi-cli.md ("Building the CLI").
set -euo pipefail

PULUMI_VERSION="${PULUMI_VERSION:-v3.276.0}"            # github.com/pulumi/pulumi/{pkg,sdk}/v3
PULUMI_YAML_VERSION="${PULUMI_YAML_VERSION:-v1.25.0}"   # github.com/pulumi/pulumi-yaml
root="${APERTUS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/apertus-azure}/pulumi-cli/$PULUMI_VERSION"
bin="$root/bin"

if [[ -x "$bin/pulumi" && -x "$bin/pulumi-language-yaml" ]]; then
  echo "$bin"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "error: go is not on PATH: the Pulumi CLI is built from the Go module proxy (https://go.dev/dl/)" >&2
  exit 1
fi

# Throwaway modules requiring the pinned releases: `go install ...@version` refuses pkg/v3, whose
# go.mod has replace directives. Minimal version selection makes each build reproducible from its
# pin; go.sum is checked against sum.golang.org. Two modules, not one: pulumi-yaml v1.25.0 does not
# compile against pkg v3.276.0 (plugin.NewContextWithRoot changed), so it keeps the pulumi version
# its own go.mod asks for.
build() {  # build <dir> <binary> <package> <ldflags> <module@version>...
  local dir="$root/src/$1" binary="$2" package="$3" ldflags="$4"
  shift 4
  mkdir -p "$dir"
  {
    printf 'module apertus-azure/%s\n\ngo 1.24\n\nrequire (\n' "$binary"
    for pin in "$@"; do printf '\t%s %s\n' "${pin%@*}" "${pin#*@}"; done
    printf ')\n'
  } >"$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$package" >"$dir/tools.go"
  (cd "$dir" && GOFLAGS=-mod=mod go mod tidy && GOFLAGS=-mod=mod go build -o "$bin/$binary.tmp" -ldflags "$ldflags" "$package") >&2
  mv "$bin/$binary.tmp" "$bin/$binary"
}

mkdir -p "$bin"
echo "building the Pulumi CLI $PULUMI_VERSION and pulumi-language-yaml $PULUMI_YAML_VERSION under $root (minutes when cold)" >&2
if [[ ! -x "$bin/pulumi" ]]; then
  # the version the release binaries report (`pulumi version`), set as pulumi's own Makefile does
  build cli pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
    "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION"
fi
if [[ ! -x "$bin/pulumi-language-yaml" ]]; then
  build yaml pulumi-language-yaml github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml \
    "-X github.com/pulumi/pulumi-yaml/pkg/version.Version=$PULUMI_YAML_VERSION" \
    "github.com/pulumi/pulumi-yaml@$PULUMI_YAML_VERSION"
fi
echo "$bin"

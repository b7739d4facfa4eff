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

# A throwaway module requiring the pinned releases: `go install ...@version` refuses pkg/v3,
# whose go.mod has replace directives. Minimal version selection makes the build reproducible
# from these two pins; go.sum is checked against sum.golang.org.
src="$root/src"
mkdir -p "$src" "$bin"
cat >"$src/go.mod" <<EOF
module apertus-azure/pulumi-cli

go 1.24

require (
	github.com/pulumi/pulumi/pkg/v3 $PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 $PULUMI_VERSION
	github.com/pulumi/pulumi-yaml $PULUMI_YAML_VERSION
)
EOF
cat >"$src/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
EOF
cd "$src"
export GOFLAGS=-mod=mod
echo "building the Pulumi CLI $PULUMI_VERSION and pulumi-language-yaml $PULUMI_YAML_VERSION in $src (minutes when cold)" >&2
go mod tidy >&2
# the version the release binaries report (`pulumi version`), set like pulumi's own Makefile does
go build -o "$bin/pulumi.tmp" \
  -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
  github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2
go build -o "$bin/pulumi-language-yaml.tmp" \
  -ldflags "-X github.com/pulumi/pulumi-yaml/pkg/version.Version=$PULUMI_YAML_VERSION" \
  github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml >&2
mv "$bin/pulumi.tmp" "$bin/pulumi"
mv "$bin/pulumi-language-yaml.tmp" "$bin/pulumi-language-yaml"
echo "$bin"

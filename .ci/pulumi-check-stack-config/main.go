// pulumi-check-stack-config: the stack-config check of `pulumi preview --stack <stack> --config-file <file>`,
// for many config files in one process. Each `pulumi preview` pays ~0.3 s of CPU (Go init of the CLI and
// the passphrase's PBKDF2, 1,000,000 rounds) and stops at the first refused key; this loads the project and
// each file with the same pinned pulumi/pkg and pulumi/sdk calls, in the same order, and returns what
// preview would print. Built by .ci/pulumi-cli.sh; used by tests/test_pulumi_cli.py, which also runs a
// sample of the same files through the real `pulumi preview` to show both say the same. docs/pulumi-cli.md.
//
//	pulumi-check-stack-config <stack> <config file>...   (in the project's directory, like preview)
//
// prints one JSON object: config file -> null (accepted) or the error preview prints after "error: ".
// The calls, in pulumi/pulumi v3.276.0 (pkg/v3):
//   - cmd/pulumi/operations/preview.go:386 readProjectForUpdate -> operations/io.go:69 ws.ReadProject("")
//     (workspace/context.go:66: DetectProjectPathFrom + LoadProject, which validates Pulumi.yaml);
//   - preview.go:512 GetStackConfiguration -> config/io.go:111 cmdStack.LoadProjectStack ->
//     stack/io.go:60 workspace.LoadProjectStack(sink, project, configFile);
//   - config/io.go:193-198: a config without secrets and without an environment gets
//     config.NewPanicCrypter() as its decrypter (files with either are refused here: they need the
//     stack's secrets manager or Pulumi ESC);
//   - preview.go:534 pkgWorkspace.ValidateStackConfigAndApplyProjectConfig (workspace/config.go:368),
//     its error wrapped as preview.go:543 does.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	pkgWorkspace "github.com/pulumi/pulumi/pkg/v3/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/common/esc"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: pulumi-check-stack-config <stack> <config file>...")
		os.Exit(2)
	}
	verdicts, err := run(os.Args[1], os.Args[2:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	out, err := json.MarshalIndent(verdicts, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}

func run(stackName string, configFiles []string) (map[string]*string, error) {
	project, _, err := pkgWorkspace.Instance.ReadProject("")
	if err != nil {
		return nil, err
	}
	verdicts := make(map[string]*string, len(configFiles))
	for _, file := range configFiles {
		stack, err := workspace.LoadProjectStack(cmdutil.Diag(), project, file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if stack.Config.HasSecureValue() || stack.Environment != nil {
			return nil, fmt.Errorf("%s: secrets and environments need the stack's secrets manager or Pulumi ESC:"+
				" check it with pulumi preview", file)
		}
		crypter := config.NewPanicCrypter()
		err = pkgWorkspace.ValidateStackConfigAndApplyProjectConfig(
			context.Background(), stackName, project, esc.Value{}, stack.Config, crypter, crypter)
		verdicts[file] = nil
		if err != nil {
			message := fmt.Errorf("validating stack config: %w", err).Error()
			verdicts[file] = &message
		}
	}
	return verdicts, nil
}

package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

// execCommand runs one command on its own, as its tests call it, and returns
// its error (run turns errors into exit statuses).
func execCommand(ctx context.Context, cmd *cobra.Command, args []string, stdout, stderr io.Writer) error {
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd.ExecuteContext(ctx)
}

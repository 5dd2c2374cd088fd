package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "ood-agent",
		Short:         "Out-of-distribution alerts from TFLite classifiers on edge devices",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newModelCommand(), newScoreCommand(), newCalibrateCommand(), newEvalCommand(), newWatchCommand(), newRunCommand(), newDemoCommand(), newVersionCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "ood-agent %s (commit %s, built %s, %s/%s)\n",
				version, commit, date, runtime.GOOS, runtime.GOARCH)
			fmt.Fprintln(cmd.OutOrStdout(), kernelsLine())
			return nil
		},
	}
}

package main

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/ood-agent/ood-agent/config"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "ood-agent",
		Short:         "Out-of-distribution alerts from TFLite classifiers on edge devices",
		SilenceUsage:  true,
		SilenceErrors: true,
		// A misspelled OOD_AGENT_ variable would be ignored silently.
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			warnUnknownEnv(cmd.ErrOrStderr(), os.Environ())
		},
	}
	root.AddCommand(newModelCommand(), newScoreCommand(), newCalibrateCommand(), newEvalCommand(), newWatchCommand(), newRunCommand(), newDemoCommand(), newHubCommand(), newKeygenCommand(), newAdaptCommand(), newVersionCommand(), newFeedbackCommand())
	return root
}

func warnUnknownEnv(w io.Writer, environ []string) {
	log := newCLILogger(w)
	for _, msg := range config.UnknownEnv(environ) {
		log.Warn(msg)
	}
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

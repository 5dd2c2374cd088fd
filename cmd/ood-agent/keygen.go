package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ood-agent/ood-agent/agent/control"
)

// newKeygenCommand makes the hub's command-signing key pair. It is not
// registered in root.go's list yet; see the control work's merge notes.
func newKeygenCommand() *cobra.Command {
	var out string
	var show bool
	cmd := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Make an Ed25519 key pair for signing remote commands and model manifests",
		Long: `keygen writes a new Ed25519 private key (PEM PKCS #8, mode 0600) to --out for
the hub, and prints the public key in the form agents list under
control.trusted_keys. It never overwrites a file. With --public it prints the
public key of an existing private key instead, for example during a key
rotation, when agents list the old and the new key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("keygen: --out is required")
			}
			var key ed25519.PrivateKey
			var err error
			if show {
				if key, err = control.LoadPrivateKey(out); err != nil {
					return err
				}
			} else {
				if key, err = control.GenerateKey(nil); err != nil {
					return err
				}
				if err := control.WritePrivateKey(out, key); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "private key written to %s; keep it on the hub only\n", out)
			}
			pub := control.FormatPublicKey(key.Public().(ed25519.PublicKey))
			fmt.Fprintf(cmd.OutOrStdout(), "# Add to each agent's configuration (key id %s):\ncontrol:\n  trusted_keys:\n    - %s\n",
				control.KeyID(key.Public().(ed25519.PublicKey)), pub)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "private key file to write (or read, with --public)")
	cmd.Flags().BoolVar(&show, "public", false, "print the public key of the existing private key in --out")
	return cmd
}

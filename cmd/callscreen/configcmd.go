package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with the configuration file",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and say what is wrong, key by key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, rt, err := g.open(cmd.Context(), screenerOptions{readOnly: true})
			if err != nil {
				return err
			}
			defer rt.Close()
			if err := cfg.CheckSecrets(); err != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "warning: %v\n", err)
			}
			src := g.configPath
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (%d profiles, %d DIDs, %d trunks)\n", src, len(cfg.Profiles), len(cfg.DIDs), len(cfg.Trunks))
			printProfilesNow(cmd.OutOrStdout(), rt.engine, cfg.DIDs, time.Now())
			return nil
		},
	})
	return cmd
}

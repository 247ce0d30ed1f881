package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"
)

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with the configuration file",
	}
	var asJSON bool
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and say what is wrong, key by key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res := configCheckResult{File: g.configPath, Warnings: []string{}}
			err := checkConfigFile(cmd, g, &res)
			if asJSON {
				res.OK = err == nil
				if err != nil {
					res.Error = err.Error()
				}
				if jerr := json.NewEncoder(cmd.OutOrStdout()).Encode(res); jerr != nil {
					return jerr
				}
			}
			return err
		},
	}
	check.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON (file, ok, error, warnings, profiles, dids, trunks)")
	cmd.AddCommand(check)
	return cmd
}

// configCheckResult is `callscreen config check --json`.
type configCheckResult struct {
	File     string   `json:"file"`
	OK       bool     `json:"ok"`
	Error    string   `json:"error,omitempty"`
	Warnings []string `json:"warnings"`
	Profiles int      `json:"profiles"`
	DIDs     int      `json:"dids"`
	Trunks   int      `json:"trunks"`
}

// checkConfigFile validates the configuration file, printing the text
// report unless res is for JSON. A file that does not exist is an error
// here (other commands run on defaults without one).
func checkConfigFile(cmd *cobra.Command, g *globals, res *configCheckResult) error {
	if _, err := os.Stat(g.configPath); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("configuration file %s does not exist: create it (the sample is asterisk-conf/callscreen.yaml; the package installs it there) or name another with -c FILE or CALLSCREEN_CONFIG", g.configPath)
	}
	cfg, rt, err := g.open(cmd.Context(), screenerOptions{readOnly: true, noLists: true})
	if err != nil {
		return err
	}
	defer rt.Close()
	res.Profiles, res.DIDs, res.Trunks = len(cfg.Profiles), len(cfg.DIDs), len(cfg.Trunks)
	if err := cfg.CheckSecrets(); err != nil {
		res.Warnings = append(res.Warnings, err.Error())
	}
	if cmd.Flags().Changed("json") {
		return nil
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(cmd.OutOrStdout(), "warning: %s\n", w)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (%d profiles, %d DIDs, %d trunks)\n", g.configPath, res.Profiles, res.DIDs, res.Trunks)
	printProfilesNow(cmd.OutOrStdout(), rt.engine, cfg.DIDs, time.Now())
	return nil
}

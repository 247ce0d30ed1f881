package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/callscreen/callscreen/internal/config"
)

// defaultConfigPath is where the configuration lives unless told otherwise.
const defaultConfigPath = "/etc/callscreen/callscreen.yaml"

// globals are the flags every command shares.
type globals struct {
	configPath string
	database   string
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "callscreen",
		Short:         "Call screening for Asterisk PBX",
		Long:          "callscreen screens inbound calls on an Asterisk PBX: withheld numbers are asked to call again with the number shown, spoofed and robocall numbers are challenged or rejected, and every decision is explained and logged.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", envOr("CALLSCREEN_CONFIG", defaultConfigPath), "configuration file (CALLSCREEN_CONFIG)")
	root.PersistentFlags().StringVar(&g.database, "database", "", "database file, overriding the configuration's database key")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newServe(g),
		newCheck(g),
		newLists(g),
		newLog(g),
		newConfigCmd(g),
		newDoctor(g),
		newMan(),
		newSetup(g),
		newDB(g),
	)
	return root
}

// load reads the configuration named by the flags. A missing default file
// is not an error: callscreen then runs on defaults and environment.
func (g *globals) load() (*config.Config, error) {
	path := g.configPath
	if path == defaultConfigPath {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			path = ""
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if g.database != "" {
		cfg.SetDatabase(g.database)
	}
	return cfg, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// newLogger returns the process logger for cfg.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

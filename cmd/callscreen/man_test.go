package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestManMatchesHelp checks that the manual page names every visible
// command and every flag --help shows, so the two cannot drift apart.
func TestManMatchesHelp(t *testing.T) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"man"})
	if err := root.Execute(); err != nil {
		t.Fatalf("man: %v", err)
	}
	page := out.String()
	if !strings.HasPrefix(page, ".TH CALLSCREEN 1") {
		t.Fatalf("not a manual page: %.80q", page)
	}
	unescape := strings.NewReplacer(`\-`, "-", `\e`, `\`, `\&`, "").Replace
	plain := unescape(page)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			if sub.Runnable() && !strings.Contains(plain, ".SS "+manUse(sub)+"\n") {
				t.Errorf("manual page lacks command %q", manUse(sub))
			}
			sub.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
				if !f.Hidden && sub.Runnable() && !strings.Contains(plain, "--"+f.Name) {
					t.Errorf("manual page lacks %s --%s", sub.CommandPath(), f.Name)
				}
			})
			walk(sub)
		}
	}
	walk(root)
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, "-") {
			t.Errorf("unescaped line start %q", l)
		}
	}
}

package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newMan prints callscreen(1), the manual page, generated from the same
// command tree as --help so the two cannot disagree. The Debian package
// ships its output as /usr/share/man/man1/callscreen.1.gz.
func newMan() *cobra.Command {
	return &cobra.Command{
		Use:    "man",
		Short:  "Print the manual page (roff) generated from the commands' help",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := bufio.NewWriter(cmd.OutOrStdout())
			writeMan(w, cmd.Root())
			return w.Flush()
		},
	}
}

// writeMan writes the manual page of root and every visible subcommand.
func writeMan(w io.Writer, root *cobra.Command) {
	fmt.Fprintf(w, ".TH CALLSCREEN 1 \"\" \"callscreen %s\" \"User Commands\"\n", roffEscape(version))
	fmt.Fprintf(w, ".SH NAME\ncallscreen \\- %s\n", roffEscape(strings.ToLower(root.Short[:1])+root.Short[1:]))
	fmt.Fprintf(w, ".SH SYNOPSIS\n.B callscreen\n.I command\n[\\fIflags\\fR]\n")
	fmt.Fprintf(w, ".SH DESCRIPTION\n%s\n", roffText(root.Long))
	fmt.Fprintf(w, ".SH GLOBAL OPTIONS\n")
	writeFlags(w, root.PersistentFlags())
	fmt.Fprintf(w, ".SH COMMANDS\n")
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			if sub.Runnable() {
				fmt.Fprintf(w, ".SS %s\n", roffEscape(manUse(sub)))
				text := sub.Long
				if text == "" {
					text = sub.Short
				}
				fmt.Fprintf(w, "%s\n", roffText(text))
				if sub.Example != "" {
					fmt.Fprintf(w, ".PP\nExamples:\n.nf\n%s\n.fi\n", roffEscape(sub.Example))
				}
				writeFlags(w, sub.LocalNonPersistentFlags())
			}
			walk(sub)
		}
	}
	walk(root)
	fmt.Fprintf(w, `.SH ENVIRONMENT
.TP
.B CALLSCREEN_CONFIG
the configuration file (default /etc/callscreen/callscreen.yaml)
.TP
.B CALLSCREEN_\fIKEY\fR
any scalar configuration key, e.g. CALLSCREEN_ARI_PASSWORD for ari.password
.SH FILES
.TP
/etc/callscreen/callscreen.yaml
the configuration
.TP
/etc/callscreen/ari.secret, /etc/callscreen/dashboard.secret
the ARI and dashboard passwords
.TP
/var/lib/callscreen/callscreen.db
the lists and the call log
.SH SEE ALSO
.BR asterisk (8),
/usr/share/doc/callscreen/README.md
`)
}

func writeFlags(w io.Writer, fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name := "\\-\\-" + roffEscape(f.Name)
		if f.Shorthand != "" {
			name = "\\-" + f.Shorthand + ", " + name
		}
		if t := f.Value.Type(); t != "bool" {
			name += " \\fI" + roffEscape(t) + "\\fR"
		}
		usage := f.Usage
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" && f.DefValue != "0s" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, ".TP\n\\fB%s\\fR\n%s\n", name, roffEscape(usage))
	})
}

// roffEscape makes s safe as roff text: backslashes and hyphens escaped, and
// no line starting with a control character.
func roffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

// roffText is roffEscape with blank lines as paragraph breaks.
func roffText(s string) string {
	return strings.ReplaceAll(roffEscape(strings.TrimSpace(s)), "\n\n", "\n.PP\n")
}

// manUse is a command's synopsis: its full path and its arguments.
func manUse(c *cobra.Command) string {
	return c.CommandPath() + strings.TrimPrefix(c.Use, c.Name())
}

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func newSetup(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Configure the other side: Asterisk",
	}
	o := setupOptions{}
	ast := &cobra.Command{
		Use:   "asterisk",
		Short: "Give Asterisk an ARI user and callscreen's dialplan contexts (dry run unless --apply)",
		Long: `setup asterisk makes the Asterisk side of callscreen in one step and shows
what it changes as a diff. Nothing is written without --apply.

Plain Asterisk (Debian's package, source builds):
  ari.conf         ARI enabled; the [callscreen] user, whose password is
                   callscreen's secret file (generated if missing)
  http.conf        the HTTP server enabled, bound to loopback
  extensions.conf  #include "callscreen_extensions.conf": the callscreen-*
                   contexts of the sample dialplan and their CALLSCREEN_*
                   globals (unless extensions.conf already sets them)
FreePBX (found by /etc/asterisk/extensions_custom.conf): the same in
ari_additional_custom.conf, http_custom.conf and extensions_custom.conf
(the contexts of the FreePBX sample), never in FreePBX's own files.

Then Asterisk reloads what changed (asterisk -rx). Running it again changes
nothing; --undo removes exactly what it added, leaving every file as it was.
Routing calls into the contexts stays yours: point your trunk's context at
callscreen-inbound (or from-pstn-callscreen on FreePBX); see
/usr/share/callscreen/asterisk-conf/README.md.`,
		Example: `  callscreen setup asterisk
  callscreen setup asterisk --apply
  callscreen setup asterisk --undo --apply`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.flavor != "auto" && o.flavor != "asterisk" && o.flavor != "freepbx" {
				return usageError{fmt.Errorf("--flavor %q: want auto, asterisk or freepbx", o.flavor)}
			}
			return runSetupAsterisk(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := ast.Flags()
	f.BoolVar(&o.apply, "apply", false, "write the changes and reload Asterisk (default: print the diff only)")
	f.BoolVar(&o.undo, "undo", false, "remove what an earlier setup added")
	f.StringVar(&o.etc, "asterisk-etc", "/etc/asterisk", "Asterisk's configuration directory")
	f.StringVar(&o.flavor, "flavor", "auto", "auto, asterisk or freepbx")
	f.StringVar(&o.secretFile, "secret-file", "/etc/callscreen/ari.secret", "callscreen's ARI password file (ari.password_file)")
	f.StringVar(&o.agiKeyFile, "agi-key-file", "/etc/callscreen/agi.key", "callscreen's FastAGI key file (agi.key_file): its key becomes CALLSCREEN_AGI_KEY")
	f.StringVar(&o.ariUser, "ari-user", "callscreen", "the ARI user (ari.username)")
	f.StringVar(&o.httpListen, "http-listen", "127.0.0.1:8088", "where Asterisk's HTTP server (ARI) listens")
	f.StringVar(&o.samples, "samples", defaultSamplesDir(), "the sample configuration whose contexts are installed")
	f.StringVar(&o.asterisk, "asterisk", "asterisk", "the asterisk command used to reload (asterisk -rx)")
	f.BoolVar(&o.noReload, "no-reload", false, "write the files but do not reload Asterisk")
	f.StringVar(&o.desk, "desk", "", "what rings (CALLSCREEN_DESK, e.g. PJSIP/100&PJSIP/101; default: the sample's)")
	f.StringVar(&o.mailbox, "mailbox", "", "the voicemail box for screened calls (CALLSCREEN_MAILBOX, box@context; default: the sample's)")
	cmd.AddCommand(ast)
	return cmd
}

// defaultSamplesDir is the installed sample configuration, else the one of
// the source tree the binary runs from (bin/callscreen in a checkout).
func defaultSamplesDir() string {
	const installed = "/usr/share/callscreen/asterisk-conf"
	if _, err := os.Stat(installed); err == nil {
		return installed
	}
	if exe, err := os.Executable(); err == nil {
		d := filepath.Join(filepath.Dir(exe), "..", "asterisk-conf")
		if _, err := os.Stat(filepath.Join(d, "extensions.conf")); err == nil {
			return filepath.Clean(d)
		}
	}
	return installed
}

type setupOptions struct {
	apply, undo, noReload bool
	etc, flavor           string
	secretFile, ariUser   string
	agiKeyFile            string
	httpListen, samples   string
	asterisk              string
	desk, mailbox         string
}

func runSetupAsterisk(ctx context.Context, out io.Writer, o setupOptions) error {
	s, err := newAsteriskSetup(o)
	if err != nil {
		return err
	}
	changes, err := s.plan()
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		fmt.Fprintf(out, "%s: nothing to change (%s)\n", o.etc, s.flavor)
		return nil
	}
	for _, c := range changes {
		io.WriteString(out, unifiedDiff(c.path, c.before, c.after, c.existed, c.remove))
	}
	if !o.apply {
		fmt.Fprintf(out, "\ndry run: nothing written; run again with --apply to make these changes\n")
		return nil
	}
	if s.newSecret != "" {
		if err := writeSecret(o.secretFile, s.newSecret); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote a new ARI password to %s\n", o.secretFile)
	}
	for _, c := range changes {
		if err := c.write(); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "wrote %d file(s) in %s\n", len(changes), o.etc)
	if o.noReload {
		return nil
	}
	for _, rx := range s.reloads(changes) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		b, err := exec.CommandContext(cctx, o.asterisk, "-rx", rx).CombinedOutput()
		cancel()
		if err != nil {
			// The files are right; Asterisk reads them when it starts.
			fmt.Fprintf(out, "warning: asterisk -rx %q: %v %s (start or reload Asterisk to use the new configuration)\n", rx, err, strings.TrimSpace(string(b)))
			return nil
		}
		fmt.Fprintf(out, "asterisk -rx %q: ok\n", rx)
	}
	return nil
}

// Markers around everything setup adds, so --undo can find it again.
const (
	setupBegin    = "; >>> callscreen setup asterisk: added, `callscreen setup asterisk --undo` removes it"
	setupBeginNL  = setupBegin + " (and the newline before)"
	setupBeginNew = setupBegin + " (and the file)"
	setupEnd      = "; <<< callscreen setup asterisk"
	setupDisabled = ";callscreen-setup-disabled: "
	setupFileHead = "; callscreen_extensions.conf: written by `callscreen setup asterisk`; --undo removes it.\n"
	contextsFile  = "callscreen_extensions.conf"
)

// asteriskSetup computes the changes to one /etc/asterisk tree.
type asteriskSetup struct {
	o         setupOptions
	flavor    string // asterisk or freepbx
	password  string
	newSecret string // generated: to be written to o.secretFile
	agiKey    string // from o.agiKeyFile: the dialplan's CALLSCREEN_AGI_KEY
	host      string
	port      string
}

func newAsteriskSetup(o setupOptions) (*asteriskSetup, error) {
	s := &asteriskSetup{o: o, flavor: o.flavor}
	if _, err := os.Stat(o.etc); err != nil {
		return nil, fmt.Errorf("setup: Asterisk's configuration directory: %w (is Asterisk installed? --asterisk-etc names another)", err)
	}
	if s.flavor == "auto" {
		s.flavor = "asterisk"
		if _, err := os.Stat(filepath.Join(o.etc, "extensions_custom.conf")); err == nil {
			s.flavor = "freepbx"
		}
	}
	host, port, err := net.SplitHostPort(o.httpListen)
	if err != nil {
		return nil, usageError{fmt.Errorf("--http-listen %q: %w", o.httpListen, err)}
	}
	s.host, s.port = host, port
	if !o.undo {
		b, err := os.ReadFile(o.secretFile)
		switch {
		case err == nil:
			s.password = strings.TrimRight(string(b), "\r\n")
			if s.password == "" || strings.ContainsAny(s.password, "\n;") {
				return nil, fmt.Errorf("setup: %s: the password must be one line without ';'", o.secretFile)
			}
		case errors.Is(err, fs.ErrNotExist):
			var r [24]byte
			if _, err := rand.Read(r[:]); err != nil {
				return nil, fmt.Errorf("setup: %w", err)
			}
			s.password = hex.EncodeToString(r[:])
			s.newSecret = s.password
		default:
			return nil, fmt.Errorf("setup: reading the ARI password: %w", err)
		}
		// The FastAGI key the package generated: without it in the
		// dialplan, callscreen (which reads the same file) closes every
		// FastAGI session unanswered and those calls ring unscreened.
		b, err = os.ReadFile(o.agiKeyFile)
		switch {
		case err == nil:
			s.agiKey = strings.TrimRight(string(b), "\r\n")
			if s.agiKey == "" || strings.ContainsAny(s.agiKey, "\n;&,()$") {
				return nil, fmt.Errorf("setup: %s: the key must be one line without ; & , ( ) or $", o.agiKeyFile)
			}
		case errors.Is(err, fs.ErrNotExist):
		default:
			return nil, fmt.Errorf("setup: reading the FastAGI key: %w", err)
		}
	}
	return s, nil
}

// fileChange is one file's content before and after.
type fileChange struct {
	path          string
	before, after string
	existed       bool
	remove        bool // after: the file does not exist
}

func (c fileChange) write() error {
	if c.remove {
		if err := os.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("setup: %w", err)
		}
		return nil
	}
	mode := fs.FileMode(0o640)
	uid, gid := -1, -1
	if fi, err := os.Stat(c.path); err == nil {
		mode = fi.Mode().Perm()
		uid, gid = fileOwner(fi)
	} else if fi, err := os.Stat(filepath.Dir(c.path)); err == nil {
		// A new file: owned like its directory (asterisk:asterisk on
		// Debian), readable by Asterisk.
		uid, gid = fileOwner(fi)
	}
	tmp := c.path + ".callscreen-tmp"
	if err := os.WriteFile(tmp, []byte(c.after), mode); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if uid >= 0 && os.Geteuid() == 0 {
		if err := os.Chown(tmp, uid, gid); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("setup: %w", err)
		}
	}
	if err := os.Chmod(tmp, mode); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("setup: %w", err)
	}
	if err := os.Rename(tmp, c.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("setup: %w", err)
	}
	return nil
}

// plan returns the files that change, in a stable order.
func (s *asteriskSetup) plan() ([]fileChange, error) {
	type edit struct {
		name string
		add  func(orig string, existed bool) (string, error)
	}
	var edits []edit
	user := s.ariUserBlock()
	switch s.flavor {
	case "freepbx":
		contexts, err := os.ReadFile(filepath.Join(s.o.samples, "freepbx", "extensions_custom.conf"))
		if err != nil {
			return nil, fmt.Errorf("setup: the FreePBX sample dialplan: %w", err)
		}
		edits = []edit{
			{"ari_additional_custom.conf", func(orig string, existed bool) (string, error) {
				if err := noForeignSection(orig, s.o.ariUser); err != nil {
					return "", err
				}
				return appendBlock(orig, existed, user), nil
			}},
			{"http_custom.conf", func(orig string, existed bool) (string, error) {
				return appendBlock(orig, existed, fmt.Sprintf("enabled=yes\nbindaddr=%s\nbindport=%s\n", s.host, s.port)), nil
			}},
			{"extensions_custom.conf", func(orig string, existed bool) (string, error) {
				return appendBlock(orig, existed, string(contexts)), nil
			}},
		}
	default:
		edits = []edit{
			{"ari.conf", func(orig string, existed bool) (string, error) {
				if err := noForeignSection(orig, s.o.ariUser); err != nil {
					return "", err
				}
				return appendBlock(ensureKeys(orig, existed, "general", [][2]string{{"enabled", "yes"}}), true, user), nil
			}},
			{"http.conf", func(orig string, existed bool) (string, error) {
				return ensureKeys(orig, existed, "general", [][2]string{{"enabled", "yes"}, {"bindaddr", s.host}, {"bindport", s.port}}), nil
			}},
			{"extensions.conf", func(orig string, existed bool) (string, error) {
				return appendBlock(orig, existed, "#include \""+contextsFile+"\"\n"), nil
			}},
			{contextsFile, func(orig string, existed bool) (string, error) {
				if existed && !strings.HasPrefix(orig, setupFileHead) {
					return "", fmt.Errorf("setup: %s exists and was not written by callscreen setup: rename it", filepath.Join(s.o.etc, contextsFile))
				}
				ext, err := os.ReadFile(filepath.Join(s.o.etc, "extensions.conf"))
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return "", fmt.Errorf("setup: %w", err)
				}
				return s.contextsFile(removeBlocks(string(ext)))
			}},
		}
	}
	var changes []fileChange
	for _, e := range edits {
		path := filepath.Join(s.o.etc, e.name)
		b, err := os.ReadFile(path)
		existed := err == nil
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("setup: %w", err)
		}
		cur := string(b)
		var orig string
		origExists := existed
		if e.name == contextsFile {
			orig, origExists = "", false
			if existed && !strings.HasPrefix(cur, setupFileHead) {
				orig, origExists = cur, true
			}
		} else {
			orig, origExists = removeBlocksFile(cur, existed)
		}
		target, targetExists := orig, origExists
		if !s.o.undo {
			target, err = e.add(orig, origExists)
			if err != nil {
				return nil, err
			}
			targetExists = true
		}
		if target == cur && targetExists == existed {
			continue
		}
		changes = append(changes, fileChange{path: path, before: cur, after: target, existed: existed, remove: !targetExists})
	}
	return changes, nil
}

// reloads are the CLI commands that make Asterisk read the changed files.
func (s *asteriskSetup) reloads(changes []fileChange) []string {
	var rx []string
	seen := map[string]bool{}
	for _, c := range changes {
		var r string
		switch base := filepath.Base(c.path); {
		case strings.HasPrefix(base, "ari"):
			r = "module reload res_ari.so"
		case strings.HasPrefix(base, "http"):
			r = "module reload http"
		case strings.HasPrefix(base, "extensions") || base == contextsFile:
			r = "dialplan reload"
		}
		if r != "" && !seen[r] {
			seen[r] = true
			rx = append(rx, r)
		}
	}
	return rx
}

func (s *asteriskSetup) ariUserBlock() string {
	return fmt.Sprintf("[%s]\n; callscreen's ARI user; the password is in %s\ntype=user\nread_only=no\npassword=%s\npassword_format=plain\n",
		s.o.ariUser, s.o.secretFile, s.password)
}

// contextsFile is callscreen_extensions.conf: the callscreen-* contexts of
// the sample dialplan (not the baseline) and the CALLSCREEN_* globals that
// ext (the integrator's extensions.conf) does not set itself.
func (s *asteriskSetup) contextsFile(ext string) (string, error) {
	b, err := os.ReadFile(filepath.Join(s.o.samples, "extensions.conf"))
	if err != nil {
		return "", fmt.Errorf("setup: the sample dialplan: %w", err)
	}
	sections := splitSections(string(b))
	var out strings.Builder
	out.WriteString(setupFileHead)
	out.WriteString("; From " + filepath.Join(s.o.samples, "extensions.conf") + ". Point your trunk's context\n; (or its first step) at callscreen-inbound: Goto(callscreen-inbound,${EXTEN},1).\n")
	var globals []string
	for _, l := range strings.Split(sections["globals"], "\n") {
		k, _, ok := strings.Cut(l, "=")
		k = strings.TrimSpace(k)
		if !ok || strings.HasPrefix(k, ";") || !strings.HasPrefix(k, "CALLSCREEN_") {
			continue
		}
		if regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(k) + `\s*=`).MatchString(ext) {
			continue
		}
		switch {
		case k == "CALLSCREEN_DESK" && s.o.desk != "":
			l = k + "=" + s.o.desk
		case k == "CALLSCREEN_MAILBOX" && s.o.mailbox != "":
			l = k + "=" + s.o.mailbox
		case k == "CALLSCREEN_AGI_KEY" && s.agiKey != "":
			l = k + "=" + s.agiKey
		}
		globals = append(globals, strings.TrimSpace(l))
	}
	if len(globals) > 0 {
		head := "[globals]"
		if regexp.MustCompile(`(?m)^\[globals\]`).MatchString(ext) {
			head = "[globals](+)"
		}
		out.WriteString("\n" + head + "\n" + strings.Join(globals, "\n") + "\n")
	}
	n := 0
	for _, name := range sectionOrder(string(b)) {
		if !strings.HasPrefix(name, "callscreen-") || name == "callscreen-baseline" {
			continue
		}
		out.WriteString("\n[" + name + "]\n" + strings.TrimRight(sections[name], "\n") + "\n")
		n++
	}
	if n == 0 {
		return "", fmt.Errorf("setup: %s has no callscreen-* contexts", filepath.Join(s.o.samples, "extensions.conf"))
	}
	return out.String(), nil
}

var sectionRE = regexp.MustCompile(`(?m)^\[([^\]]+)\][^\n]*\n`)

// splitSections maps each [section] of an Asterisk configuration to its
// body (up to the next section or a ;===== banner).
func splitSections(s string) map[string]string {
	m := map[string]string{}
	idx := sectionRE.FindAllStringSubmatchIndex(s, -1)
	for i, ix := range idx {
		end := len(s)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		body := s[ix[1]:end]
		if j := strings.Index(body, "\n;====="); j >= 0 {
			body = body[:j+1]
		}
		m[s[ix[2]:ix[3]]] = body
	}
	return m
}

func sectionOrder(s string) []string {
	var names []string
	for _, m := range sectionRE.FindAllStringSubmatch(s, -1) {
		names = append(names, m[1])
	}
	return names
}

// noForeignSection fails when [name] exists outside setup's own block.
func noForeignSection(orig, name string) error {
	if regexp.MustCompile(`(?m)^\[` + regexp.QuoteMeta(name) + `\]`).MatchString(orig) {
		return fmt.Errorf("setup: an ARI user [%s] already exists and was not added by callscreen setup: remove it (or choose --ari-user) and run again", name)
	}
	return nil
}

// appendBlock adds block, between markers, at the end of orig.
func appendBlock(orig string, existed bool, block string) string {
	begin := setupBegin
	switch {
	case !existed:
		begin = setupBeginNew
	case orig != "" && !strings.HasSuffix(orig, "\n"):
		begin = setupBeginNL
		orig += "\n"
	}
	return orig + begin + "\n" + block + setupEnd + "\n"
}

// ensureKeys makes key=value hold in [section]: unless the last active
// setting of each key already has the value, the active settings are
// disabled (commented with a marker) and a block after the section header
// sets the keys. A missing section is appended.
func ensureKeys(orig string, existed bool, section string, kv [][2]string) string {
	lines := strings.SplitAfter(orig, "\n")
	start, end := -1, len(lines)
	for i, l := range lines {
		if m := sectionRE.FindStringSubmatch(l + "\n"); m != nil && strings.HasPrefix(l, "[") {
			if start >= 0 {
				end = i
				break
			}
			if m[1] == section {
				start = i
			}
		}
	}
	if start < 0 {
		var b strings.Builder
		b.WriteString("[" + section + "]\n")
		for _, p := range kv {
			b.WriteString(p[0] + "=" + p[1] + "\n")
		}
		return appendBlock(orig, existed, b.String())
	}
	var need [][2]string
	for _, p := range kv {
		last := ""
		for _, l := range lines[start+1 : end] {
			if k, v, ok := activeSetting(l); ok && k == p[0] {
				last = v
			}
		}
		if last != p[1] {
			need = append(need, p)
		}
	}
	if len(need) == 0 {
		return orig
	}
	for i := start + 1; i < end; i++ {
		if k, _, ok := activeSetting(lines[i]); ok {
			for _, p := range need {
				if k == p[0] {
					lines[i] = setupDisabled + lines[i]
				}
			}
		}
	}
	var b strings.Builder
	b.WriteString(setupBegin + "\n")
	for _, p := range need {
		b.WriteString(p[0] + "=" + p[1] + "\n")
	}
	b.WriteString(setupEnd + "\n")
	header := lines[start]
	if !strings.HasSuffix(header, "\n") {
		// The header is the file's last line, without a newline.
		return strings.Join(lines[:start], "") + header + "\n" + strings.Replace(b.String(), setupBegin, setupBeginNL, 1)
	}
	return strings.Join(lines[:start+1], "") + b.String() + strings.Join(lines[start+1:], "")
}

// activeSetting parses "key = value ; comment".
func activeSetting(l string) (key, value string, ok bool) {
	t := strings.TrimSpace(l)
	if t == "" || strings.HasPrefix(t, ";") || strings.HasPrefix(t, "[") || strings.HasPrefix(t, "#") {
		return "", "", false
	}
	k, v, ok := strings.Cut(t, "=")
	if !ok {
		return "", "", false
	}
	v = strings.TrimPrefix(v, ">")
	if i := strings.Index(v, ";"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(k), strings.TrimSpace(v), true
}

// removeBlocksFile undoes everything setup added to a file's content: the
// blocks, the disabled settings. The result does not exist when setup
// created the file.
func removeBlocksFile(s string, existed bool) (string, bool) {
	if !existed {
		return "", false
	}
	if strings.HasPrefix(s, setupBeginNew+"\n") {
		rest := removeBlocks(s)
		if rest == "" {
			return "", false
		}
		return rest, true
	}
	return removeBlocks(s), true
}

func removeBlocks(s string) string {
	var out strings.Builder
	lines := strings.SplitAfter(s, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		t := strings.TrimRight(l, "\n")
		if t == setupBegin || t == setupBeginNL || t == setupBeginNew {
			j := i + 1
			for j < len(lines) && strings.TrimRight(lines[j], "\n") != setupEnd {
				j++
			}
			if j == len(lines) {
				// No end marker: leave the text alone rather than guess.
				out.WriteString(l)
				continue
			}
			if t == setupBeginNL {
				cur := out.String()
				out.Reset()
				out.WriteString(strings.TrimSuffix(cur, "\n"))
			}
			i = j
			continue
		}
		out.WriteString(strings.Replace(l, setupDisabled, "", 1))
	}
	return out.String()
}

// writeSecret writes a new password file, root:callscreen 0640 (the group
// when it exists).
func writeSecret(path, secret string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("setup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if grp, err := user.LookupGroup("callscreen"); err == nil && os.Geteuid() == 0 {
		gid, _ := strconv.Atoi(grp.Gid)
		if err := os.Chown(path, 0, gid); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	return nil
}

// unifiedDiff is a line diff of before and after with 3 lines of context.
func unifiedDiff(path, before, after string, existed, removed bool) string {
	a, b := splitLines(before), splitLines(after)
	from, to := path, path
	if !existed {
		from = "/dev/null"
	}
	if removed {
		to = "/dev/null"
	}
	// Longest common subsequence, from the end.
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte
		line string
		ai   int
		bi   int
	}
	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, op{' ', a[i], i, j})
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			ops = append(ops, op{'+', b[j], i, j})
			j++
		default:
			ops = append(ops, op{'-', a[i], i, j})
			i++
		}
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", from, to)
	const ctx = 3
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		start := max(k-ctx, 0)
		end := k
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run-end > 2*ctx || run == len(ops) {
				end = min(end+ctx, len(ops))
				break
			}
			end = run
		}
		var an, bn int
		for _, o := range ops[start:end] {
			if o.kind != '+' {
				an++
			}
			if o.kind != '-' {
				bn++
			}
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n", ops[start].ai+1, an, ops[start].bi+1, bn)
		for _, o := range ops[start:end] {
			fmt.Fprintf(&out, "%c%s\n", o.kind, o.line)
		}
		k = end
	}
	return out.String()
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func fileOwner(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}

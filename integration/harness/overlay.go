package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// substitution replaces Old by New in one configuration file. Old must occur
// exactly once, so a change to the sample cannot silently break the overlay.
type substitution struct{ file, old, new string }

// overlay returns the test substitutions (documented in the package doc).
func (a *Asterisk) overlay() []substitution {
	subs := []substitution{
		{"pjsip.conf", "bind=0.0.0.0:5060", "bind=" + a.SIPAddr},
		{"pjsip.conf", "contact=sip:203.0.113.10:5060", "contact=sip:" + ProviderAddr + ":5060"},
		{"pjsip.conf", "qualify_frequency=60", "qualify_frequency=0"},
		{"pjsip.conf", "match=203.0.113.10", "match=" + ProviderAddr},
		{"pjsip.conf", ";contact=sip:desk100@192.0.2.100:5060", "contact=sip:desk@" + a.DeskPhoneAddr + ":5060"},
		{"pjsip.conf", ";match=198.51.100.0/24", ";match=" + StrangerAddr}, // uncommented below
		{"ari.conf", "password=change-me", "password=" + a.ARIPassword},
		{"logger.conf", ";full.log => ", "full.log => "},
		{"extensions.conf", "\nCALLSCREEN_AGI_KEY=\n", "\nCALLSCREEN_AGI_KEY=" + AGIKey + "\n"},
		{"http.conf", "\nbindaddr=127.0.0.1\n", "\nbindaddr=" + a.Addr + "\n"},
		{"http.conf", "\nbindport=8088\n", "\nbindport=" + strconv.Itoa(HTTPPort) + "\n"},
	}
	if a.Instance != "" {
		// RTP ports of their own, so that two instances never race for
		// one (both bind media on all addresses).
		subs = append(subs,
			substitution{"rtp.conf", "\nrtpstart=10000\n", "\nrtpstart=20002\n"},
			substitution{"rtp.conf", "\nrtpend=20000\n", "\nrtpend=29998\n"})
	}
	return subs
}

// instanceDirectives are the asterisk.conf directories a named instance
// has of its own; the others (modules, sounds, keys, AGI scripts) are
// shared with the default instance.
var instanceDirectives = []string{"astetcdir", "astrundir", "astspooldir", "astlogdir", "astdbdir", "astcachedir"}

// instanceConfig rewrites Debian's asterisk.conf and manager.conf for a
// named instance: its own directories, and the manager (AMI, port 5038)
// bound to the instance's address.
func (a *Asterisk) instanceConfig(files map[string]string) error {
	conf, ok := files["asterisk.conf"]
	if !ok {
		return fmt.Errorf("harness: no asterisk.conf in %s", a.EtcDir)
	}
	want := map[string]string{
		"astetcdir": a.dirs.etc, "astrundir": a.dirs.run, "astspooldir": a.dirs.spool,
		"astlogdir": a.dirs.log, "astdbdir": a.dirs.lib, "astcachedir": a.dirs.cache,
	}
	// Debian ships the section as a template, "[directories](!)", which
	// Asterisk ignores: make it a section.
	sect := regexp.MustCompile(`(?m)^\[directories\](\(!\))?`)
	if n := len(sect.FindAllString(conf, -1)); n != 1 {
		return fmt.Errorf("harness: [directories] occurs %d times in Debian's asterisk.conf, want once", n)
	}
	conf = sect.ReplaceAllLiteralString(conf, "[directories]")
	for _, name := range instanceDirectives {
		re := regexp.MustCompile(`(?m)^` + name + `\s*=>.*$`)
		if n := len(re.FindAllString(conf, -1)); n != 1 {
			return fmt.Errorf("harness: %s occurs %d times in Debian's asterisk.conf, want once", name, n)
		}
		conf = re.ReplaceAllLiteralString(conf, name+" => "+want[name])
	}
	files["asterisk.conf"] = conf
	mgr, ok := files["manager.conf"]
	if !ok {
		return nil
	}
	re := regexp.MustCompile(`(?m)^bindaddr\s*=.*$`)
	if n := len(re.FindAllString(mgr, -1)); n != 1 {
		return fmt.Errorf("harness: bindaddr occurs %d times in Debian's manager.conf, want once", n)
	}
	files["manager.conf"] = re.ReplaceAllLiteralString(mgr, "bindaddr = "+a.Addr)
	return nil
}

// AGIKey is the FastAGI shared secret of the test PBX: the overlay sets it
// in extensions.conf's [globals], and callscreen serve gets it as
// CALLSCREEN_AGI_KEY.
const AGIKey = "integration-agi-key-5f2c9a71"

// testDialplan is appended to extensions.conf: the test DIDs.
const testDialplan = `

; ---- callscreen integration test overlay (integration/harness) ----
[from-provider]
exten => ` + DIDBaseline + `,1,Goto(callscreen-baseline,${EXTEN},1)
exten => ` + DIDVoicemail + `,1,Goto(callscreen-voicemail,${EXTEN},1)
exten => ` + DIDAGI + `,1,Goto(callscreen-agi,${EXTEN},1)
exten => ` + DIDRing + `,1,Goto(callscreen-ring,${EXTEN},1)
exten => ` + DIDReject + `,1,Goto(callscreen-reject,${EXTEN},1)
`

// writeConfig resets /etc/asterisk to Debian's files, then writes every
// file of asterisk-conf/ with the overlay, then Append and Extra.
func (a *Asterisk) writeConfig() error {
	etc := a.EtcDir
	dist := filepath.Join(a.Root, "etc/asterisk.dist")
	// Keep a pristine copy of Debian's configuration the first time, and
	// start from it every time, so files from an earlier run's Extra vanish.
	if _, err := os.Stat(dist); os.IsNotExist(err) {
		if err := copyDir(filepath.Join(a.Root, "etc/asterisk"), dist); err != nil {
			return fmt.Errorf("harness: saving Debian's /etc/asterisk: %w", err)
		}
	}
	if err := os.RemoveAll(etc); err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	if err := copyDir(dist, etc); err != nil {
		return fmt.Errorf("harness: restoring Debian's /etc/asterisk: %w", err)
	}

	files := map[string]string{}
	ents, err := os.ReadDir(a.opts.ConfDir)
	if err != nil {
		return fmt.Errorf("harness: reading sample configuration: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".conf") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(a.opts.ConfDir, e.Name()))
		if err != nil {
			return fmt.Errorf("harness: %w", err)
		}
		files[e.Name()] = string(b)
	}
	if a.Instance != "" {
		for _, name := range []string{"asterisk.conf", "manager.conf"} {
			b, err := os.ReadFile(filepath.Join(dist, name))
			if err != nil {
				return fmt.Errorf("harness: %w", err)
			}
			files[name] = string(b)
		}
		if err := a.instanceConfig(files); err != nil {
			return err
		}
	}
	for _, s := range a.overlay() {
		c, ok := files[s.file]
		if !ok {
			return fmt.Errorf("harness: overlay: %s missing from %s", s.file, a.opts.ConfDir)
		}
		if n := strings.Count(c, s.old); n != 1 {
			return fmt.Errorf("harness: overlay: %q occurs %d times in %s, want once", s.old, n, s.file)
		}
		files[s.file] = strings.Replace(c, s.old, s.new, 1)
	}
	pj, err := uncommentBlock(files["pjsip.conf"], ";;; BEGIN public endpoint", ";;; END public endpoint")
	if err != nil {
		return err
	}
	files["pjsip.conf"] = pj
	if a.opts.AGIAddr != AGIAddr {
		files["extensions.conf"] = strings.ReplaceAll(files["extensions.conf"], "agi://"+AGIAddr+"/", "agi://"+a.opts.AGIAddr+"/")
	}
	files["extensions.conf"] += testDialplan
	for name, text := range a.opts.Append {
		files[name] += "\n" + text + "\n"
	}
	for name, text := range a.opts.Extra {
		files[name] = text
	}

	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.Contains(n, "/") {
			return fmt.Errorf("harness: configuration file name %q must not contain '/'", n)
		}
		p := filepath.Join(etc, n)
		if err := os.WriteFile(p, []byte(files[n]), 0o640); err != nil {
			return fmt.Errorf("harness: %w", err)
		}
		if err := os.Chown(p, 0, a.gid); err != nil {
			return fmt.Errorf("harness: %w", err)
		}
	}
	return nil
}

// uncommentBlock removes one leading ';' from every line strictly between
// the begin and end marker lines.
func uncommentBlock(text, begin, end string) (string, error) {
	lines := strings.Split(text, "\n")
	in, found := false, 0
	for i, l := range lines {
		switch strings.TrimSpace(l) {
		case begin:
			in = true
			found++
			continue
		case end:
			in = false
			found++
			continue
		}
		if in {
			lines[i] = strings.TrimPrefix(l, ";")
		}
	}
	if found != 2 {
		return "", fmt.Errorf("harness: overlay: markers %q/%q not found once each", begin, end)
	}
	return strings.Join(lines, "\n"), nil
}

// copyDir copies a directory tree of regular files, directories and
// symbolic links, keeping modes and owners.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(t, info.Mode().Perm()); err != nil {
				return err
			}
		case info.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(l, t); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(t, b, info.Mode().Perm()); err != nil {
				return err
			}
		}
		return copyOwner(info, t)
	})
}

func copyOwner(info os.FileInfo, dst string) error {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return os.Lchown(dst, int(st.Uid), int(st.Gid))
}

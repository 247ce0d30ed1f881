package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"
)

// PcapDir holds the RTP captures Debian's sip-tester ships.
const PcapDir = "/usr/share/sip-tester"

// sipMessage is one SIP message from sipp's message trace.
type sipMessage struct {
	Sent     bool
	Start    string // request or status line
	Headers  []string
	Received bool
}

// header returns the first value of a header (long or compact name).
func (m sipMessage) header(names ...string) string {
	for _, h := range m.Headers {
		name, val, ok := strings.Cut(h, ":")
		if !ok {
			continue
		}
		for _, n := range names {
			if strings.EqualFold(strings.TrimSpace(name), n) {
				return strings.TrimSpace(val)
			}
		}
	}
	return ""
}

// status returns the response code, or 0 for a request.
func (m sipMessage) status() int { return SIPStatus(m.Start) }

// SIPStatus returns the response code of a SIP start line
// ("SIP/2.0 180 Ringing"), or 0 for a request line.
func SIPStatus(start string) int {
	if !strings.HasPrefix(start, "SIP/2.0 ") {
		return 0
	}
	f := strings.Fields(start)
	if len(f) < 2 {
		return 0
	}
	c, _ := strconv.Atoi(f[1])
	return c
}

// method returns the request method, or "" for a response.
func (m sipMessage) method() string {
	if m.status() != 0 {
		return ""
	}
	f, _, _ := strings.Cut(m.Start, " ")
	return f
}

// cseqMethod returns the method named in CSeq.
func (m sipMessage) cseqMethod() string {
	f := strings.Fields(m.header("CSeq"))
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// parseTrace parses a sipp -trace_msg file. Each message is preceded by a
// line of dashes and a "UDP message sent/received" line.
func parseTrace(text string) []sipMessage {
	var msgs []sipMessage
	var cur *sipMessage
	state := 0 // 0: before a message, 1: after the sent/received line, 2: start line read (headers), 3: body
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	flush := func() {
		if cur != nil && cur.Start != "" {
			msgs = append(msgs, *cur)
		}
		cur = nil
	}
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, "----------------------------------------------"):
			flush()
			state = 0
			continue
		case state == 0 && strings.Contains(line, "message sent"):
			cur = &sipMessage{Sent: true}
			state = 1
			continue
		case state == 0 && strings.Contains(line, "message received"):
			cur = &sipMessage{Received: true}
			state = 1
			continue
		}
		if cur == nil {
			continue
		}
		switch state {
		case 1:
			if strings.TrimSpace(line) == "" {
				continue
			}
			cur.Start = strings.TrimSpace(line)
			state = 2
		case 2:
			if strings.TrimSpace(line) == "" {
				state = 3
				continue
			}
			if (line[0] == ' ' || line[0] == '\t') && len(cur.Headers) > 0 {
				cur.Headers[len(cur.Headers)-1] += " " + strings.TrimSpace(line)
				continue
			}
			cur.Headers = append(cur.Headers, line)
		}
	}
	flush()
	return msgs
}

// uriUser returns the user part of the first SIP URI in a header value such
// as `"Name" <sip:0312345678@host>;tag=x`.
func uriUser(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	}
	for _, p := range []string{"sip:", "sips:", "tel:"} {
		if i := strings.Index(v, p); i >= 0 {
			v = v[i+len(p):]
			break
		}
	}
	if i := strings.IndexByte(v, '@'); i >= 0 {
		return v[:i]
	}
	if i := strings.IndexAny(v, ";>"); i >= 0 {
		return v[:i]
	}
	return v
}

// ---- ports ----------------------------------------------------------------

var (
	portMu   sync.Mutex
	nextPort = 30000 + (os.Getpid()%250)*100
)

// mediaPort returns a port p on ip such that p and p+2 (sipp's audio and
// video sockets) are free now.
func mediaPort(ip string) (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 2000 {
		p := nextPort
		nextPort += 4
		if nextPort > 60000 {
			nextPort = 30000
		}
		if udpFree(ip, p) && udpFree(ip, p+2) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("harness: no free media port on %s", ip)
}

func udpFree(ip string, port int) bool {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip), Port: port})
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// udpBound reports whether some socket is bound to ip:port (from
// /proc/net/udp), without binding it ourselves.
func udpBound(ip string, port int) bool {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return false
	}
	p4 := net.ParseIP(ip).To4()
	if p4 == nil {
		return false
	}
	want := fmt.Sprintf("%02X%02X%02X%02X:%04X", p4[3], p4[2], p4[1], p4[0], port)
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && f[1] == want {
			return true
		}
	}
	return false
}

func checkLoopback(ip string) error {
	p := net.ParseIP(ip)
	if p == nil || p.To4() == nil || !p.IsLoopback() {
		return fmt.Errorf("harness: %q is not an IPv4 loopback address (127.0.0.0/8)", ip)
	}
	return nil
}

// ---- templates ----------------------------------------------------------------

func renderScenario(name string, data any, dir string) (string, error) {
	repo, err := RepoRoot()
	if err != nil {
		return "", err
	}
	src := filepath.Join(repo, "integration/sipp", name+".xml.tmpl")
	t, err := template.ParseFiles(src)
	if err != nil {
		return "", fmt.Errorf("harness: scenario template: %w", err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("harness: scenario %s: %w", name, err)
	}
	out := filepath.Join(dir, name+".xml")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("harness: %w", err)
	}
	return out, nil
}

// stopProcessGroup interrupts a process group, then kills it.
func stopProcessGroup(cmd *exec.Cmd, done <-chan struct{}) error {
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	pgid := cmd.Process.Pid
	select {
	case <-done:
		return nil
	default:
	}
	_ = syscall.Kill(-pgid, syscall.SIGINT)
	select {
	case <-done:
		return nil
	case <-time.After(2 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("harness: sipp does not die")
	}
}

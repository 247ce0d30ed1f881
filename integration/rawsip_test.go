package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/callscreen/callscreen/integration/harness"
)

// rawCall is one INVITE whose header lines are sent byte for byte as
// given: a minimal UDP user agent client for inputs sipp cannot carry (NUL
// bytes, raw CR/LF, invalid UTF-8, duplicate From headers). It answers
// nothing but BYE and speaks no media (an RTP socket is bound and
// drained so that Asterisk's RTP has somewhere to go).
type rawCall struct {
	Name     string
	Category string
	// Source is the loopback address to send from (default the provider).
	Source string
	// To is the Request-URI and To user (the DID), sent as is.
	To string
	// From is the From header value without the tag; FromLines, when set,
	// replaces the whole From line (several From headers, folding, ...);
	// the tag is then not added and the dialog cannot be finished cleanly.
	From      string
	FromLines []string
	// Headers are extra header lines, sent as is (they may hold anything,
	// CR and LF included).
	Headers []string
	// Method is INVITE unless set (OPTIONS for a scanner sweep).
	Method string
	// Hold is how long to stay after a 200 before sending BYE, unless the
	// far end hangs up first. Default 3 s.
	Hold time.Duration
}

// rawResult is what the raw client saw.
type rawResult struct {
	Responses []int
	Final     int  // 0: no final response
	Answered  bool // a 200 came
	RemoteBye bool // Asterisk hung up (BYE)
	ByeOK     bool // our BYE was answered
	Reason    string
	Duration  time.Duration
}

func (r rawResult) String() string {
	return fmt.Sprintf("final=%d %q responses=%v answered=%v remoteBye=%v duration=%s",
		r.Final, r.Reason, r.Responses, r.Answered, r.RemoteBye, r.Duration.Round(time.Millisecond))
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// sipMsg is a parsed SIP message (enough for the client's needs).
type sipMsg struct {
	start   string
	headers []string
}

func parseSIP(b []byte) sipMsg {
	head, _, _ := bytes.Cut(b, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	m := sipMsg{start: lines[0]}
	m.headers = lines[1:]
	return m
}

func (m sipMsg) status() int { return harness.SIPStatus(m.start) }

func (m sipMsg) reason() string {
	f := strings.SplitN(m.start, " ", 3)
	if len(f) < 3 {
		return ""
	}
	return f[2]
}

func (m sipMsg) get(names ...string) string {
	for _, h := range m.headers {
		n, v, ok := strings.Cut(h, ":")
		if !ok {
			continue
		}
		for _, want := range names {
			if strings.EqualFold(strings.TrimSpace(n), want) {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}

func (m sipMsg) all(names ...string) []string {
	var out []string
	for _, h := range m.headers {
		n, _, ok := strings.Cut(h, ":")
		if !ok {
			continue
		}
		for _, want := range names {
			if strings.EqualFold(strings.TrimSpace(n), want) {
				out = append(out, h)
			}
		}
	}
	return out
}

// placeRaw sends the INVITE (or OPTIONS) and plays the call out: ACK a
// final, hang up after Hold, answer Asterisk's BYE. Bounded by ctx and by
// Hold + 40 s.
func placeRaw(ctx context.Context, c rawCall) (rawResult, error) {
	var res rawResult
	start := time.Now()
	defer func() { res.Duration = time.Since(start) }()
	if c.Source == "" {
		c.Source = harness.ProviderAddr
	}
	if c.Method == "" {
		c.Method = "INVITE"
	}
	if c.Hold == 0 {
		c.Hold = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, c.Hold+40*time.Second)
	defer cancel()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(c.Source)})
	if err != nil {
		return res, err
	}
	defer conn.Close()
	rtp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(c.Source)})
	if err != nil {
		return res, err
	}
	defer rtp.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := rtp.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	ast, _ := net.ResolveUDPAddr("udp4", harness.AsteriskSIP)
	local := conn.LocalAddr().(*net.UDPAddr)
	lport := strconv.Itoa(local.Port)
	callID := randHex(12) + "@" + c.Source
	tag := randHex(6)
	branch := "z9hG4bK" + randHex(8)
	ruri := "sip:" + c.To + "@" + harness.AsteriskSIP
	via := "Via: SIP/2.0/UDP " + c.Source + ":" + lport + ";branch=" + branch + ";rport"
	fromLines := c.FromLines
	if fromLines == nil {
		fromLines = []string{"From: " + c.From + ";tag=" + tag}
	}
	toLine := "To: <sip:" + c.To + "@" + harness.AsteriskSIP + ">"
	var b strings.Builder
	b.WriteString(c.Method + " " + ruri + " SIP/2.0\r\n")
	b.WriteString(via + "\r\n")
	for _, l := range fromLines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString(toLine + "\r\n")
	b.WriteString("Call-ID: " + callID + "\r\n")
	b.WriteString("CSeq: 1 " + c.Method + "\r\n")
	b.WriteString("Contact: <sip:caller@" + c.Source + ":" + lport + ">\r\n")
	b.WriteString("Max-Forwards: 70\r\n")
	for _, h := range c.Headers {
		b.WriteString(h + "\r\n")
	}
	body := ""
	if c.Method == "INVITE" {
		rp := rtp.LocalAddr().(*net.UDPAddr).Port
		body = "v=0\r\no=- 1 1 IN IP4 " + c.Source + "\r\ns=-\r\nc=IN IP4 " + c.Source + "\r\nt=0 0\r\n" +
			"m=audio " + strconv.Itoa(rp) + " RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	invite := []byte(b.String())

	send := func(p []byte) error {
		_, err := conn.WriteToUDP(p, ast)
		return err
	}
	if err := send(invite); err != nil {
		return res, err
	}
	buf := make([]byte, 65536)
	var (
		provisional bool
		toTag       string
		remoteURI   = ruri
		byeSent     time.Time
		lastBye     time.Time
		byeCSeq     = "2 BYE"
		hangAt      time.Time
		nextRetrans = time.Now().Add(500 * time.Millisecond)
		inviteGive  = time.Now().Add(8 * time.Second)
	)
	ackFor := func(m sipMsg, to string, newBranch bool) []byte {
		v := via
		u := ruri
		if newBranch {
			v = "Via: SIP/2.0/UDP " + c.Source + ":" + lport + ";branch=z9hG4bK" + randHex(8) + ";rport"
			u = remoteURI
		}
		var a strings.Builder
		a.WriteString("ACK " + u + " SIP/2.0\r\n" + v + "\r\n")
		for _, l := range fromLines {
			a.WriteString(l + "\r\n")
		}
		a.WriteString("To: " + to + "\r\nCall-ID: " + callID + "\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
		return []byte(a.String())
	}
	bye := func() []byte {
		var a strings.Builder
		a.WriteString("BYE " + remoteURI + " SIP/2.0\r\nVia: SIP/2.0/UDP " + c.Source + ":" + lport + ";branch=z9hG4bK" + randHex(8) + ";rport\r\n")
		for _, l := range fromLines {
			a.WriteString(l + "\r\n")
		}
		a.WriteString("To: <sip:" + c.To + "@" + harness.AsteriskSIP + ">;tag=" + toTag + "\r\nCall-ID: " + callID + "\r\nCSeq: " + byeCSeq + "\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
		return []byte(a.String())
	}
	for {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("raw call %s did not finish: %w (%s)", c.Name, err, res)
		}
		now := time.Now()
		switch {
		case res.Final == 0 && !provisional && now.After(inviteGive):
			res.Reason = "no response (dropped by PJSIP)"
			return res, nil
		case res.Final == 0 && !provisional && now.After(nextRetrans):
			send(invite)
			nextRetrans = now.Add(500 * time.Millisecond)
		case res.Answered && !res.RemoteBye && byeSent.IsZero() && now.After(hangAt):
			send(bye())
			byeSent, lastBye = now, now
		case !byeSent.IsZero() && !res.ByeOK && now.Sub(byeSent) > 4*time.Second:
			return res, nil // BYE unanswered: give up, the channel check will tell
		case !byeSent.IsZero() && !res.ByeOK && now.Sub(lastBye) > 500*time.Millisecond:
			send(bye())
			lastBye = now
		}
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return res, err
		}
		m := parseSIP(buf[:n])
		if code := m.status(); code != 0 {
			cseq := m.get("CSeq")
			if strings.HasSuffix(cseq, "BYE") {
				res.ByeOK = true
				return res, nil
			}
			if !strings.HasSuffix(cseq, c.Method) {
				continue
			}
			if l := len(res.Responses); l == 0 || res.Responses[l-1] != code {
				res.Responses = append(res.Responses, code)
			}
			if code < 200 {
				provisional = true
				continue
			}
			to := m.get("To", "t")
			if res.Final == 0 {
				res.Final, res.Reason = code, m.reason()
			}
			if c.Method != "INVITE" {
				return res, nil
			}
			if code >= 300 {
				send(ackFor(m, to, false))
				// Linger briefly for retransmitted finals.
				conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				for {
					if _, _, err := conn.ReadFromUDP(buf); err != nil {
						break
					}
					send(ackFor(m, to, false))
				}
				return res, nil
			}
			// 200 (perhaps retransmitted): ACK it.
			if _, t, ok := strings.Cut(to, ";tag="); ok {
				toTag, _, _ = strings.Cut(t, ";")
			}
			if ct := m.get("Contact", "m"); ct != "" {
				if i, j := strings.IndexByte(ct, '<'), strings.IndexByte(ct, '>'); i >= 0 && j > i {
					remoteURI = ct[i+1 : j]
				}
			}
			send(ackFor(m, to, true))
			if !res.Answered {
				res.Answered = true
				hangAt = time.Now().Add(c.Hold)
			}
			continue
		}
		// A request from Asterisk: answer BYE (and anything else) with 200.
		method, _, _ := strings.Cut(m.start, " ")
		var r strings.Builder
		r.WriteString("SIP/2.0 200 OK\r\n")
		for _, h := range m.all("Via", "v") {
			r.WriteString(h + "\r\n")
		}
		for _, n := range []string{"From", "To", "Call-ID", "CSeq"} {
			for _, h := range m.all(n) {
				r.WriteString(h + "\r\n")
			}
		}
		r.WriteString("Content-Length: 0\r\n\r\n")
		send([]byte(r.String()))
		if method == "BYE" {
			res.RemoteBye = true
			// Linger for a retransmitted BYE, then done.
			conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			conn.ReadFromUDP(buf)
			return res, nil
		}
	}
}

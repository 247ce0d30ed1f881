package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	caller   = netip.MustParseAddrPort("127.0.0.2:5060")
	server   = netip.MustParseAddrPort("127.0.0.1:5060")
	desk     = netip.MustParseAddrPort("127.0.0.10:5060")
	wireT0   = time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	stranger = netip.MustParseAddrPort("127.0.0.3:5060")
)

// at is wireT0 plus us microseconds.
func at(us int64) time.Time { return wireT0.Add(time.Duration(us) * time.Microsecond) }

func invite(us int64, id string, src, dst netip.AddrPort) sipMsg {
	return sipMsg{At: at(us), Src: src, Dst: dst, CallID: id, Method: "INVITE", CSeq: "INVITE"}
}

func resp(us int64, id string, status int, src, dst netip.AddrPort) sipMsg {
	return sipMsg{At: at(us), Src: src, Dst: dst, CallID: id, Status: status, CSeq: "INVITE"}
}

func TestWirePDD(t *testing.T) {
	tests := []struct {
		name     string
		msgs     []sipMsg
		answered bool
		want     []float64
		unpaired int
	}{
		{
			name: "INVITE to 180, microsecond resolution",
			msgs: []sipMsg{
				invite(0, "a", caller, server),
				resp(150, "a", 100, server, caller),
				resp(1234, "a", 180, server, caller),
				resp(2000, "a", 200, server, caller),
			},
			want: []float64{1.234},
		},
		{
			name: "the first INVITE counts, not its retransmission; the first 180 counts",
			msgs: []sipMsg{
				invite(0, "a", caller, server),
				invite(500000, "a", caller, server),
				resp(500900, "a", 180, server, caller),
				resp(501000, "a", 180, server, caller),
			},
			want: []float64{500.9},
		},
		{
			name: "183 rings too; a 200 without ringing is paired",
			msgs: []sipMsg{
				invite(0, "a", caller, server),
				invite(10, "b", caller, server),
				resp(3010, "b", 200, server, caller),
				resp(4500, "a", 183, server, caller),
			},
			want: []float64{3, 4.5},
		},
		{
			name: "challenge path: to the 200 OK, past the 180",
			msgs: []sipMsg{
				invite(0, "a", caller, server),
				resp(700, "a", 180, server, caller),
				resp(8250, "a", 200, server, caller),
			},
			answered: true,
			want:     []float64{8.25},
		},
		{
			name: "pairing is by Call-ID, out of order and interleaved",
			msgs: []sipMsg{
				resp(5100, "b", 180, server, caller),
				invite(0, "a", caller, server),
				invite(100, "b", caller, server),
				invite(200, "c", caller, server),
				resp(2200, "c", 180, server, caller),
				resp(900, "a", 180, server, caller),
			},
			want: []float64{0.9, 2, 5},
		},
		{
			name: "the desk phone's leg, other callers and responses to other requests do not count",
			msgs: []sipMsg{
				invite(0, "a", caller, server),
				// Asterisk's INVITE to the desk phone and its 180.
				invite(300, "leg2", server, desk),
				resp(400, "leg2", 180, desk, server),
				// Another caller's call.
				invite(350, "x", stranger, server),
				resp(420, "x", 180, server, stranger),
				// A 180 for "a" sent to someone else.
				resp(450, "a", 180, server, stranger),
				// A response with CSeq other than INVITE.
				{At: at(480), Src: server, Dst: caller, CallID: "a", Status: 200, CSeq: "BYE"},
				resp(600, "a", 180, server, caller),
			},
			want: []float64{0.6},
		},
		{
			name: "an INVITE without a ringing response is unpaired; errors do not pair",
			msgs: []sipMsg{
				invite(0, "a", caller, server),
				resp(100, "a", 100, server, caller),
				resp(200, "a", 503, server, caller),
				invite(10, "b", caller, server),
				resp(1010, "b", 180, server, caller),
			},
			want:     []float64{1},
			unpaired: 1,
		},
		{
			name: "a response without its INVITE is ignored",
			msgs: []sipMsg{
				resp(100, "z", 180, server, caller),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, unpaired := wirePDD(tt.msgs, caller.Addr(), server, tt.answered)
			if !slices.EqualFunc(got, tt.want, func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }) || unpaired != tt.unpaired {
				t.Errorf("wirePDD = %v, %d unpaired; want %v, %d", got, unpaired, tt.want, tt.unpaired)
			}
		})
	}
}

func TestWirePercentiles(t *testing.T) {
	// 1,000 calls: 990 at about 1 ms, ten slow ones; nearest-rank p99 is
	// the tenth-slowest call.
	var msgs []sipMsg
	for i := range 1000 {
		d := int64(1000 + i%7)
		if i >= 990 {
			d = int64(6000 + (i-990)*100)
		}
		id := fmt.Sprintf("c%d", i)
		msgs = append(msgs, invite(int64(i)*20000, id, caller, server), resp(int64(i)*20000+d, id, 180, server, caller))
	}
	pdd, unpaired := wirePDD(msgs, caller.Addr(), server, false)
	if len(pdd) != 1000 || unpaired != 0 {
		t.Fatalf("%d paired, %d unpaired; want 1000, 0", len(pdd), unpaired)
	}
	for _, c := range []struct {
		p    float64
		want float64
	}{{50, 1.003}, {95, 1.006}, {99, 1.006}, {100, 6.9}} {
		if got := percentile(pdd, c.p); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("p%v = %v ms, want %v", c.p, got, c.want)
		}
	}
}

// udp4 builds an IPv4 UDP packet.
func udp4(src, dst netip.AddrPort, payload string, fragOff uint16) []byte {
	p := make([]byte, 28+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[6:], fragOff)
	p[8] = 64
	p[9] = syscall.IPPROTO_UDP
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	binary.BigEndian.PutUint16(p[20:], src.Port())
	binary.BigEndian.PutUint16(p[22:], dst.Port())
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	copy(p[28:], payload)
	return p
}

const sipInvite = "INVITE sip:0399990000@127.0.0.1:5060 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-1\r\n" +
	"Call-ID: 1-42@127.0.0.2\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Content-Length: 0\r\n\r\n"

func TestParsePacket(t *testing.T) {
	tests := []struct {
		name   string
		packet []byte
		want   sipMsg
		ok     bool
	}{
		{"INVITE", udp4(caller, server, sipInvite, 0),
			sipMsg{Src: caller, Dst: server, Method: "INVITE", CallID: "1-42@127.0.0.2", CSeq: "INVITE"}, true},
		{"180 with compact Call-ID and a body", udp4(server, caller, "SIP/2.0 180 Ringing\r\ni:  1-42@127.0.0.2 \r\ncseq: 1 INVITE\r\n\r\nv=0\r\nCall-ID: other\r\n", 0),
			sipMsg{Src: server, Dst: caller, Status: 180, CallID: "1-42@127.0.0.2", CSeq: "INVITE"}, true},
		{"200 to a BYE", udp4(server, caller, "SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: 2 BYE\r\n\r\n", 0),
			sipMsg{Src: server, Dst: caller, Status: 200, CallID: "x", CSeq: "BYE"}, true},
		{"RTP", udp4(caller, server, "\x80\x08\x00\x01rtp-payload", 0), sipMsg{}, false},
		{"no Call-ID", udp4(server, caller, "SIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\n\r\n", 0), sipMsg{}, false},
		{"a fragment", udp4(caller, server, sipInvite, 0x2000), sipMsg{}, false},
		{"truncated", udp4(caller, server, sipInvite, 0)[:40], sipMsg{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got sipMsg
			src, dst, payload, ok := parseIPv4UDP(tt.packet)
			if ok {
				got, ok = parseSIP(payload)
				got.Src, got.Dst = src, dst
			}
			if ok != tt.ok || ok && got != tt.want {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestWireCaptureLoopback captures real datagrams on the loopback
// interface: the filtered port's SIP is recorded with kernel timestamps,
// the other port's is not. Needs root (a packet socket).
func TestWireCaptureLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a packet socket")
	}
	ln, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	port := uint16(ln.LocalAddr().(*net.UDPAddr).Port)

	c, err := startWireCapture(port)
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		t.Skipf("no packet socket here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	snd, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, ln.LocalAddr().(*net.UDPAddr))
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	defer snd.Close()
	before := time.Now()
	if _, err := snd.Write([]byte(sipInvite)); err != nil {
		t.Error(err)
	}
	// The same message to another port is filtered out.
	o, err := net.DialUDP("udp4", nil, other.LocalAddr().(*net.UDPAddr))
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := o.Write([]byte(sipInvite)); err != nil {
		t.Error(err)
	}
	other.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := other.Read(make([]byte, 2048)); err != nil {
		t.Error(err)
	}
	// The datagram has arrived once the listener reads it.
	ln.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := ln.Read(make([]byte, 2048)); err != nil {
		t.Error(err)
	}
	after := time.Now()
	msgs, st, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("captured %d messages (%+v), want the one INVITE to port %d", len(msgs), msgs, port)
	}
	m := msgs[0]
	if m.Method != "INVITE" || m.CallID != "1-42@127.0.0.2" || m.Dst.Port() != port {
		t.Errorf("captured %+v", m)
	}
	if m.At.Before(before.Add(-time.Second)) || m.At.After(after.Add(time.Second)) {
		t.Errorf("timestamp %v not within the send (%v to %v)", m.At, before, after)
	}
	if st.Drops != 0 || st.Packets != 1 {
		t.Errorf("kernel counted %d packets, %d dropped; want 1, 0", st.Packets, st.Drops)
	}
}

// TestRenderJudgesAddedPDDByWire: the 5 ms target is judged by the
// packet timestamps, with sipp's figures beside them.
func TestRenderJudgesAddedPDDByWire(t *testing.T) {
	step := func(path string, sipp, wire float64) stepResult {
		r := stepResult{Path: path, Rate: 50, Calls: 100, OK: 100, Outcomes: map[string]int{"rang": 100}}
		for i := range 100 {
			r.PDD = append(r.PDD, 4)
			r.Wire = append(r.Wire, 1+float64(i)/1000)
		}
		r.PDD[98], r.PDD[99], r.Wire[98], r.Wire[99] = sipp, sipp, wire, wire
		return r
	}
	tests := []struct {
		name      string
		ari, base float64 // wire p99, ms
		want      string
	}{
		{"within", 7.5, 3.25, "| added PDD p99 at 50 cps (ari) within 5 ms of the baseline (wire) | 7.500 vs 3.250 ms: +4.250 ms (sipp: 16.0 vs 8.0 ms, +8.0) | yes |"},
		{"beyond", 9.5, 3.25, "| added PDD p99 at 50 cps (ari) within 5 ms of the baseline (wire) | 9.500 vs 3.250 ms: +6.250 ms (sipp: 16.0 vs 8.0 ms, +8.0) | **no** |"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := []stepResult{step("baseline", 8, tt.base), step("ari", 16, tt.ari)}
			out := render(options{rates: []int{50}, paths: []string{"baseline", "ari"}, step: 2 * time.Second}, &env{}, res, "")
			if !strings.Contains(out, tt.want) {
				t.Errorf("no line %q in\n%s", tt.want, out)
			}
		})
	}
}

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The wire instrument: post-dial delay from the kernel's receive
// timestamps of the SIP packets on the loopback interface, rather than
// from sipp's own clock (which ticks in 4 ms steps). A packet socket
// (AF_PACKET) bound to the loopback interface, with a classic BPF filter
// that keeps IPv4 UDP datagrams to or from the SIP port, records every
// INVITE and every response to an INVITE with its SO_TIMESTAMPNS
// timestamp; wirePDD then pairs the caller's first INVITE with the first
// 180/183 (or 200) Asterisk sent back for the same Call-ID.

// sipMsg is one SIP message seen on the wire: an INVITE, or a response
// whose CSeq method is INVITE.
type sipMsg struct {
	At       time.Time
	Src, Dst netip.AddrPort
	CallID   string
	Method   string // request method; "" for a response
	Status   int    // response status; 0 for a request
	CSeq     string // CSeq method
}

// parseIPv4UDP returns the addresses and payload of an IPv4 UDP datagram
// (an unfragmented one: SIP on the loopback interface never needs more
// than one packet).
func parseIPv4UDP(p []byte) (src, dst netip.AddrPort, payload []byte, ok bool) {
	if len(p) < 20 || p[0]>>4 != 4 || p[9] != syscall.IPPROTO_UDP {
		return src, dst, nil, false
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:4]))
	if ihl < 20 || total < ihl+8 || total > len(p) || binary.BigEndian.Uint16(p[6:8])&0x3fff != 0 {
		return src, dst, nil, false // short, or a fragment
	}
	srcIP := netip.AddrFrom4([4]byte(p[12:16]))
	dstIP := netip.AddrFrom4([4]byte(p[16:20]))
	u := p[ihl:total]
	src = netip.AddrPortFrom(srcIP, binary.BigEndian.Uint16(u[0:2]))
	dst = netip.AddrPortFrom(dstIP, binary.BigEndian.Uint16(u[2:4]))
	ulen := int(binary.BigEndian.Uint16(u[4:6]))
	if ulen < 8 || ulen > len(u) {
		return src, dst, nil, false
	}
	return src, dst, u[8:ulen], true
}

// parseSIP reads the start line, Call-ID and CSeq of a SIP message. ok is
// false for anything that is not SIP or lacks those headers.
func parseSIP(b []byte) (m sipMsg, ok bool) {
	head, _, _ := bytes.Cut(b, []byte("\r\n\r\n"))
	lines := bytes.Split(head, []byte("\r\n"))
	start := lines[0]
	if rest, found := bytes.CutPrefix(start, []byte("SIP/2.0 ")); found {
		code, _, _ := bytes.Cut(rest, []byte(" "))
		st, err := strconv.Atoi(string(code))
		if err != nil || st < 100 || st > 699 {
			return m, false
		}
		m.Status = st
	} else {
		f := bytes.Fields(start)
		if len(f) != 3 || !bytes.Equal(f[2], []byte("SIP/2.0")) {
			return m, false
		}
		m.Method = string(f[0])
	}
	for _, l := range lines[1:] {
		name, value, found := bytes.Cut(l, []byte(":"))
		if !found {
			continue
		}
		name = bytes.TrimSpace(name)
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Call-ID")) || bytes.EqualFold(name, []byte("i")):
			m.CallID = string(value)
		case bytes.EqualFold(name, []byte("CSeq")):
			f := bytes.Fields(value)
			if len(f) == 2 {
				m.CSeq = string(f[1])
			}
		}
	}
	if m.CallID == "" || m.CSeq == "" {
		return m, false
	}
	return m, true
}

// wirePDD pairs each INVITE the caller (address from) sent to the server
// with the server's first response to it of the awaited kind, by Call-ID,
// and returns the post-dial delays in milliseconds, sorted, and how many
// INVITEs got no such response. answered awaits the 200 OK (the challenge
// path, where callscreen answers first); otherwise the first 180 or 183,
// or a 200 that came without either. Retransmitted INVITEs and later
// responses do not count: the delay runs from the first INVITE.
func wirePDD(msgs []sipMsg, from netip.Addr, server netip.AddrPort, answered bool) (pdd []float64, unpaired int) {
	msgs = slices.Clone(msgs)
	slices.SortStableFunc(msgs, func(a, b sipMsg) int { return a.At.Compare(b.At) })
	type call struct {
		invite time.Time
		done   bool
	}
	calls := map[string]*call{}
	for _, m := range msgs {
		switch {
		case m.Method == "INVITE" && m.Src.Addr() == from && m.Dst == server:
			if calls[m.CallID] == nil {
				calls[m.CallID] = &call{invite: m.At}
			}
		case m.Status != 0 && m.CSeq == "INVITE" && m.Src == server && m.Dst.Addr() == from:
			c := calls[m.CallID]
			if c == nil || c.done {
				continue
			}
			if answered && m.Status != 200 || !answered && m.Status != 180 && m.Status != 183 && m.Status != 200 {
				continue
			}
			c.done = true
			pdd = append(pdd, float64(m.At.Sub(c.invite).Nanoseconds())/1e6)
		}
	}
	for _, c := range calls {
		if !c.done {
			unpaired++
		}
	}
	slices.Sort(pdd)
	return pdd, unpaired
}

// ---- the capture -------------------------------------------------------------

// wireCapture records the SIP messages on the loopback interface while it
// runs.
type wireCapture struct {
	fd     int
	stopAt atomic.Int64 // UnixNano of Stop; 0 while running
	done   chan struct{}

	mu   sync.Mutex
	msgs []sipMsg
	err  error
}

// wireStats is what the kernel counted for the capture socket.
type wireStats struct {
	Packets, Drops uint32
}

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// sipFilter is a classic BPF program for a SOCK_DGRAM packet socket (the
// packet starts at the IP header): accept unfragmented IPv4 UDP datagrams
// whose source or destination port is port, drop everything else (RTP,
// ARI's HTTP, FastAGI) in the kernel.
func sipFilter(port uint16) []syscall.SockFilter {
	const (
		ldb  = syscall.BPF_LD | syscall.BPF_B | syscall.BPF_ABS
		ldh  = syscall.BPF_LD | syscall.BPF_H | syscall.BPF_ABS
		ldhX = syscall.BPF_LD | syscall.BPF_H | syscall.BPF_IND
		msh  = syscall.BPF_LDX | syscall.BPF_B | syscall.BPF_MSH
		and  = syscall.BPF_ALU | syscall.BPF_AND | syscall.BPF_K
		jeq  = syscall.BPF_JMP | syscall.BPF_JEQ | syscall.BPF_K
		jset = syscall.BPF_JMP | syscall.BPF_JSET | syscall.BPF_K
		ret  = syscall.BPF_RET | syscall.BPF_K
	)
	return []syscall.SockFilter{
		/* 0 */ *syscall.LsfStmt(ldb, 0),
		/* 1 */ *syscall.LsfStmt(and, 0xf0),
		/* 2 */ *syscall.LsfJump(jeq, 0x40, 0, 10), // not IPv4: 13
		/* 3 */ *syscall.LsfStmt(ldb, 9),
		/* 4 */ *syscall.LsfJump(jeq, syscall.IPPROTO_UDP, 0, 8), // not UDP: 13
		/* 5 */ *syscall.LsfStmt(ldh, 6),
		/* 6 */ *syscall.LsfJump(jset, 0x3fff, 6, 0), // a fragment: 13
		/* 7 */ *syscall.LsfStmt(msh, 0), // X = IP header length
		/* 8 */ *syscall.LsfStmt(ldhX, 0), // source port
		/* 9 */ *syscall.LsfJump(jeq, int(port), 2, 0), // 12
		/* 10 */ *syscall.LsfStmt(ldhX, 2), // destination port
		/* 11 */ *syscall.LsfJump(jeq, int(port), 0, 1), // 12, else 13
		/* 12 */ *syscall.LsfStmt(ret, 0xffff),
		/* 13 */ *syscall.LsfStmt(ret, 0),
	}
}

// startWireCapture opens the packet socket on the loopback interface,
// filtered to SIP on port, and records until Stop. Needs root (or
// CAP_NET_RAW).
func startWireCapture(port uint16) (*wireCapture, error) {
	lo, err := loopbackIndex()
	if err != nil {
		return nil, err
	}
	// Protocol 0: no packet reaches the socket before the filter is
	// attached and it is bound to the loopback interface.
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("wire capture: packet socket: %w", err)
	}
	fail := func(what string, err error) (*wireCapture, error) {
		syscall.Close(fd)
		return nil, fmt.Errorf("wire capture: %s: %w", what, err)
	}
	if err := syscall.AttachLsf(fd, sipFilter(port)); err != nil {
		return fail("attach filter", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1); err != nil {
		return fail("SO_TIMESTAMPNS", err)
	}
	// A large queue: the capture must not lose packets while the machine
	// is busy with the load (drops are counted and reported).
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 32<<20); err != nil {
		return fail("SO_RCVBUFFORCE", err)
	}
	tv := syscall.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return fail("SO_RCVTIMEO", err)
	}
	// ETH_P_IP, not ETH_P_ALL: the socket sees each loopback packet once,
	// as it is received, not also as it is sent.
	if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_IP), Ifindex: lo}); err != nil {
		return fail("bind to the loopback interface", err)
	}
	c := &wireCapture{fd: fd, done: make(chan struct{})}
	go c.read()
	return c, nil
}

func loopbackIndex() (int, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return 0, fmt.Errorf("wire capture: %w", err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			return i.Index, nil
		}
	}
	return 0, errors.New("wire capture: no loopback interface")
}

func (c *wireCapture) read() {
	defer close(c.done)
	buf := make([]byte, 65536)
	oob := make([]byte, syscall.CmsgSpace(16))
	for {
		n, oobn, _, _, err := syscall.Recvmsg(c.fd, buf, oob, 0)
		switch {
		case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK):
			// The queue is empty: after Stop, everything is read.
			if c.stopAt.Load() != 0 {
				return
			}
			continue
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			c.mu.Lock()
			c.err = fmt.Errorf("wire capture: recvmsg: %w", err)
			c.mu.Unlock()
			return
		}
		if t := c.stopAt.Load(); t != 0 && time.Since(time.Unix(0, t)) > 2*time.Second {
			return // traffic that does not stop: what came after Stop is not needed
		}
		at, ok := rxTime(oob[:oobn])
		if !ok {
			c.mu.Lock()
			c.err = errors.New("wire capture: a packet without its kernel timestamp")
			c.mu.Unlock()
			return
		}
		src, dst, payload, ok := parseIPv4UDP(buf[:n])
		if !ok {
			continue
		}
		m, ok := parseSIP(payload)
		if !ok || m.CSeq != "INVITE" || m.Method != "" && m.Method != "INVITE" {
			continue
		}
		m.At, m.Src, m.Dst = at, src, dst
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
	}
}

// rxTime reads the SCM_TIMESTAMPNS control message.
func rxTime(oob []byte) (time.Time, bool) {
	cms, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, cm := range cms {
		if cm.Header.Level == syscall.SOL_SOCKET && cm.Header.Type == syscall.SCM_TIMESTAMPNS && len(cm.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(cm.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(cm.Data[8:16]))
			return time.Unix(sec, nsec), true
		}
	}
	return time.Time{}, false
}

// Stop reads what is still queued, closes the socket and returns the
// messages and the kernel's packet and drop counts.
func (c *wireCapture) Stop() ([]sipMsg, wireStats, error) {
	c.stopAt.Store(time.Now().UnixNano())
	<-c.done
	var st wireStats
	var raw [8]byte // struct tpacket_stats { unsigned int tp_packets, tp_drops; }
	l := uint32(len(raw))
	const solPacket, packetStatistics = 263, 6
	if _, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, uintptr(c.fd), solPacket, packetStatistics,
		uintptr(unsafe.Pointer(&raw[0])), uintptr(unsafe.Pointer(&l)), 0); e == 0 {
		st.Packets = binary.NativeEndian.Uint32(raw[0:4])
		st.Drops = binary.NativeEndian.Uint32(raw[4:8])
	}
	syscall.Close(c.fd)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs, st, c.err
}

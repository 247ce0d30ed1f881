package harness

import (
	"encoding/binary"
	"fmt"
	"os"
)

// shiftRTP copies a pcap of RTP packets (as shipped in PcapDir) to dst,
// adding seqDelta to every RTP sequence number and tsDelta to every RTP
// timestamp. Replaying the same dtmf_2833_N.pcap twice in one call sends
// two identical events, and Asterisk drops the second as a retransmission;
// shifting each replay makes it a new event. sipp recomputes the UDP
// checksum when it loads the file.
func shiftRTP(src, dst string, seqDelta uint16, tsDelta uint32) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	if len(b) < 24 {
		return fmt.Errorf("harness: %s: not a pcap file", src)
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return fmt.Errorf("harness: %s: not a pcap file", src)
	}
	var l2 int
	switch bo.Uint32(b[20:]) {
	case 1: // Ethernet
		l2 = 14
	case 113: // Linux cooked capture
		l2 = 16
	case 101: // raw IP
		l2 = 0
	default:
		return fmt.Errorf("harness: %s: unsupported link type %d", src, bo.Uint32(b[20:]))
	}
	for off := 24; off+16 <= len(b); {
		incl := int(bo.Uint32(b[off+8:]))
		pkt := b[off+16 : min(off+16+incl, len(b))]
		off += 16 + incl
		if len(pkt) < l2+20 || pkt[l2]>>4 != 4 {
			continue // not IPv4
		}
		ihl := int(pkt[l2]&0x0f) * 4
		udp := l2 + ihl
		rtp := udp + 8
		if pkt[l2+9] != 17 || len(pkt) < rtp+12 {
			continue // not UDP, or too short for RTP
		}
		binary.BigEndian.PutUint16(pkt[udp+6:], 0) // UDP checksum: none
		binary.BigEndian.PutUint16(pkt[rtp+2:], binary.BigEndian.Uint16(pkt[rtp+2:])+seqDelta)
		binary.BigEndian.PutUint32(pkt[rtp+4:], binary.BigEndian.Uint32(pkt[rtp+4:])+tsDelta)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	return nil
}

// Package harness runs a real Asterisk 22 and real SIP calls for callscreen's
// integration tests. It has no dependencies beyond the standard library and
// uses loopback addresses (127.0.0.0/8) only.
//
// # Pieces
//
//   - [StartAsterisk] runs integration/asterisk/install.sh (idempotent: it
//     builds a Debian sid chroot with Asterisk once and reuses it), writes
//     asterisk-conf/ into the chroot's /etc/asterisk with the test overlay
//     below, mounts /proc and /dev into the chroot and starts Asterisk in the
//     foreground. It returns once ARI answers and Asterisk is fully booted.
//     Only one Asterisk can run per chroot: StartAsterisk takes an exclusive
//     file lock (Root + ".lock") that [Asterisk.Stop] releases, so test
//     binaries of several packages run one after another, not on top of each
//     other. A stale Asterisk left by a killed test run is killed first.
//   - A second Asterisk runs beside the first from the same chroot with
//     [AsteriskOptions.Instance] set (say "b"): its own configuration
//     (/etc/asterisk-b, asterisk -C), run, spool, log, cache and database
//     directories, its own lock (Root + "-b.lock"), SIP and ARI/HTTP on
//     [SecondAsteriskAddr] (127.0.0.2:5060 and :8088), RTP ports
//     20002-29998, and desk100 at [SecondDeskPhoneAddr] (127.0.0.11). Start
//     the default instance first; /proc and /dev stay mounted until the
//     last instance stops. Calls reach it with [CallSpec.Target] set to its
//     [Asterisk.SIPAddr]; its desk phone is StartDeskPhone with
//     DeskPhoneOptions.Addr set to its [Asterisk.DeskPhoneAddr].
//   - [StartDeskPhone] runs sipp as the desk phone PJSIP/desk100 at
//     127.0.0.10:5060 and records which calls reached it.
//   - [PlaceCall] places one call with sipp from a loopback source address:
//     127.0.0.2 is the provider (SIP trunk), 127.0.0.3 the optional public
//     endpoint ("a stranger on the internet"), any other address (127.0.0.4)
//     matches no endpoint and is refused by PJSIP.
//
// # Test overlay
//
// The sample configuration in asterisk-conf/ is used as-is except for these
// substitutions (each must match exactly once, so the sample and the
// harness cannot drift apart silently):
//
//	pjsip.conf       bind=0.0.0.0:5060                  -> bind=<Addr>:5060 (127.0.0.1)
//	                 contact=sip:203.0.113.10:5060      -> contact=sip:127.0.0.2:5060
//	                 qualify_frequency=60               -> qualify_frequency=0
//	                 match=203.0.113.10                 -> match=127.0.0.2
//	                 ;contact=sip:desk100@192.0.2.100:5060 -> contact=sip:desk@<DeskPhoneAddr>:5060 (127.0.0.10)
//	                 the ";;; BEGIN/END public endpoint" block is uncommented and
//	                 match=198.51.100.0/24              -> match=127.0.0.3
//	ari.conf         password=change-me                 -> password=<AsteriskOptions.ARIPassword>
//	logger.conf      ;full.log => ...                   -> full.log => ... (verbose(3), dtmf)
//	http.conf        bindaddr=127.0.0.1                 -> bindaddr=<Addr>
//	                 bindport=8088                      -> bindport=8088
//	extensions.conf  CALLSCREEN_AGI_KEY=                -> CALLSCREEN_AGI_KEY=<AGIKey>
//	                 agi://127.0.0.1:4573/ (every one)   -> agi://<AGIAddr>/ (when AGIAddr is set)
//	                 appended: the test DIDs below in [from-provider]
//
// and for a named instance also:
//
//	rtp.conf         rtpstart=10000, rtpend=20000       -> 20002, 29998
//	asterisk.conf    (Debian's) astetcdir, astrundir, astspooldir, astlogdir,
//	                 astdbdir, astcachedir              -> the instance's directories
//	manager.conf     (Debian's) bindaddr                -> <Addr>
//
// then [AsteriskOptions.Append] and [AsteriskOptions.Extra] are applied.
//
// # Test DIDs
//
// Calls from the provider (127.0.0.2) to these numbers skip callscreen and
// enter one context directly; every other number goes through
// [callscreen-inbound] (Stasis) as in the sample:
//
//	DIDBaseline  0399990000 -> callscreen-baseline (no screening)
//	DIDVoicemail 0399990001 -> callscreen-voicemail
//	DIDAGI       0399990002 -> callscreen-agi (FastAGI at 127.0.0.1:4573)
//	DIDRing      0399990003 -> callscreen-ring
//	DIDReject    0399990004 -> callscreen-reject
//
// # Environment
//
//	CALLSCREEN_ASTERISK_ROOT  chroot (default /var/cache/callscreen/asterisk-sid)
//	CALLSCREEN_REPO           repository root (default: found from this file)
//
// Everything needs root (chroot, mount) and the host packages debootstrap
// and sip-tester, which install.sh installs when missing.
package harness

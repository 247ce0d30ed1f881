package dialplan

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/callscreen/callscreen/screening"
)

// The variables and functions Gather reads. Asterisk 22 answers a missing
// PJSIP header with an error (HTTP 500 over ARI) and an unset variable
// with 404; VarReader implementations report both as absent.
const (
	readNumber    = "CALLERID(num)"
	readName      = "CALLERID(name)"
	readPres      = "CALLERID(pres)"
	readFrom      = "PJSIP_HEADER(read,From)"
	readPAI       = "PJSIP_HEADER(read,P-Asserted-Identity)"
	readPrivacy   = "PJSIP_HEADER(read,Privacy)"
	readRPID      = "PJSIP_HEADER(read,Remote-Party-ID)"
	readUserAgent = "PJSIP_HEADER(read,User-Agent)"
	readIdentity  = "PJSIP_HEADER(read,Identity)"
	readSource    = "CHANNEL(pjsip,remote_addr)"
	readEndpoint  = "CHANNEL(endpoint)"
	readStirCount = "STIR_SHAKEN(count)"
)

// maxStir bounds the STIR/SHAKEN results read (one per Identity header).
const maxStir = 4

// maxFact bounds one fact's length: SIP headers can be long, but a
// multi-kilobyte display name is only an attack on whatever logs it.
const maxFact = 2048

// GatherOptions tunes Gather.
type GatherOptions struct {
	// Timeout bounds the whole gather; what was not read by then stays
	// empty. [500ms]
	Timeout time.Duration
	// Concurrency bounds the reads in flight. [6]
	Concurrency int
}

// Gather reads what the channel presented into a copy of base and returns
// it. The front end fills base with what it already knows (ID, Time,
// Called, and caller number and name when its start event carried them);
// Gather reads every other fact concurrently, at most
// o.Concurrency at a time, and STIR_SHAKEN results only when
// STIR_SHAKEN(count) is positive. Absent values stay empty. Gather
// always returns the facts it read within o.Timeout; err joins the real
// failures (and wraps ErrHangup when the caller is gone) for the caller
// to log once.
func Gather(ctx context.Context, r VarReader, base screening.Facts, o GatherOptions) (screening.Facts, error) {
	if o.Timeout <= 0 {
		o.Timeout = 500 * time.Millisecond
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 6
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	f := base
	g := &gatherer{r: r, sem: make(chan struct{}, o.Concurrency)}
	var stirCount string
	var reads []readReq
	for _, rd := range []readReq{
		{readNumber, &f.Number},
		{readName, &f.Name},
		{readPres, &f.Presentation},
		{readFrom, &f.From},
		{readPAI, &f.PAI},
		{readPrivacy, &f.Privacy},
		{readRPID, &f.RPID},
		{readUserAgent, &f.UserAgent},
		{readIdentity, &f.Identity},
		{readSource, &f.Source},
		{readEndpoint, &f.Trunk},
		{readStirCount, &stirCount},
	} {
		if *rd.dst == "" {
			reads = append(reads, rd)
		}
	}
	g.read(ctx, reads)

	if n, err := strconv.Atoi(stirCount); err == nil && n > 0 && ctx.Err() == nil {
		n = min(n, maxStir)
		stir := make([]screening.StirResult, n)
		reads = reads[:0]
		for i := range stir {
			reads = append(reads,
				readReq{fmt.Sprintf("STIR_SHAKEN(%d,attestation)", i), &stir[i].Attestation},
				readReq{fmt.Sprintf("STIR_SHAKEN(%d,verify_result)", i), &stir[i].VerifyResult})
		}
		g.read(ctx, reads)
		f.Stir = stir
	}
	return f, errors.Join(g.errs...)
}

// BatchReader is a VarReader that can read several values in one round
// trip to Asterisk. values[i] and ok[i] answer names[i] as Get would. An
// error means the batch as a whole could not be read (Gather then reads
// the values one by one), or wraps ErrHangup.
type BatchReader interface {
	VarReader
	GetBatch(ctx context.Context, names []string) (values []string, ok []bool, err error)
}

// read reads reads: in one batch when the reader can, else (or when the
// batch fails for another reason than a hangup) one by one with run.
func (g *gatherer) read(ctx context.Context, reads []readReq) {
	if br, isBatch := g.r.(BatchReader); isBatch && len(reads) > 1 {
		names := make([]string, len(reads))
		for i, rd := range reads {
			names[i] = rd.name
		}
		values, ok, err := br.GetBatch(ctx, names)
		if err == nil && len(values) == len(reads) && len(ok) == len(reads) {
			for i, rd := range reads {
				if ok[i] {
					*rd.dst = truncate(values[i], maxFact)
				}
			}
			return
		}
		if err != nil && (errors.Is(err, ErrHangup) || ctx.Err() != nil) {
			g.errs = append(g.errs, fmt.Errorf("batch read: %w", err))
			return
		}
	}
	g.run(ctx, reads)
}

// batchExpr is the dialplan expression that reads names in one
// substitution: each value is prefixed with "x" (BASE64_ENCODE warns on
// empty input) and base64-encoded, and the results are joined with ",",
// which base64 never contains. Asterisk substitutes once: a value the
// caller sent (a header holding "${...}") is encoded as text, never
// evaluated.
func batchExpr(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("${BASE64_ENCODE(x${")
		b.WriteString(n)
		b.WriteString("})}")
	}
	return b.String()
}

// parseBatch decodes what batchExpr's substitution returned, for n names.
// A value that is empty (an unset variable, a missing header) is absent.
func parseBatch(s string, n int) (values []string, ok []bool, err error) {
	parts := strings.Split(s, ",")
	if len(parts) != n {
		return nil, nil, fmt.Errorf("batch read: %d values for %d names", len(parts), n)
	}
	values, ok = make([]string, n), make([]bool, n)
	for i, p := range parts {
		d, err := base64.StdEncoding.DecodeString(p)
		if err != nil || len(d) == 0 || d[0] != 'x' {
			return nil, nil, fmt.Errorf("batch read: value %d is not what was asked for", i)
		}
		values[i], ok[i] = string(d[1:]), len(d) > 1
	}
	return values, ok, nil
}

// readReq is one value to read and where to store it.
type readReq struct {
	name string
	dst  *string
}

// gatherer runs bounded concurrent reads.
type gatherer struct {
	r    VarReader
	sem  chan struct{}
	errs []error
}

// run reads every request concurrently, at most cap(g.sem) at a time, and
// stores the values as they arrive. It returns when all reads are done or
// ctx is done, whichever is first; reads still running then are
// abandoned and their results dropped, so that a reader that ignores its
// context cannot hold the call. Only run writes through the dst pointers.
func (g *gatherer) run(ctx context.Context, reads []readReq) {
	type result struct {
		i   int
		v   string
		ok  bool
		err error
	}
	results := make(chan result, len(reads))
	for i, rd := range reads {
		go func() {
			select {
			case g.sem <- struct{}{}:
			case <-ctx.Done():
				results <- result{i: i, err: ctx.Err()}
				return
			}
			defer func() { <-g.sem }()
			v, ok, err := g.r.Get(ctx, rd.name)
			results <- result{i, v, ok, err}
		}()
	}
	done := make([]bool, len(reads))
	for range reads {
		select {
		case r := <-results:
			done[r.i] = true
			switch {
			case r.err != nil:
				g.errs = append(g.errs, fmt.Errorf("%s: %w", reads[r.i].name, r.err))
			case r.ok:
				*reads[r.i].dst = truncate(r.v, maxFact)
			}
		case <-ctx.Done():
			for i, d := range done {
				if !d {
					g.errs = append(g.errs, fmt.Errorf("%s: not read: %w", reads[i].name, ctx.Err()))
				}
			}
			return
		}
	}
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

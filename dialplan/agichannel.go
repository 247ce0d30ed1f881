package dialplan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/CyCoreSystems/agi"
)

// AGI protocol limits.
const (
	// maxAGILine bounds one line from Asterisk; longer lines are cut (a
	// variable's value is cut further by Gather).
	maxAGILine = 16 << 10
	// maxAGIEnv bounds the AGI environment (Asterisk sends about 2 KB).
	maxAGIEnv = 64 << 10
)

// agiWriteTimeout bounds writing one command to Asterisk, whatever the
// command's context: see exec.
const agiWriteTimeout = 5 * time.Second

// dtmfKeys are the keys that interrupt a prompt or a recording.
const dtmfKeys = "0123456789*#"

var (
	// errAGIEnvTooLarge: the peer sent more than an AGI environment.
	errAGIEnvTooLarge = errors.New("AGI environment too large")
	// errAGIResponse: Asterisk answered a command with something other
	// than success (510 unknown command, 520 usage, an unparsable line).
	errAGIResponse = errors.New("unexpected AGI response")
)

// agiChannel is one FastAGI session. It implements Channel and VarReader
// with github.com/CyCoreSystems/agi's Command, working around v0.6.4:
// results are parsed here (the library's digit helpers return the wrong
// digit), arguments are quoted here (the library does not quote), and
// every command runs under the caller's context through connection
// deadlines (the library has none).
//
// AGI cannot move or hang up the call: Continue and Hangup leave their
// target in channel variables (VarContext, VarHangupCause) for the
// dialplan to act on after AGI() returns.
type agiChannel struct {
	conn net.Conn
	lr   *agiLineReader
	w    *errWriter
	a    *agi.AGI
	// sem lets one command at a time on the session (Gather reads
	// concurrently).
	sem chan struct{}
	// broken is set when the connection can carry no more commands.
	broken error
	// did is the extension the call arrived on: the target of Continue
	// when a Target keeps the DID.
	did          string
	recordingDir string
	// arrays is the server's record of ARRAY() support; nil sets every
	// variable with its own command.
	arrays *arrayWrites
	// actionSet records that VarAction was set, so that the session can
	// make sure every call leaves with one.
	actionSet atomic.Bool
}

var (
	_ Channel     = (*agiChannel)(nil)
	_ VarReader   = (*agiChannel)(nil)
	_ BatchReader = (*agiChannel)(nil)
)

// openAGI reads the AGI environment from conn, allowing readTimeout for
// it, and returns the session and the environment. It fails for a peer
// that does not complete an environment in time (a port scanner, a health
// check) or sends more than one.
func openAGI(conn net.Conn, readTimeout time.Duration, recordingDir string) (*agiChannel, map[string]string, error) {
	lr := &agiLineReader{br: bufio.NewReader(conn), env: true, budget: maxAGIEnv}
	w := &errWriter{w: conn}
	if err := conn.SetReadDeadline(time.Now().Add(readTimeout)); err != nil {
		return nil, nil, fmt.Errorf("set deadline: %w", err)
	}
	// agi.New reads the environment through lr, which hands it one line
	// per Read: the library's scanner cannot read past the blank line
	// that ends the environment.
	a := agi.New(lr, w)
	if lr.err != nil {
		return nil, nil, fmt.Errorf("read AGI environment (%d bytes received): %w", maxAGIEnv-lr.budget, lr.err)
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return nil, nil, fmt.Errorf("clear deadline: %w", err)
	}
	lr.env = false
	c := &agiChannel{
		conn:         conn,
		lr:           lr,
		w:            w,
		a:            a,
		sem:          make(chan struct{}, 1),
		recordingDir: recordingDir,
	}
	return c, a.Variables, nil
}

// quoteAGI returns s as one AGI command argument, the way Asterisk's
// parse_args reads it: in double quotes, with " and \ escaped by a
// backslash. Control characters (a line feed would end the command and
// start another) are dropped.
func quoteAGI(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// exec sends one command (verb followed by args, already quoted where
// needed) and returns Asterisk's answer. It waits for its turn and for
// the answer under ctx. An answer that did not come in time is skipped
// when it arrives, so the session stays in step. A 511 answer (command
// not permitted on a dead channel) and a closed session wrap ErrHangup;
// other unsuccessful answers wrap errAGIResponse.
func (c *agiChannel) exec(ctx context.Context, verb string, args ...string) (*agi.Response, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", verb, ctx.Err())
	}
	defer func() { <-c.sem }()
	if c.broken != nil {
		return nil, fmt.Errorf("%s: %w", verb, c.broken)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", verb, err)
	}

	// The read waits for Asterisk under ctx's deadline, and ctx's end
	// interrupts it. The write has a deadline of its own (a command line
	// fits in the socket buffer: it goes out at once unless Asterisk has
	// stopped reading). Were it ctx's, a command whose turn comes just
	// before a short deadline (Gather's 500 ms) on a busy machine would
	// reach write(2) after it and send nothing.
	dl, _ := ctx.Deadline()
	if err := c.conn.SetReadDeadline(dl); err != nil {
		return nil, fmt.Errorf("%s: set deadline: %w", verb, err)
	}
	if err := c.conn.SetWriteDeadline(time.Now().Add(agiWriteTimeout)); err != nil {
		return nil, fmt.Errorf("%s: set deadline: %w", verb, err)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = c.conn.SetReadDeadline(time.Unix(1, 0)) // interrupt the read now
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired // do not let a late interrupt hit the next command
		}
	}()

	// AGI is one command, one answer. Asterisk reads the session through
	// a stdio buffer but waits for the socket itself (res_agi's run_agi):
	// a command sent before the answer to the one before it may be read
	// into that buffer with it and wait there unseen, and the session
	// hangs. So a command waits for the answers still owed to commands
	// that timed out before it goes out.
	if err := c.lr.drain(); err != nil {
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("%s: not sent, an earlier command is not answered yet: %w", verb, err)
			}
			return nil, fmt.Errorf("%s: not sent, an earlier command is not answered yet: %w", verb, context.DeadlineExceeded)
		case errors.Is(err, io.EOF) || c.lr.hungup.Load():
			c.broken = fmt.Errorf("Asterisk closed the AGI session: %w", ErrHangup)
		default:
			c.broken = fmt.Errorf("AGI connection: read: %w", err)
		}
		return nil, fmt.Errorf("%s: %w", verb, c.broken)
	}

	c.lr.err, c.w.err, c.w.n = nil, nil, 0
	line := strings.Join(append([]string{verb}, args...), " ")
	resp := c.a.Command(line)
	switch {
	case c.w.err != nil && c.w.n == 0:
		// Nothing went out: the session is still in step.
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: not sent: %w", verb, err)
		}
		return nil, fmt.Errorf("%s: not sent: %w", verb, c.w.err)
	case c.w.err != nil:
		// A command went out in part: nothing after it can be trusted.
		c.broken = fmt.Errorf("AGI connection: write: %w", c.w.err)
		return nil, fmt.Errorf("%s: %w", verb, c.broken)
	case c.lr.err != nil && errors.Is(c.lr.err, os.ErrDeadlineExceeded):
		c.lr.skip++ // Asterisk still owes the answer
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", verb, err)
		}
		// The connection's deadline can pass just before ctx's own timer.
		return nil, fmt.Errorf("%s: %w", verb, context.DeadlineExceeded)
	case c.lr.err != nil:
		if errors.Is(c.lr.err, io.EOF) || c.lr.hungup.Load() {
			// Asterisk ends a FastAGI session only when the channel is gone.
			c.broken = fmt.Errorf("Asterisk closed the AGI session: %w", ErrHangup)
		} else {
			c.broken = fmt.Errorf("AGI connection: read: %w", c.lr.err)
		}
		return nil, fmt.Errorf("%s: %w", verb, c.broken)
	case strings.HasPrefix(c.lr.last, "511"):
		return nil, fmt.Errorf("%s: %w (%s)", verb, ErrHangup, c.lr.last)
	case resp.Error != nil:
		return nil, fmt.Errorf("%s: %w: %q", verb, errAGIResponse, c.lr.last)
	}
	return resp, nil
}

// failed explains a command that answered result=-1, which Asterisk uses
// both for a hangup and for a failure (a missing sound file): it is a
// hangup when Asterisk said HANGUP or refuses CHANNEL STATUS (not
// permitted on a dead channel).
func (c *agiChannel) failed(ctx context.Context, what string) error {
	if !c.lr.hungup.Load() {
		_, err := c.exec(ctx, "CHANNEL STATUS")
		if !errors.Is(err, ErrHangup) && !c.lr.hungup.Load() {
			return fmt.Errorf("%s failed: result -1 on a live channel", what)
		}
	}
	return fmt.Errorf("%s: %w", what, ErrHangup)
}

// Answer implements Channel.
func (c *agiChannel) Answer(ctx context.Context) error {
	resp, err := c.exec(ctx, "ANSWER")
	if err != nil {
		return err
	}
	if resp.Result != 0 {
		return c.failed(ctx, "answer")
	}
	return nil
}

// Play implements Channel: STREAM FILE for each sound, not interruptible.
func (c *agiChannel) Play(ctx context.Context, sounds ...string) error {
	for _, s := range sounds {
		resp, err := c.exec(ctx, "STREAM FILE", quoteAGI(s), `""`)
		if err != nil {
			return err
		}
		if resp.Result < 0 {
			return c.failed(ctx, "stream file "+s)
		}
	}
	return nil
}

// PlayAndRead implements Channel: STREAM FILE for each sound, interrupted
// by any key, then WAIT FOR DIGIT for timeout. Both answer the key as its
// character code in result (0 for none).
func (c *agiChannel) PlayAndRead(ctx context.Context, sounds []string, timeout time.Duration) (string, error) {
	for _, s := range sounds {
		resp, err := c.exec(ctx, "STREAM FILE", quoteAGI(s), quoteAGI(dtmfKeys))
		if err != nil {
			return "", err
		}
		switch {
		case resp.Result < 0:
			return "", c.failed(ctx, "stream file "+s)
		case resp.Result > 0:
			return dtmfDigit(resp.Result)
		}
	}
	if timeout <= 0 {
		return "", nil
	}
	ms := max(timeout.Milliseconds(), 1)
	resp, err := c.exec(ctx, "WAIT FOR DIGIT", strconv.FormatInt(ms, 10))
	if err != nil {
		return "", err
	}
	switch {
	case resp.Result < 0:
		return "", c.failed(ctx, "wait for digit")
	case resp.Result == 0:
		return "", nil
	}
	return dtmfDigit(resp.Result)
}

// dtmfDigit turns a result code into the key it names.
func dtmfDigit(code int) (string, error) {
	if code < 0x80 && strings.ContainsRune(dtmfKeys+"ABCD", rune(code)) {
		return string(rune(code)), nil
	}
	return "", fmt.Errorf("%w: result=%d is not a DTMF key", errAGIResponse, code)
}

// SetVars implements Channel: SET VARIABLE for each, in name order.
func (c *agiChannel) SetVars(ctx context.Context, vars map[string]string) error {
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	// The order does not matter here: those ARRAY() can take first, in
	// name order, so that they make one run.
	slices.SortFunc(names, func(a, b string) int {
		sa, sb := arraySafe(a, vars[a]), arraySafe(b, vars[b])
		if sa != sb {
			if sa {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	pairs := make([][2]string, len(names))
	for i, k := range names {
		pairs[i] = [2]string{k, vars[k]}
	}
	return c.set(ctx, pairs...)
}

// set sets the variables in the order given. Runs of two or more whose
// values ARRAY() takes literally go in one SET VARIABLE of
// ARRAY(NAME1,NAME2,...): one round trip instead of one per variable. The
// order of the writes is kept, so a variable the dialplan treats as the
// last word (VarContext) is still written last.
func (c *agiChannel) set(ctx context.Context, pairs ...[2]string) error {
	for len(pairs) > 0 {
		n := 0
		if c.arrays != nil && !c.arrays.off.Load() {
			for n < len(pairs) && arraySafe(pairs[n][0], pairs[n][1]) {
				n++
			}
		}
		var err error
		if n >= 2 {
			err = c.setArray(ctx, pairs[:n])
		} else {
			n = 1
			_, err = c.exec(ctx, "SET VARIABLE", quoteAGI(pairs[0][0]), quoteAGI(pairs[0][1]))
			if err != nil {
				err = fmt.Errorf("%s: %w", pairs[0][0], err)
			}
		}
		if err != nil {
			return err
		}
		for _, kv := range pairs[:n] {
			if kv[0] == VarAction {
				c.actionSet.Store(true)
			}
		}
		pairs = pairs[n:]
	}
	return nil
}

// setArray sets pairs in one ARRAY() write. Asterisk answers a SET
// VARIABLE of a function it lacks with success and sets nothing, so the
// server's first ARRAY() write is read back; if it did not take, ARRAY()
// is off for the server and pairs are set one by one.
func (c *agiChannel) setArray(ctx context.Context, pairs [][2]string) error {
	names, vals := make([]string, len(pairs)), make([]string, len(pairs))
	for i, kv := range pairs {
		names[i], vals[i] = kv[0], kv[1]
	}
	if _, err := c.exec(ctx, "SET VARIABLE", quoteAGI("ARRAY("+strings.Join(names, ",")+")"), quoteAGI(strings.Join(vals, ","))); err != nil {
		return fmt.Errorf("%s: %w", names[0], err)
	}
	if c.arrays.verified.Load() {
		return nil
	}
	last := len(pairs) - 1
	got, _, err := c.Get(ctx, names[last])
	if err != nil {
		return fmt.Errorf("%s: %w", names[last], err)
	}
	if got == vals[last] {
		c.arrays.verified.Store(true)
		return nil
	}
	c.arrays.off.Store(true)
	for _, kv := range pairs {
		if _, err := c.exec(ctx, "SET VARIABLE", quoteAGI(kv[0]), quoteAGI(kv[1])); err != nil {
			return fmt.Errorf("%s: %w", kv[0], err)
		}
	}
	return nil
}

// Continue implements Channel: it sets VarExten, VarPriority and then
// VarContext for the dialplan's Goto, and clears VarHangupCause. SET
// VARIABLE works on a dead channel, so a caller who has hung up is
// reported as ErrHangup here, as ARI's continue would.
func (c *agiChannel) Continue(ctx context.Context, t Target) error {
	ext := t.Extension
	if ext == "" {
		ext = c.did
	}
	prio := max(t.Priority, 1)
	if err := c.set(ctx,
		[2]string{VarHangupCause, ""},
		[2]string{VarExten, ext},
		[2]string{VarPriority, strconv.Itoa(prio)},
		[2]string{VarContext, t.Context},
	); err != nil {
		return err
	}
	if c.lr.hungup.Load() {
		return fmt.Errorf("continue: %w", ErrHangup)
	}
	return nil
}

// Hangup implements Channel. AGI does not hang up itself: it clears
// VarContext and sets VarHangupCause to the cause's Q.850 code for the
// dialplan's Hangup().
func (c *agiChannel) Hangup(ctx context.Context, cause Cause) error {
	if err := c.set(ctx,
		[2]string{VarContext, ""},
		[2]string{VarHangupCause, strconv.Itoa(cause.Q850())},
	); err != nil {
		return err
	}
	if c.lr.hungup.Load() {
		return fmt.Errorf("hangup: %w", ErrHangup)
	}
	return nil
}

// RecordName implements Channel: a beep, then RECORD FILE of up to max
// (ended early by 2 s of silence or any key) into the recording directory
// as name.wav.
func (c *agiChannel) RecordName(ctx context.Context, name string, max time.Duration) (string, error) {
	file := path.Join(c.recordingDir, recordingName(name))
	max = maxDuration(max, time.Second)
	resp, err := c.exec(ctx, "RECORD FILE", quoteAGI(file), "wav", quoteAGI(dtmfKeys),
		strconv.FormatInt(max.Milliseconds(), 10), "0", "BEEP", "s=2")
	if err != nil {
		return "", err
	}
	if resp.Result < 0 {
		if strings.Contains(resp.Value, "hangup") {
			return "", fmt.Errorf("record %s: %w", file, ErrHangup)
		}
		return "", c.failed(ctx, "record "+file+" ("+resp.Value+")")
	}
	return file, nil
}

// Get implements VarReader with GET FULL VARIABLE ${name}, which works
// for dialplan functions too. Asterisk answers an unset variable and a
// function with nothing to return alike, with an empty value: both are
// absent. An unexpected answer is absent too; only a hangup, a broken
// connection or ctx end is an error.
func (c *agiChannel) Get(ctx context.Context, name string) (string, bool, error) {
	resp, err := c.exec(ctx, "GET FULL VARIABLE", quoteAGI("${"+name+"}"))
	switch {
	case errors.Is(err, errAGIResponse):
		return "", false, nil
	case err != nil:
		return "", false, err
	case resp.Result != 1 || resp.Value == "":
		return "", false, nil
	}
	return resp.Value, true, nil
}

// GetBatch implements BatchReader with one GET FULL VARIABLE of
// batchExpr instead of one command per value.
func (c *agiChannel) GetBatch(ctx context.Context, names []string) ([]string, []bool, error) {
	resp, err := c.exec(ctx, "GET FULL VARIABLE", quoteAGI(batchExpr(names)))
	if err != nil {
		return nil, nil, err
	}
	if resp.Result != 1 {
		return nil, nil, fmt.Errorf("%w: batch read: result=%d", errAGIResponse, resp.Result)
	}
	return parseBatch(resp.Value, len(names))
}

// agiLineReader reads Asterisk's side of a FastAGI session and hands it
// to the agi library one line per Read, so that the library's scanners
// (a new one per command) never swallow a line meant for the next
// command. Outside the environment it drops what is not the answer to
// the command in flight: the asynchronous HANGUP notice (remembered in
// hungup), answers to commands that timed out (skip), 520 usage text and
// stray lines. Lines longer than maxAGILine are cut.
type agiLineReader struct {
	br *bufio.Reader
	// env is set while the environment is read: lines pass unchanged,
	// within budget bytes.
	env    bool
	budget int

	partial []byte // a line read in part when a read failed
	cur     []byte // the rest of the line being handed out
	usage   bool   // inside a "520-" usage block
	// err is the error of the last failed Read; exec clears it.
	err error
	// skip counts answers still owed to commands that timed out.
	skip int
	// last is the last answer handed out.
	last   string
	hungup atomic.Bool
}

func (l *agiLineReader) Read(p []byte) (int, error) {
	if len(l.cur) == 0 {
		line, err := l.next()
		if err != nil {
			l.err = err
			return 0, err
		}
		l.cur = line
	}
	n := copy(p, l.cur)
	l.cur = l.cur[n:]
	return n, nil
}

// next returns the next line to hand out, with its line feed.
func (l *agiLineReader) next() ([]byte, error) {
	for {
		line, err := l.readLine()
		if err != nil {
			return nil, err
		}
		if l.env {
			return append(line, '\n'), nil
		}
		if !l.answer(string(line)) {
			continue
		}
		if l.skip > 0 {
			l.skip--
			continue
		}
		l.last = string(line)
		return append(line, '\n'), nil
	}
}

// answer reports whether line answers a command, noting a HANGUP notice
// and the lines of a 520 usage block on the way.
func (l *agiLineReader) answer(s string) bool {
	switch {
	case s == "HANGUP":
		l.hungup.Store(true)
		return false
	case strings.HasPrefix(s, "520-"):
		l.usage = true
		return false
	case l.usage && !strings.HasPrefix(s, "520 "):
		return false
	case !isAGIAnswer(s):
		return false
	}
	l.usage = false
	return true
}

// drain reads the answers still owed to commands that timed out (skip),
// under the connection's read deadline.
func (l *agiLineReader) drain() error {
	for l.skip > 0 {
		line, err := l.readLine()
		if err != nil {
			return err
		}
		if l.answer(string(line)) {
			l.skip--
		}
	}
	return nil
}

// readLine reads one line without its line ending, keeping a line read
// in part across a failed read (a deadline) so that it is not split.
func (l *agiLineReader) readLine() ([]byte, error) {
	for {
		frag, err := l.br.ReadSlice('\n')
		if l.env {
			l.budget -= len(frag)
			if l.budget < 0 {
				return nil, errAGIEnvTooLarge
			}
		}
		if room := maxAGILine - len(l.partial); room > 0 {
			l.partial = append(l.partial, frag[:min(len(frag), room)]...)
		}
		switch {
		case err == nil:
			line := bytes.Clone(bytes.TrimRight(l.partial, "\r\n"))
			l.partial = l.partial[:0]
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}

// isAGIAnswer reports whether s looks like an answer: three digits and a
// space.
func isAGIAnswer(s string) bool {
	return len(s) >= 4 && s[3] == ' ' &&
		s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'
}

// errWriter remembers the last write error, which the agi library does
// not return apart from a protocol error, and how many bytes went out
// (exec resets both before each command).
type errWriter struct {
	w   io.Writer
	err error
	n   int
}

func (w *errWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += n
	if err != nil {
		w.err = err
	}
	return n, err
}

package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// emailTimeout bounds one SMTP delivery.
const emailTimeout = 30 * time.Second

// email sends notifications over SMTP.
type email struct {
	cfg EmailConfig
	loc *time.Location
	now func() time.Time
}

// send makes one attempt. Network errors and 4xx replies are worth
// retrying; 5xx replies (refused recipient, failed authentication) are
// permanent.
func (e *email) send(ctx context.Context, m *message) error {
	err := e.deliver(ctx, m)
	var tp *textproto.Error
	if errors.As(err, &tp) && tp.Code >= 500 {
		return &permanentError{err}
	}
	return err
}

func (e *email) deliver(ctx context.Context, m *message) error {
	from, err := mail.ParseAddress(e.cfg.From)
	if err != nil {
		return &permanentError{fmt.Errorf("email: notify.email.from: %w", err)}
	}
	var to []*mail.Address
	for _, s := range e.cfg.To {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return &permanentError{fmt.Errorf("email: notify.email.to: %w", err)}
		}
		to = append(to, a)
	}
	msg := e.compose(m, from, to)

	host, port, err := net.SplitHostPort(e.cfg.SMTP)
	if err != nil {
		return &permanentError{fmt.Errorf("email: notify.email.smtp: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, emailTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.cfg.SMTP)
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if port == "465" {
		conn = tls.Client(conn, &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12})
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("email: %s: %w", e.cfg.SMTP, err)
	}
	defer c.Close()
	if err := c.Hello(localName()); err != nil {
		return fmt.Errorf("email: EHLO: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("email: STARTTLS: %w", err)
		}
	}
	if e.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return &permanentError{fmt.Errorf("email: %s offers no AUTH (after STARTTLS), but notify.email.username is set", e.cfg.SMTP)}
		}
		// PlainAuth refuses to send the password unencrypted except to
		// localhost.
		if err := c.Auth(smtp.PlainAuth("", e.cfg.Username, e.cfg.Password, host)); err != nil {
			return &permanentError{fmt.Errorf("email: AUTH as %s: %w", e.cfg.Username, err)}
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("email: MAIL FROM: %w", err)
	}
	for _, a := range to {
		if err := c.Rcpt(a.Address); err != nil {
			return fmt.Errorf("email: RCPT TO %s: %w", a.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("email: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("email: DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("email: DATA: %w", err)
	}
	return c.Quit()
}

func localName() string {
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

// compose builds the whole message: headers, then a quoted-printable
// UTF-8 text body. Every value that may come from a caller is cleaned of
// control characters, so a display name cannot add a header.
func (e *email) compose(m *message, from *mail.Address, to []*mail.Address) []byte {
	subject, body := e.text(m)
	var b bytes.Buffer
	var tos []string
	for _, a := range to {
		tos = append(tos, a.String())
	}
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from.String())
	header("To", strings.Join(tos, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", headerText(subject, 180)))
	header("Date", e.now().Format(time.RFC1123Z))
	header("Message-ID", "<"+m.payload.Delivery+"@callscreen>")
	header("MIME-Version", "1.0")
	header("Content-Type", `text/plain; charset="utf-8"`)
	header("Content-Transfer-Encoding", "quoted-printable")
	header("X-Callscreen-Event", m.payload.Event)
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n")))
	qp.Close()
	return b.Bytes()
}

// headerText makes s safe for a header: control characters (CR, LF, tab,
// ...) and line separators become spaces, and it is cut to max runes.
func headerText(s string, max int) string {
	s = strings.Join(strings.Fields(clean(s)), " ")
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max-1]) + "…"
	}
	return s
}

// clean replaces control, format and invalid characters in a
// caller-controlled value with spaces. Format characters (Unicode Cf)
// include the bidirectional overrides and isolates (U+202A..U+202E,
// U+2066..U+2069, U+200E, U+200F, U+061C), with which a caller ID could
// make a mail client show the text reversed ("+81..." as a different
// number, or a subject that hides its end), and invisible ones such as
// U+200B and U+FEFF.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// text returns the subject and body of m.
func (e *email) text(m *message) (subject, body string) {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-10s %s\n", k+":", headerText(v, 300))
		}
	}
	switch p := m.payload; {
	case p.Call != nil:
		c := p.Call
		what := map[string]string{EventReject: "rejected call", EventChallengeFailed: "failed challenge", EventScore: "suspicious call"}[p.Event]
		subject = fmt.Sprintf("callscreen: %s from %s", what, c.Caller)
		if c.CallerName != "" {
			subject += fmt.Sprintf(" (%s)", c.CallerName)
		}
		if len(c.Reasons) > 0 {
			subject += ": " + strings.Join(c.Reasons, ", ")
		}
		line("Caller", c.Caller)
		line("Name", c.CallerName)
		line("Called", c.Called)
		line("Time", c.Time.In(e.loc).Format("2006-01-02 15:04:05 MST"))
		line("Profile", c.Profile)
		line("Decision", fmt.Sprintf("%s (score %d)", c.Action, c.Score))
		line("Outcome", strings.TrimSpace(fmt.Sprintf("%s, %s %s", c.Taken, c.Outcome, c.Detail)))
		line("Reasons", strings.Join(c.Reasons, ", "))
		line("Why", c.Reason)
		for _, f := range c.Findings {
			line("  "+f.Indicator, fmt.Sprintf("+%d %s", f.Weight, f.Evidence))
		}
		if c.Monitor {
			line("Note", "monitor mode: the call rang anyway")
		}
		line("Call ID", c.CallID)
		fmt.Fprintf(&b, "\nShow the record: callscreen log --id %s\n", c.CallID)
	case p.Suppressed != nil:
		sp := p.Suppressed
		subject = fmt.Sprintf("callscreen: %d more notifications not sent (rate limit)", sp.Count)
		fmt.Fprintf(&b, "%d call notifications from %s to %s were not sent:\nnotify.rate_limit was reached. The call log has them all.\n\n",
			sp.Count, sp.Since.In(e.loc).Format("2006-01-02 15:04:05"), sp.Until.In(e.loc).Format("15:04:05 MST"))
		keys := make([]string, 0, len(sp.Events))
		for k := range sp.Events {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %-18s %6d\n", k, sp.Events[k])
		}
		b.WriteString("\nCallers with the most:\n")
		for _, c := range sp.Callers {
			fmt.Fprintf(&b, "  %-18s %6d\n", headerText(c.Name, 40), c.Calls)
		}
	case p.Digest != nil:
		d := p.Digest
		rejected := 0
		for _, r := range d.Rejected {
			rejected += r.Calls
		}
		subject = fmt.Sprintf("callscreen: daily digest %s (%d calls, %d rejected)", d.Until.In(e.loc).Format("2006-01-02"), d.Calls, rejected)
		fmt.Fprintf(&b, "Calls from %s to %s: %d\n", d.Since.In(e.loc).Format("2006-01-02 15:04"), d.Until.In(e.loc).Format("2006-01-02 15:04 MST"), d.Calls)
		counts := func(title string, m map[string]int) {
			fmt.Fprintf(&b, "\n%s\n", title)
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
			for _, k := range keys {
				fmt.Fprintf(&b, "  %-18s %6d\n", k, m[k])
			}
		}
		counts("By decision:", d.Actions)
		counts("By outcome:", d.Outcomes)
		b.WriteString("\nTop indicators:\n")
		for _, c := range d.TopIndicators {
			fmt.Fprintf(&b, "  %-18s %6d\n", c.Name, c.Calls)
		}
		b.WriteString("\nRejected numbers:\n")
		for _, c := range d.Rejected {
			fmt.Fprintf(&b, "  %-18s %6d\n", headerText(c.Name, 40), c.Calls)
		}
	}
	return subject, b.String()
}

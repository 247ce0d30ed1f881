package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Webhook request headers.
const (
	SignatureHeader = "X-Callscreen-Signature"
	EventHeader     = "X-Callscreen-Event"
	DeliveryHeader  = "X-Callscreen-Delivery"
)

// webhook posts notifications as JSON.
type webhook struct {
	cfg       WebhookConfig
	client    *http.Client
	userAgent string
}

// send makes one attempt. Network errors, 408, 429 and 5xx are worth
// retrying; any other answer outside 2xx is permanent.
func (w *webhook) send(ctx context.Context, m *message) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(m.body))
	if err != nil {
		return &permanentError{fmt.Errorf("webhook: %w", redactErr(err))}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.userAgent)
	req.Header.Set(EventHeader, m.payload.Event)
	req.Header.Set(DeliveryHeader, m.payload.Delivery)
	if w.cfg.Secret != "" {
		req.Header.Set(SignatureHeader, Sign([]byte(w.cfg.Secret), m.body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", redactErr(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("webhook: %s answered %s: %s", RedactURL(w.cfg.URL), resp.Status, strings.TrimSpace(string(snippet)))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		if ra := retryAfter(resp.Header.Get("Retry-After")); ra > 0 {
			return &retryAfterError{err: err, after: ra}
		}
		return err
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return &permanentError{fmt.Errorf("%w (redirect to %q: set notify.webhook.url to the final URL)", err, resp.Header.Get("Location"))}
	default:
		return &permanentError{err}
	}
}

// RedactURL returns u fit for a log: scheme and host only. A webhook URL
// often carries a bearer secret in its path or query (Slack, Teams,
// Discord) or in its user info.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "(webhook URL)"
	}
	r := p.Scheme + "://" + p.Host
	if p.Path != "" && p.Path != "/" || p.RawQuery != "" {
		r += "/…"
	}
	return r
}

// redactErr hides the URL in net/http's errors ("Post \"https://...\":
// dial tcp: ...").
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: RedactURL(ue.URL), Err: ue.Err}
	}
	return err
}

// retryAfter parses a Retry-After header in seconds (dates are ignored).
func retryAfter(v string) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || s <= 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

// Sign returns the X-Callscreen-Signature value for body: "sha256=" and
// the hex HMAC-SHA256 of the exact bytes of the body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether header is a valid signature of body under
// secret, comparing in constant time.
func Verify(secret, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
}

package harness

import (
	"context"
	"io"
	"net/http"
	"time"
)

// HTTPStatus GETs url (with HTTP Basic when user is set) and returns the
// status code, or 0 when there was no answer within two seconds: what the
// tests, the demo and the load test poll callscreen's and ARI's endpoints
// with.
func HTTPStatus(ctx context.Context, url, user, pass string) int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// HTTPGet returns the body of a plain GET of url, within ctx.
func HTTPGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

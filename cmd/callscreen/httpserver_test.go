package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// startHTTP serves h with limits l on a loopback port and returns its
// address.
func startHTTP(t *testing.T, h http.Handler, l httpLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := newHTTPServer(h, l)
	go hs.Serve(limitListener(ln, l.MaxConns))
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// closedByServer reports whether the server closes c within wait (generous:
// the limits under test are far shorter).
func closedByServer(t *testing.T, c net.Conn, wait time.Duration) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func TestHTTPDefaultLimits(t *testing.T) {
	l := defaultHTTPLimits(128)
	hs := newHTTPServer(http.NotFoundHandler(), l)
	if hs.ReadHeaderTimeout <= 0 || hs.ReadTimeout <= 0 || hs.WriteTimeout <= 0 || hs.IdleTimeout <= 0 {
		t.Errorf("serve's HTTP server has an unbounded timeout: header %v read %v write %v idle %v",
			hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
	if hs.ReadTimeout > time.Minute || hs.IdleTimeout > 2*time.Minute {
		t.Errorf("timeouts too long to matter: read %v idle %v", hs.ReadTimeout, hs.IdleTimeout)
	}
}

// TestHTTPSlowClients: a request whose headers or body never complete, and
// a keep-alive connection left idle, are closed by the server.
func TestHTTPSlowClients(t *testing.T) {
	readBody := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		io.WriteString(w, "ok\n")
	})
	addr := startHTTP(t, readBody, httpLimits{ReadHeader: 200 * time.Millisecond, Read: 300 * time.Millisecond,
		Write: 5 * time.Second, Idle: 300 * time.Millisecond, MaxConns: 16})
	tests := []struct {
		name string
		send string
		// reply: read one reply first (the keep-alive case).
		reply bool
	}{
		{"headers never complete", "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n", false},
		{"body never arrives", "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user", false},
		{"idle keep-alive", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.send); err != nil {
				t.Fatal(err)
			}
			if tt.reply {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.Close {
					t.Fatal("the server did not keep the connection alive; nothing to test")
				}
			}
			if !closedByServer(t, c, 20*time.Second) {
				t.Error("the connection was still open after 20 s")
			}
		})
	}
}

// TestHTTPConnectionCap: beyond MaxConns a connection waits for one to
// close before it is served.
func TestHTTPConnectionCap(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	addr := startHTTP(t, ok, httpLimits{ReadHeader: time.Minute, Read: time.Minute, Write: time.Minute, Idle: time.Minute, MaxConns: 2})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	get := func(c net.Conn, wait time.Duration) (string, error) {
		c.SetDeadline(time.Now().Add(wait))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return "", err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b)), err
	}
	first, second := dial(), dial()
	for _, c := range []net.Conn{first, second} {
		if got, err := get(c, 10*time.Second); err != nil || got != "ok" {
			t.Fatalf("a connection within the cap: %q, %v", got, err)
		}
	}
	third := dial()
	if got, err := get(third, 500*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a third connection over a cap of 2 was served: %q, %v", got, err)
	}
	first.Close()
	// The third's request is already sent: its reply comes once there is
	// room.
	third.SetDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil {
		t.Fatalf("the waiting connection was not served after one closed: %v", err)
	}
	resp.Body.Close()
}

package main

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// httpLimits bound what one HTTP client can hold: the listener shares the
// process's file descriptors with FastAGI, and a descriptor held by an
// idle or trickling client is one a call cannot have.
type httpLimits struct {
	// ReadHeader and Read bound reading a request's headers, and the
	// whole request (the import endpoint extends its own).
	ReadHeader, Read time.Duration
	// Write bounds writing a reply (the export endpoint extends its own).
	Write time.Duration
	// Idle closes a keep-alive connection without a request for this long.
	Idle time.Duration
	// MaxConns caps the connections open at once; more wait in the
	// kernel's backlog until one closes.
	MaxConns int
}

// defaultHTTPLimits are serve's.
func defaultHTTPLimits(maxConns int) httpLimits {
	return httpLimits{ReadHeader: 5 * time.Second, Read: 30 * time.Second, Write: 60 * time.Second, Idle: 60 * time.Second, MaxConns: maxConns}
}

// newHTTPServer returns a server for h with the limits l; serve it on
// limitListener(ln, l.MaxConns).
func newHTTPServer(h http.Handler, l httpLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeader,
		ReadTimeout:       l.Read,
		WriteTimeout:      l.Write,
		IdleTimeout:       l.Idle,
		MaxHeaderBytes:    64 << 10,
	}
}

// limitListener accepts at most n connections open at once: Accept waits
// for one to close first.
func limitListener(ln net.Listener, n int) net.Listener {
	return &limitedListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitedListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitedConn gives its place back once, when closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

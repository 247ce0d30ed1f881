package main

import (
	"net/http"
	"net/http/pprof"
)

// mountPprof adds Go's profiling endpoints under /debug/pprof/ (for
// example `go tool pprof http://127.0.0.1:8090/debug/pprof/profile?seconds=20`).
func mountPprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

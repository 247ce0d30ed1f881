package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callscreen/callscreen/internal/config"
	"github.com/callscreen/callscreen/internal/service"
	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// TestNewAdmin checks serve's wiring of the dashboard: the live lists, the
// configured country's normaliser and the ARI state.
func TestNewAdmin(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "callscreen.yaml")
	yaml := "database: " + filepath.Join(dir, "cs.db") + "\nhttp:\n  dashboard: true\n  password: wiring-s3cret\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := newScreener(t.Context(), cfg, screenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	logw, err := store.NewLogWriter(t.Context(), rt.store, store.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer logw.Close(t.Context())
	svc := service.New(rt.store, rt.lists, service.Options{Log: logw, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h, ariUp, err := newAdmin(cfg, rt, svc, logw, true, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}

	do := func(method, path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.SetBasicAuth("admin", "wiring-s3cret")
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	state := func() map[string]any {
		var s map[string]any
		if err := json.Unmarshal(do("GET", "/api/state", "").Body.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := state(); s["ari_connected"] != false || s["agi_listening"] != true || s["version"] != version {
		t.Errorf("state before connecting = %v", s)
	}
	ariUp(true)
	if s := state(); s["ari_connected"] != true {
		t.Errorf("state after connecting = %v", s)
	}

	// A national number is normalised with the default profile's country
	// (JP) and blocks at once.
	w := do("POST", "/api/lists/block", `{"number":"03-1234-5678"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("POST block = %d %s", w.Code, w.Body)
	}
	if _, ok := rt.lists.Lookup(screening.Block, "+81312345678", time.Now()); !ok {
		t.Error("the engine's lists do not hold the new entry")
	}
	if w := do("GET", "/api/lists/block", ""); !strings.Contains(w.Body.String(), `"+81312345678"`) {
		t.Errorf("GET block = %s", w.Body)
	}
}

package dialplan

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/CyCoreSystems/ari/v6/client/native"
)

// countingTransport counts the requests it carries.
type countingTransport struct {
	n atomic.Int32
	t http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.t.RoundTrip(r)
}

// TestARIOwnHTTPClient checks that the ARI client's requests go through
// callscreen's own HTTP client and that NewStasis leaves Go's default
// transport, which the rest of the process shares, as it was.
func TestARIOwnHTTPClient(t *testing.T) {
	def := http.DefaultTransport.(*http.Transport)
	before := [3]int{def.MaxIdleConns, def.MaxIdleConnsPerHost, def.MaxConnsPerHost}
	s := NewStasis(NewHandler(HandlerOptions{}), StasisOptions{})
	if after := [3]int{def.MaxIdleConns, def.MaxIdleConnsPerHost, def.MaxConnsPerHost}; after != before {
		t.Errorf("NewStasis changed http.DefaultTransport's limits from %v to %v", before, after)
	}
	if tr, ok := s.http.Transport.(*http.Transport); !ok || tr == def || tr.MaxConnsPerHost != ariConns {
		t.Errorf("ARI transport = %#v, want its own with at most %d connections", s.http.Transport, ariConns)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"system":{"entity_id":"x"}}`))
	}))
	defer srv.Close()
	cl := native.New(&native.Options{URL: srv.URL + "/ari", Username: "u", Password: "p", Application: "callscreen"})
	ct := &countingTransport{t: http.DefaultTransport}
	if err := useHTTPClient(cl, &http.Client{Transport: ct}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Asterisk().Info(nil); err != nil {
		t.Fatal(err)
	}
	if ct.n.Load() != 1 {
		t.Errorf("requests through the client set = %d, want 1", ct.n.Load())
	}
}

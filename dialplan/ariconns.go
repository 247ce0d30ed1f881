package dialplan

import (
	"net/http"
	"sync"
)

// ariConns is how many HTTP connections to Asterisk's ARI callscreen
// keeps open and uses at most. Asterisk serves at most http.conf's
// sessionlimit (100 by default) sessions, the event websocket included,
// and closes any connection beyond that at once.
const ariConns = 32

var tuneOnce sync.Once

// tuneARITransport sizes the connection pool of ari/v6's REST requests.
// The library sends them with a zero-value http.Client, that is over
// http.DefaultTransport, which keeps only 2 idle connections per host:
// with calls in parallel (each reads a dozen values) nearly every request
// opened a new TCP connection and dropped it afterwards, and under load
// Asterisk refused the connections beyond its session limit, failing the
// requests with EOF (measured: 15% of ARI calls at 50 calls/s failed open,
// see docs/BENCHMARKS.md). With up to ariConns kept-alive connections and
// no more than that at once, bursts queue in callscreen instead. It
// changes http.DefaultTransport once, before the first ARI request: the
// library offers no way to pass its own client.
func tuneARITransport() {
	tuneOnce.Do(func() {
		t, ok := http.DefaultTransport.(*http.Transport)
		if !ok {
			return
		}
		t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, ariConns)
		t.MaxIdleConns = max(t.MaxIdleConns, ariConns)
		if t.MaxConnsPerHost == 0 || t.MaxConnsPerHost > ariConns {
			t.MaxConnsPerHost = ariConns
		}
	})
}

package dialplan

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"unsafe"

	"github.com/CyCoreSystems/ari/v6"
	"github.com/CyCoreSystems/ari/v6/client/native"
)

// ariConns is how many HTTP connections to Asterisk's ARI callscreen
// keeps open and uses at most. Asterisk serves at most http.conf's
// sessionlimit (100 by default) sessions, the event websocket included,
// and closes any connection beyond that at once.
const ariConns = 32

// newARIClient returns the HTTP client of callscreen's ARI requests. Go's
// default transport keeps only 2 idle connections per host: with calls in
// parallel (each reads a dozen values) nearly every request opened a new
// TCP connection and dropped it afterwards, and under load Asterisk
// refused the connections beyond its session limit, failing the requests
// with EOF (measured: 15% of ARI calls at 50 calls/s failed open, see
// docs/BENCHMARKS.md). With up to ariConns kept-alive connections and no
// more than that at once, bursts queue in callscreen instead. The
// transport is ARI's own: the rest of the process (webhooks) keeps Go's
// defaults.
func newARIClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = ariConns
	t.MaxIdleConns = ariConns
	t.MaxConnsPerHost = ariConns
	return &http.Client{Transport: t}
}

// useHTTPClient makes the ari/v6 client cl send its REST requests with
// hc. The library keeps its http.Client in an unexported field and offers
// no option to pass one (client/native.Client.httpClient, a zero value
// and so http.DefaultTransport); the field is set here, once, before any
// request of callscreen's. An error means the library changed: the client
// then keeps its own default, which works at a lower throughput.
func useHTTPClient(cl ari.Client, hc *http.Client) error {
	c, ok := cl.(*native.Client)
	if !ok {
		return fmt.Errorf("ARI client is a %T, not *native.Client", cl)
	}
	f := reflect.ValueOf(c).Elem().FieldByName("httpClient")
	if !f.IsValid() || f.Type() != reflect.TypeFor[http.Client]() {
		return errors.New("ari/v6 native.Client has no httpClient field of type http.Client")
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.ValueOf(hc).Elem())
	return nil
}

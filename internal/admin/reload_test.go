package admin

import (
	"net/http"
	"testing"

	"github.com/callscreen/callscreen/screening"
)

// TestListChangeDuringReload checks that a dashboard change made while a
// list reload is in flight survives the reload: serve reads a snapshot
// (seconds for millions of entries), the operator blocks or unblocks a
// number meanwhile, then serve installs the snapshot, which predates the
// change. The change must still hold on the next call.
func TestListChangeDuringReload(t *testing.T) {
	const number = "+815012345678"
	tests := []struct {
		name      string
		stored    []screening.Entry // in the store before the reload starts
		method    string
		path      string
		body      string
		wantCode  int
		wantBlock bool
		wantAllow bool
	}{
		{
			name: "block", method: "POST", path: "/api/lists/block", body: `{"number":"` + number + `"}`,
			wantCode: http.StatusCreated, wantBlock: true,
		},
		{
			name:   "unblock",
			stored: []screening.Entry{{Kind: screening.Block, Number: number, Source: screening.SourceOperator}},
			method: "DELETE", path: "/api/lists/block/" + number,
			wantCode: http.StatusOK, wantBlock: false,
		},
		{
			name:   "allow taking it off the block list",
			stored: []screening.Entry{{Kind: screening.Block, Number: number, Source: screening.SourceOperator}},
			method: "POST", path: "/api/lists/allow", body: `{"number":"` + number + `","exclusive":true}`,
			wantCode: http.StatusCreated, wantBlock: false, wantAllow: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			cookie, csrf := ts.login(t)
			for _, e := range tt.stored {
				if err := ts.st.Put(t.Context(), e); err != nil {
					t.Fatal(err)
				}
			}
			// The reload reads its snapshot...
			snap, err := ts.st.Snapshot(t.Context(), t0)
			if err != nil {
				t.Fatal(err)
			}
			ts.lists.Replace(snap)
			// ...the operator changes the list...
			w := ts.do(t, req{method: tt.method, path: tt.path, body: tt.body, cookie: cookie, csrf: csrf})
			if w.Code != tt.wantCode {
				t.Fatalf("%s %s = %d %s", tt.method, tt.path, w.Code, w.Body)
			}
			// ...and the reload installs the snapshot read before it.
			ts.lists.Replace(snap)
			check := func(when string) {
				t.Helper()
				if _, ok := ts.lists.Lookup(screening.Block, number, t0); ok != tt.wantBlock {
					t.Errorf("%s: blocked = %v, want %v", when, ok, tt.wantBlock)
				}
				if _, ok := ts.lists.Lookup(screening.Allow, number, t0); ok != tt.wantAllow {
					t.Errorf("%s: allowed = %v, want %v", when, ok, tt.wantAllow)
				}
			}
			check("after the reload that started before the change")

			// The next reload reads the change from the store.
			snap, err = ts.st.Snapshot(t.Context(), t0)
			if err != nil {
				t.Fatal(err)
			}
			ts.lists.Replace(snap)
			check("after the next reload")
			if n := ts.lists.OverlayLen(); n != 0 {
				t.Errorf("the overlay still holds %d changes the snapshot includes", n)
			}
		})
	}
}

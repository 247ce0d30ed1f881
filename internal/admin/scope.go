package admin

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/callscreen/callscreen/screening"
	"github.com/callscreen/callscreen/screening/store"
)

// Servers and tenants (fleet mode). A server screens for one tenant
// (Options.Tenant); list entries are either that tenant's or fleet-wide
// (Entry.Tenant ""). The operator's login of a server with a tenant is
// confined to it: its tenant's calls, its tenant's entries and the
// fleet-wide ones, read-only. The integrator's login, and any login of a
// server without a tenant (a single server, as before fleet mode), sees
// and changes everything.

// forbidden is a request the login may not make.
type forbidden struct{ msg string }

func (e forbidden) Error() string { return e.msg }

// confinedTo returns the tenant c is confined to, and whether it is.
func (s *Server) confinedTo(c caller) (string, bool) {
	if c.role == roleIntegrator || s.opts.Tenant == "" {
		return "", false
	}
	return s.opts.Tenant, true
}

// callsTenant checks the call log's tenant filter against what c may see
// and returns the filter to apply.
func (s *Server) callsTenant(c caller, tenant string) (string, error) {
	own, confined := s.confinedTo(c)
	if !confined {
		return tenant, nil
	}
	if tenant != "" && tenant != own {
		return "", forbidden{fmt.Sprintf("this login sees tenant %q's calls only; the integrator login sees every tenant's", own)}
	}
	return own, nil
}

// readScopes turns the scope and tenant parameters of a list read into
// the store's scopes (nil: all): scope "fleet" selects the fleet-wide
// entries, "tenant" this server's tenant's, tenant=NAME that tenant's;
// neither selects all that c may see.
func (s *Server) readScopes(c caller, scope, tenant string) ([]string, error) {
	scope, tenant = strings.TrimSpace(scope), strings.TrimSpace(tenant)
	own, confined := s.confinedTo(c)
	switch {
	case scope != "" && scope != "fleet" && scope != "tenant":
		return nil, badf("scope: %q is neither fleet nor tenant", scope)
	case scope != "" && tenant != "":
		return nil, badf("give scope or tenant, not both")
	case confined && tenant != "" && tenant != own:
		return nil, forbidden{fmt.Sprintf("this login sees tenant %q's entries and the fleet-wide ones only", own)}
	case scope == "fleet":
		return []string{""}, nil
	case scope == "tenant":
		return []string{s.opts.Tenant}, nil
	case tenant != "":
		return []string{tenant}, nil
	case confined:
		return []string{"", own}, nil
	}
	return nil, nil
}

// writeScope returns the scope (the tenant; "" for fleet-wide) that a list
// change by c goes to: the server's tenant unless scope is "fleet" or
// tenant names another. The operator's login of a server with a tenant
// may change its tenant's entries only.
func (s *Server) writeScope(c caller, scope, tenant string) (string, error) {
	scope, tenant = strings.TrimSpace(scope), strings.TrimSpace(tenant)
	target := s.opts.Tenant
	switch {
	case scope != "" && scope != "fleet" && scope != "tenant":
		return "", badf("scope: %q is neither fleet nor tenant", scope)
	case scope != "" && tenant != "":
		return "", badf("give scope or tenant, not both")
	case scope == "fleet":
		target = ""
	case tenant != "":
		target = tenant
	}
	if c.role == roleIntegrator || target == s.opts.Tenant {
		return target, nil
	}
	if s.opts.Tenant == "" {
		return "", forbidden{fmt.Sprintf("this server has no tenant, so its login changes the fleet-wide lists only, not tenant %q's; the integrator login changes every tenant's", target)}
	}
	if target == "" {
		return "", forbidden{fmt.Sprintf("this login changes tenant %q's entries only; fleet-wide entries are read-only here (the integrator login changes them)", s.opts.Tenant)}
	}
	return "", forbidden{fmt.Sprintf("this login changes tenant %q's entries only, not tenant %q's", s.opts.Tenant, target)}
}

// scopeWords names the scope tenant in a message, when there are scopes
// (own, the server's tenant, is set or tenant differs from it).
func scopeWords(tenant, own string) string {
	switch {
	case tenant == "" && own == "":
		return ""
	case tenant == "":
		return " (fleet-wide)"
	}
	return fmt.Sprintf(" of tenant %q", tenant)
}

// fleetWide reports whether list k holds number in the fleet-wide scope
// (for a clearer refusal than "not found").
func (s *Server) fleetWide(ctx context.Context, k screening.ListKind, number string) bool {
	es, err := s.opts.Store.Entries(ctx, store.ListFilter{Kind: k, Prefix: number, Tenants: []string{""}, IncludeExpired: true})
	if err != nil {
		return false
	}
	for _, e := range es {
		if e.Number == number {
			return true
		}
	}
	return false
}

// entryView is a list entry as the API shows it: with its scope, and
// whether the login may change it.
type entryView struct {
	screening.Entry
	// Scope is "fleet" for an entry that applies to every tenant, "tenant"
	// for one tenant's (Tenant names it).
	Scope string `json:"scope"`
	// ReadOnly marks an entry the login may not change or remove (a
	// fleet-wide entry, seen from a tenant's login).
	ReadOnly bool `json:"read_only,omitempty"`
}

func (s *Server) view(c caller, e screening.Entry) entryView {
	v := entryView{Entry: e, Scope: "tenant"}
	if e.Tenant == "" {
		v.Scope = "fleet"
	}
	own, confined := s.confinedTo(c)
	v.ReadOnly = confined && e.Tenant != own
	return v
}

// fleetReply is GET /api/fleet.
type fleetReply struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Servers lists each server and tenant pair that recorded calls in
	// the period; a server screening for two tenants appears twice.
	Servers []fleetServer `json:"servers"`
	// Tenants totals the calls of each tenant over its servers.
	Tenants []fleetTenant `json:"tenants"`
}

type fleetServer struct {
	Server string    `json:"server"`
	Tenant string    `json:"tenant"`
	Calls  int       `json:"calls"`
	Last   time.Time `json:"last"`
}

type fleetTenant struct {
	Tenant  string   `json:"tenant"`
	Calls   int      `json:"calls"`
	Servers []string `json:"servers"`
}

// fleetPeriod is how far back GET /api/fleet looks by default.
const fleetPeriod = 24 * time.Hour

// fleet lists the servers and tenants in the call log (the integrator's
// login only).
func (s *Server) fleet(w http.ResponseWriter, r *http.Request, c caller) {
	if c.role != roleIntegrator {
		writeError(w, http.StatusForbidden, "the fleet view needs the integrator login (http.integrator_username)")
		return
	}
	q := r.URL.Query()
	if err := onlyParams(q, "since"); err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.opts.Now()
	since, err := s.parseTime("since", q.Get("since"), false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if since.IsZero() {
		since = now.Add(-fleetPeriod)
	}
	if !now.After(since) {
		s.fail(w, r, badf("since must be in the past"))
		return
	}
	pairs, err := s.opts.Store.Fleet(r.Context(), since)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	reply := fleetReply{Since: since, Until: now, Servers: []fleetServer{}, Tenants: []fleetTenant{}}
	tenants := map[string]*fleetTenant{}
	for _, p := range pairs {
		reply.Servers = append(reply.Servers, fleetServer{p.Server, p.Tenant, p.Calls, p.Last})
		t := tenants[p.Tenant]
		if t == nil {
			t = &fleetTenant{Tenant: p.Tenant, Servers: []string{}}
			tenants[p.Tenant] = t
		}
		t.Calls += p.Calls
		t.Servers = append(t.Servers, p.Server)
	}
	for _, t := range tenants {
		reply.Tenants = append(reply.Tenants, *t)
	}
	sort.Slice(reply.Tenants, func(i, j int) bool { return reply.Tenants[i].Tenant < reply.Tenants[j].Tenant })
	writeJSON(w, http.StatusOK, reply)
}

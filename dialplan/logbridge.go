package dialplan

import (
	"context"
	"log/slog"

	xslog "golang.org/x/exp/slog"
)

// xslogHandler passes the ari/v6 library's logs (golang.org/x/exp/slog)
// to a log/slog handler, demoted to debug: the library logs every failed
// redial once a second while Asterisk is down, and Stasis reports the
// connection state itself.
type xslogHandler struct {
	h slog.Handler
}

func newLibLogger(l *slog.Logger) *xslog.Logger {
	return xslog.New(xslogHandler{h: l.With("component", "ari").Handler()})
}

func (x xslogHandler) Enabled(ctx context.Context, _ xslog.Level) bool {
	return x.h.Enabled(ctx, slog.LevelDebug)
}

func (x xslogHandler) Handle(ctx context.Context, r xslog.Record) error {
	rec := slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
	r.Attrs(func(a xslog.Attr) bool {
		rec.AddAttrs(slog.Any(a.Key, a.Value.Any()))
		return true
	})
	return x.h.Handle(ctx, rec)
}

func (x xslogHandler) WithAttrs(attrs []xslog.Attr) xslog.Handler {
	as := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		as = append(as, slog.Any(a.Key, a.Value.Any()))
	}
	return xslogHandler{h: x.h.WithAttrs(as)}
}

func (x xslogHandler) WithGroup(name string) xslog.Handler {
	return xslogHandler{h: x.h.WithGroup(name)}
}

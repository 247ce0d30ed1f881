package admin

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// static holds the dashboard: index.html (a template: only the page's
// language is filled in), app.css, app.js and the icon.
//
//go:embed static
var static embed.FS

type ui struct {
	index_ *template.Template
	files  fs.FS
	// built is the modification time the static files are served with.
	built time.Time
}

func newUI() (*ui, error) {
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	t, err := template.ParseFS(files, "index.html")
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	return &ui{index_: t, files: files, built: time.Now()}, nil
}

// index serves the page in the language the browser prefers (Japanese or
// English); the page lets the user switch and remembers the choice.
func (u *ui) index() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		if err := u.index_.Execute(&b, struct{ Lang string }{preferredLang(r.Header.Get("Accept-Language"))}); err != nil {
			http.Error(w, "template: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Vary", "Accept-Language")
		w.Write(b.Bytes())
	})
}

// static serves /static/ from the embedded files.
func (u *ui) static() http.Handler {
	fsrv := http.StripPrefix("/static/", http.FileServerFS(u.files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || strings.HasSuffix(r.URL.Path, "index.html") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		fsrv.ServeHTTP(w, r)
	})
}

// preferredLang picks "ja" or "en" from an Accept-Language header: the
// first of the two the browser lists, by quality then order.
func preferredLang(header string) string {
	best, bestQ := "en", -1.0
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
				continue
			}
		}
		base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if (base == "ja" || base == "en") && q > bestQ && q > 0 {
			best, bestQ = base, q
		}
	}
	return best
}

// Package wallboard is the page a floor manager keeps on a wall screen:
// per queue, waiting calls, longest wait, service level against its goal,
// abandon rate and answered today, and agents by state — big, high
// contrast, red/amber/green against goal, updated live from the API's
// event stream (/api/v1/events, server-sent events) without reloads.
package wallboard

import (
	"embed"
	"net/http"
)

//go:embed index.html
var files embed.FS

// Handler serves the wallboard page. The page needs the API's
// /api/v1/events stream on the same origin.
func Handler() http.Handler {
	page, err := files.ReadFile("index.html")
	if err != nil {
		// The file is embedded at build time; failing here means a broken build.
		panic("wallboard: index.html not embedded: " + err.Error())
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'")
		_, _ = w.Write(page)
	})
}

package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Stream serves server-sent events: every interval it sends the value
// source returns as one event named name, starting at once. The stream
// ends when the client goes away. A heartbeat comment keeps idle proxies
// from closing it.
func Stream(name string, every time.Duration, source func() any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		// Tell EventSource to retry quickly after a restart of the server.
		if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
			return
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			b, err := json.Marshal(source())
			if err != nil {
				fmt.Fprintf(w, ": encoding failed: %v\n\n", err)
			} else if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-t.C:
			}
		}
	})
}

package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/switchboard-cc/switchboard/config"
)

// ErrOpenListen means the server would listen beyond loopback with no
// token to protect write operations.
var ErrOpenListen = errors.New("refusing to listen beyond loopback without an API token")

// listen binds addr, refusing a non-loopback address when token is empty.
// The config already rejects that; the check is repeated here because this
// is where the socket is opened, whoever built the config.
func listen(addr, token string) (net.Listener, error) {
	host, _, err := config.SplitListen(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address: %w", err)
	}
	if token == "" && !config.IsLoopback(host) {
		return nil, fmt.Errorf("%w: %s (set server.token or SWITCHBOARD_TOKEN)", ErrOpenListen, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return ln, nil
}

// serveHTTP serves h on ln until ctx ends, then drains for up to grace.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration, log *slog.Logger) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// Streams (/api/v1/events) hold their connection open; their
		// handlers end with the request context on shutdown.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
		return fmt.Errorf("http shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}

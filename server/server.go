// Package server is switchboard's lifecycle: from one config.Config it
// builds storage, the journal, the PBX adapter, the routing engine, the
// controller and the HTTP API, runs them together and shuts them down
// cleanly (HTTP drained, journal flushed) when its context ends.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/wallboard"
)

// Server is one running switchboard.
type Server struct {
	cfg  config.Config
	log  *slog.Logger
	http *api.Server
	ln   net.Listener
}

// New builds everything the config asks for and binds the listen address,
// so a port in use fails here, before anything runs.
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	s := &Server{cfg: cfg, log: log}
	h, err := api.New(api.Options{
		Token: cfg.Server.Token,
		Log:   log,
		Root:  wallboard.Handler(),
	})
	if err != nil {
		return nil, err
	}
	s.http = h
	ln, err := listen(cfg.Server.Listen, cfg.Server.Token)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	return s, nil
}

// Addr is the address the HTTP server listens on (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx ends, then shuts down within the configured grace.
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("switchboard listening", "addr", "http://"+s.Addr(), "pbx", s.cfg.PBX.Kind, "database", config.MaskDSN(s.cfg.Database.DSN))
	return serveHTTP(ctx, s.ln, s.http, s.cfg.Server.ShutdownTimeout, s.log)
}

// Package server is switchboard's lifecycle: from one config.Config it
// builds storage, the journal, the PBX adapter, the routing engine, the
// controller and the HTTP API, runs them together and shuts them down
// cleanly (HTTP drained, controller stopped, journal flushed) when its
// context ends.
package server

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
	"github.com/switchboard-cc/switchboard/wallboard"
)

// demoRouting is the routing file used when the config names none: the
// same demo as configs/routing.yaml (a test keeps the two equal).
//
//go:embed demo-routing.yaml
var demoRouting []byte

// Server is one running switchboard.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	store   *storage.Store
	journal *storage.Journal
	rules   *routing.Config
	http    *api.Server
	ln      net.Listener
}

// New builds everything the config asks for: opens and migrates the
// database, opens the journal, loads the routing file, builds the PBX
// adapter and the controller, and binds the listen address — so a bad
// routing file, an unreachable database or a port in use fail here, before
// anything runs. On error everything opened so far is closed again.
func New(cfg config.Config, log *slog.Logger) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if s.rules, err = loadRules(cfg.Routing.File); err != nil {
		return nil, err
	}
	if s.store, err = storage.Open(ctx, cfg.Database.DSN, storage.WithLogger(log)); err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	if _, err = s.store.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrating database %s: %w", config.MaskDSN(cfg.Database.DSN), err)
	}
	if s.journal, err = storage.NewJournal(s.store, storage.JournalOptions{Dir: cfg.Database.JournalDir}, log); err != nil {
		return nil, fmt.Errorf("opening journal: %w", err)
	}

	hist := history{store: s.store}
	s.http, err = api.New(api.Options{
		Token: cfg.Server.Token,
		Log:   log,
		Root:  wallboard.Handler(),
		Ready: s.ready,
		Metrics: api.NewMetrics(api.MetricsSources{
			Store: s.storeHealth,
		}),
		Errors: []api.ErrorStatus{
			{Err: storage.ErrNotFound, Status: 404},
		},
	}, s.routes(hist)...)
	if err != nil {
		return nil, err
	}
	if s.ln, err = listen(cfg.Server.Listen, cfg.Server.Token); err != nil {
		return nil, err
	}
	return s, nil
}

// routes is the table of every room's API routes. A room adds its routes
// here with one line, from its own file api/<room>.go.
func (s *Server) routes(h history) [][]api.Route {
	return [][]api.Route{}
}

// loadRules parses the routing file, or the embedded demo when none is set.
func loadRules(file string) (*routing.Config, error) {
	name, data := "embedded demo routing", demoRouting
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%w: routing file: %w", config.ErrInvalid, err)
		}
		name, data = file, b
	}
	rules, err := routing.ParseRules(name, data)
	if err != nil {
		// ParseRules names file:line:column; a bad routing file is a bad
		// configuration (exit 2), like a bad config file.
		return nil, fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	return rules, nil
}

// Addr is the address the HTTP server listens on (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

func (s *Server) ready() (bool, string) {
	st := s.journal.Stats()
	if !st.DBUp && st.LastError != "" {
		return false, "database: " + st.LastError
	}
	return true, "ready"
}

func (s *Server) storeHealth() api.StoreHealth {
	st := s.journal.Stats()
	return api.StoreHealth{JournalBacklog: int(st.Pending), DBUp: st.DBUp || st.LastError == ""}
}

// Run runs everything until ctx ends, then shuts down: HTTP first (no new
// commands), then the controller, then the journal, which flushes what it
// holds to disk and tries a last database write.
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("switchboard listening", "addr", "http://"+s.Addr(), "pbx", s.cfg.PBX.Kind,
		"database", config.MaskDSN(s.cfg.Database.DSN), "routing", orDemo(s.cfg.Routing.File))
	jctx, stopJournal := context.WithCancel(context.Background())
	jdone := make(chan error, 1)
	go func() { jdone <- s.journal.Run(jctx) }()

	httpErr := serveHTTP(ctx, s.ln, s.http, s.cfg.Server.ShutdownTimeout, s.log)

	stopJournal()
	var jerr error
	select {
	case jerr = <-jdone:
	case <-time.After(s.cfg.Server.ShutdownTimeout):
		jerr = errors.New("journal did not stop within the shutdown timeout")
	}
	s.close()
	if errors.Is(jerr, context.Canceled) {
		jerr = nil
	}
	if jerr != nil {
		s.log.Error("journal shutdown", "err", jerr)
	}
	s.log.Info("switchboard stopped")
	return errors.Join(httpErr, jerr)
}

func (s *Server) close() {
	if s.ln != nil {
		_ = s.ln.Close()
	}
	if s.store != nil {
		_ = s.store.Close()
	}
}

func orDemo(file string) string {
	if file == "" {
		return "(embedded demo)"
	}
	return file
}

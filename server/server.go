// Package server is switchboard's lifecycle: from one config.Config it
// builds storage, the journal, the PBX adapter, the routing engine, the
// controller and the HTTP API, runs them together and shuts them down
// cleanly (HTTP drained, controller stopped, journal flushed) when its
// context ends.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/ari"
	"github.com/switchboard-cc/switchboard/adapters/esl"
	"github.com/switchboard-cc/switchboard/adapters/mixed"
	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/callbacks"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/configs"
	"github.com/switchboard-cc/switchboard/controller"
	"github.com/switchboard-cc/switchboard/recordings"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
	"github.com/switchboard-cc/switchboard/wallboard"
)

// Server is one running switchboard.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	clk     clock.Clock
	store   *storage.Store
	journal *storage.Journal
	rules   *routing.Config
	pbx     adapters.PBX
	// simAgents are logged in once the controller runs (sim only);
	// simDefs are their definitions, kept across rules reloads.
	simAgents []string
	simDefs   []routing.Agent
	engine    *routing.Engine
	ctl       *controller.Controller
	desk      *callbacks.Desk
	recs      *recordings.Service
	http      *api.Server
	ln        net.Listener
	closeOnce sync.Once
}

// New builds everything the config asks for: loads the routing file,
// opens and migrates the database, opens the journal, builds the PBX
// adapter, the engine, the controller and the API, and binds the listen
// address — so a bad routing file, an unreachable database or a port in
// use fail here, before anything runs. On error everything opened so far
// is closed again.
func New(cfg config.Config, log *slog.Logger) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, clk: clock.Real{}}
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
		return nil, fmt.Errorf("migrating database %s: %w", storage.MaskDSN(cfg.Database.DSN), err)
	}
	var extra []prometheus.Collector
	switch cfg.PBX.Kind {
	case config.PBXSim:
		if sp := cfg.PBX.Sim.Speed; sp > 0 && sp != 1 {
			s.clk = clock.NewScaled(s.simStart(ctx), sp)
		}
		p, err := sim.New(cfg.PBX.Sim, s.clk, log.With("component", "sim"))
		if err != nil {
			return nil, fmt.Errorf("%w: pbx.sim: %w", config.ErrInvalid, err)
		}
		s.pbx = p
		s.addSimAgents(cfg.PBX.Sim.Agents())
	case config.PBXAsterisk:
		a, err := ari.New(cfg.PBX.Asterisk, log.With("component", "ari"))
		if err != nil {
			return nil, fmt.Errorf("%w: pbx.asterisk: %w", config.ErrInvalid, err)
		}
		s.pbx = a
		extra = append(extra, a.Collector())
	case config.PBXFreeSWITCH:
		a, err := esl.New(cfg.PBX.FreeSWITCH, log.With("component", "esl"))
		if err != nil {
			return nil, fmt.Errorf("%w: pbx.freeswitch: %w", config.ErrInvalid, err)
		}
		s.pbx = a
		extra = append(extra, a.Collector())
	case config.PBXMixed:
		p, err := newMixed(cfg.PBX, log)
		if err != nil {
			return nil, err
		}
		s.pbx = p
		extra = append(extra, p.Collector())
	}
	if s.engine, err = routing.NewEngineChecked(s.rules); err != nil {
		return nil, fmt.Errorf("%w: routing: %w", config.ErrInvalid, err)
	}

	if s.journal, err = storage.NewJournal(s.store, storage.JournalOptions{Dir: cfg.Database.JournalDir}, log); err != nil {
		return nil, fmt.Errorf("opening journal: %w", err)
	}
	// Callbacks and the controller each need the other; the plug joins
	// them (see callbacks.Plug).
	plug := callbacks.NewPlug()
	cbCfg := cfg.Callbacks
	if cbCfg.CustomerEndpoint == "" && cfg.PBX.Kind == config.PBXSim {
		cbCfg.CustomerEndpoint = "sim/customer/{number}"
	}
	if s.desk, err = callbacks.New(cbCfg, s.store, s.pbx, plug, s.clk, log); err != nil {
		return nil, fmt.Errorf("%w: callbacks: %w", config.ErrInvalid, err)
	}
	if s.recs, err = recordings.New(cfg.Recordings, recordings.Deps{
		PBX: s.pbx, Store: s.store, Journal: s.journal, Log: log.With("component", "recordings"), Now: s.clk.Now,
		CommandTimeout: cfg.Controller.CommandTimeout,
	}); err != nil {
		return nil, fmt.Errorf("%w: recordings: %w", config.ErrInvalid, err)
	}
	if err = s.applyScorecards(ctx); err != nil {
		return nil, err
	}
	if s.ctl, err = controller.New(cfg.Controller, controller.Deps{
		PBX: s.pbx, Engine: s.engine, Journal: s.journal, Store: s.store, Clock: s.clk, Log: log,
		Callbacks: plug, Observers: []controller.Observer{plug, s.recs},
	}); err != nil {
		return nil, fmt.Errorf("%w: controller: %w", config.ErrInvalid, err)
	}
	plug.Attach(s.desk, s.ctl)

	s.http, err = api.New(api.Options{
		Token:  cfg.Server.Token,
		Log:    log,
		Root:   wallboard.Handler(),
		Ready:  s.ready,
		Health: func() any { return s.storeHealth() },
		Metrics: api.NewMetrics(api.MetricsSources{
			Floor: s.floorView,
			Store: s.storeHealth,
			Extra: extra,
		}),
		Errors: []api.ErrorStatus{
			{Err: storage.ErrNotFound, Status: 404},
			{Err: controller.ErrUnknownAgent, Status: 404},
			{Err: controller.ErrUnknownCall, Status: 404},
			{Err: controller.ErrInvalidState, Status: 409},
			{Err: controller.ErrNotRunning, Status: 503},
			{Err: adapters.ErrUnreachable, Status: 503},
			{Err: adapters.ErrStandby, Status: 503},
		},
	}, s.routes()...)
	if err != nil {
		return nil, err
	}
	if s.ln, err = listen(cfg.Server.Listen, cfg.Server.Token); err != nil {
		return nil, err
	}
	return s, nil
}

// newMixed builds the mixed floor: the Asterisk and the FreeSWITCH
// adapter side by side under one port. Each member's constructor is
// called again when its PBX was unreachable at start, so it is built
// from the same settings.
func newMixed(pc config.PBX, log *slog.Logger) (*mixed.PBX, error) {
	alog, elog := log.With("component", "ari"), log.With("component", "esl")
	p, err := mixed.New([]mixed.Member{
		{Name: "asterisk", Nodes: pc.Asterisk.NodeNames(), New: func() (adapters.PBX, error) { return ari.New(pc.Asterisk, alog) }},
		{Name: "freeswitch", Nodes: []string{pc.FreeSWITCH.NodeName()}, New: func() (adapters.PBX, error) { return esl.New(pc.FreeSWITCH, elog) }},
	}, mixed.Options{Log: log.With("component", "mixed")})
	if err != nil {
		return nil, fmt.Errorf("%w: pbx (kind mixed): %w", config.ErrInvalid, err)
	}
	return p, nil
}

// simStart is where an accelerated simulation's clock starts: now, or
// just after the last call the database holds if that is later. Simulated
// time runs ahead of the wall clock, so a restart at the wall clock would
// put the new run's calls before the last run's, and the records of calls
// the restart closes would end before they began.
func (s *Server) simStart(ctx context.Context) time.Time {
	start := time.Now()
	recent, err := s.store.Calls(ctx, storage.CallFilter{Limit: 100})
	if err != nil {
		s.log.Warn("simulated clock starts at the wall clock: could not read the last calls", "err", err)
		return start
	}
	last := time.Time{}
	for _, c := range recent {
		for _, t := range []time.Time{c.ArrivedAt, c.UpdatedAt} {
			if t.After(last) {
				last = t
			}
		}
		if c.EndedAt != nil && c.EndedAt.After(last) {
			last = *c.EndedAt
		}
	}
	if last.After(start) {
		start = last.Add(time.Second)
		s.log.Info("simulated time goes on from the last run", "from", start)
	}
	return start
}

// routes is the table of every room's API routes. A room adds its routes
// here with one line, from its own file api/<room>.go.
func (s *Server) routes() [][]api.Route {
	return [][]api.Route{
		api.FloorRoutes(s.floor()),
		api.RulesRoutes(s.rulesAPI()),
		api.CallbackRoutes(s.desk.API()),
		api.ReportRoutes(s.reportsAPI()),
		api.RecordingRoutes(s.recordingsAPI()),
		api.SupervisionRoutes(s.supervision()),
	}
}

// addSimAgents adds the simulated agents to the routing agents (the
// routing file's own definition wins for an id it also lists) and
// remembers them to log them in at start.
func (s *Server) addSimAgents(agents []routing.Agent) {
	have := map[string]bool{}
	for _, a := range s.rules.Agents {
		have[a.ID] = true
	}
	s.simDefs = agents
	for _, a := range agents {
		if !have[a.ID] {
			s.rules.Agents = append(s.rules.Agents, a)
		}
		s.simAgents = append(s.simAgents, a.ID)
	}
}

// loadRules parses the routing file, or the embedded demo when none is set.
func loadRules(file string) (*routing.Config, error) {
	name, data := "configs/routing.yaml (embedded)", configs.DemoRouting
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

// ready is /readyz: the controller runs and at least one PBX node is
// connected and active. Whatever is wrong that routing can live with
// makes it ready but degraded, each cause named: a PBX node down or in
// standby while another serves, and a database that does not answer
// (records wait in the journal). Taking the instance out of service for
// those would only stop the calls and the floor's API that still work.
func (s *Server) ready() (bool, string) {
	ok, why := s.ctl.Ready()
	if !ok {
		return false, why
	}
	var degraded []string
	if d, found := strings.CutPrefix(why, "degraded: "); found {
		degraded = append(degraded, d)
	}
	st := s.journal.Stats()
	if !st.DBUp && st.LastError != "" {
		degraded = append(degraded, fmt.Sprintf("database unreachable (%s); %d records wait in the journal", st.LastError, st.Pending))
	}
	if len(degraded) > 0 {
		return true, "ready, degraded: " + strings.Join(degraded, "; ")
	}
	return true, "ready"
}

// storeHealth is the journal and database state for /metrics, /healthz
// and /readyz.
func (s *Server) storeHealth() api.StoreHealth {
	st := s.journal.Stats()
	return api.StoreHealth{JournalBacklog: int(st.Pending), JournalUnsynced: int(st.Unsynced), JournalSpilledBytes: st.Spilled,
		OldestPendingSeconds: st.OldestPendingSeconds, JournalWritten: st.Written,
		DBUp: st.DBUp || st.LastError == "", DBError: st.LastError}
}

// Run runs everything until ctx ends, then shuts down: HTTP first (no new
// commands), then the controller and the PBX adapter, then the journal,
// which makes what it holds durable and tries a last database write. If
// the PBX adapter fails (unreachable at start), Run shuts down and returns
// its error.
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("switchboard starting", "addr", "http://"+s.Addr(), "pbx", s.cfg.PBX.Kind,
		"database", storage.MaskDSN(s.cfg.Database.DSN), "routing", orDemo(s.cfg.Routing.File))

	jctx, stopJournal := context.WithCancel(context.Background())
	jdone := make(chan error, 1)
	go func() { jdone <- s.journal.Run(jctx) }()

	// The PBX and the controller share a context: when either fails, both
	// and the HTTP server stop.
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	var pbxErr, ctlErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		if pbxErr = s.pbx.Run(rctx); pbxErr != nil && rctx.Err() == nil {
			s.log.Error("pbx adapter stopped", "pbx", s.cfg.PBX.Kind, "err", pbxErr)
		}
		stop()
	}()
	go func() {
		defer wg.Done()
		ctlErr = s.ctl.Run(rctx)
		stop()
	}()
	// The callback desk and the recordings service work beside the
	// controller and stop with it.
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := s.desk.Run(rctx); err != nil && rctx.Err() == nil {
			s.log.Error("callback desk stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := s.recs.Run(rctx); err != nil && rctx.Err() == nil {
			s.log.Error("recordings service stopped", "err", err)
		}
	}()
	if len(s.simAgents) > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); s.loginSimAgents(rctx) }()
	}
	s.log.Info("switchboard listening", "addr", "http://"+s.Addr())

	httpErr := serveHTTP(rctx, s.ln, s.http, s.cfg.Server.ShutdownTimeout, s.log)
	stop()
	// A PBX adapter or controller that does not stop must not keep the
	// journal from being flushed: wait for them only so long.
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	var stuckErr error
	select {
	case <-stopped:
	case <-time.After(s.cfg.Server.ShutdownTimeout):
		stuckErr = fmt.Errorf("pbx adapter or controller did not stop within %s; flushing the journal anyway", s.cfg.Server.ShutdownTimeout)
		s.log.Error("shutdown", "err", stuckErr)
	}

	// Write what the journal holds to the database while it still runs;
	// if the database does not take it in time, the records stay in the
	// local log and are replayed at the next start.
	fctx, cancelFlush := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
	if err := s.journal.Flush(fctx); err != nil {
		s.log.Warn("journal not fully written to the database at shutdown; the rest is replayed at the next start", "err", err)
	}
	cancelFlush()
	stopJournal()
	var jerr error
	select {
	case jerr = <-jdone:
	case <-time.After(s.cfg.Server.ShutdownTimeout):
		jerr = errors.New("journal did not stop within the shutdown timeout")
	}
	if errors.Is(jerr, context.Canceled) {
		jerr = nil
	}
	if jerr != nil {
		s.log.Error("journal shutdown", "err", jerr)
	}
	s.close()
	s.log.Info("switchboard stopped")
	if stuckErr != nil {
		return errors.Join(stuckErr, httpErr, jerr)
	}
	if pbxErr != nil && ctx.Err() == nil {
		return fmt.Errorf("pbx %s: %w", s.cfg.PBX.Kind, errors.Join(pbxErr, ctlErr, httpErr, jerr))
	}
	return errors.Join(ctlErr, httpErr, jerr)
}

// loginSimAgents logs the simulated agents in as soon as the controller
// takes requests, so the demo floor answers calls from the start.
func (s *Server) loginSimAgents(ctx context.Context) {
	for _, id := range s.simAgents {
		for {
			err := s.ctl.AgentLogin(ctx, id)
			if errors.Is(err, controller.ErrNotRunning) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(10 * time.Millisecond):
					continue
				}
			}
			if err != nil && ctx.Err() == nil {
				s.log.Warn("sim agent login failed", "agent_id", id, "err", err)
			}
			break
		}
		if ctx.Err() != nil {
			return
		}
	}
}

func (s *Server) close() {
	s.closeOnce.Do(func() {
		if s.ln != nil {
			_ = s.ln.Close()
		}
		if s.store != nil {
			_ = s.store.Close()
		}
	})
}

func orDemo(file string) string {
	if file == "" {
		return "(embedded demo)"
	}
	return file
}

// Package api is switchboard's HTTP API: JSON under /api/v1, plus
// /healthz, /readyz, /metrics and the live event stream the wallboard
// reads. Handlers return errors; the server renders every error as JSON
// {"error": {"message": …, "field": …}} with the right status.
//
// Each area (floor, rules, reports, callbacks, recordings) lives in its own
// file and provides a func returning []Route; the server package mounts
// them from one table. Write routes need the bearer token when one is
// configured.
package api

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// HandlerFunc is an HTTP handler that reports failure by returning an
// error; *Error values keep their status and field, sentinel errors of
// other packages are mapped by the route's server (see Server.status).
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Route is one endpoint.
type Route struct {
	// Method is GET, POST, PUT, DELETE …
	Method string
	// Path is a net/http pattern path: "/api/v1/agents/{id}/login".
	Path string
	// Write marks routes that change state; they need the bearer token
	// when one is configured. Every method but GET and HEAD is a write.
	Write bool
	// Handle serves the request.
	Handle HandlerFunc
	// Raw, when set, is used instead of Handle (streams, pages).
	Raw http.Handler
}

// Options configure a Server.
type Options struct {
	// Token, when not empty, is required as "Authorization: Bearer <token>"
	// on every Write route.
	Token string
	// Log receives one line per failed request.
	Log *slog.Logger
	// Ready reports whether the service may take traffic (/readyz).
	Ready func() (bool, string)
	// Health returns what /healthz and /readyz show beside their verdict
	// (the journal backlog and the database state, as "storage"); nil
	// shows nothing more.
	Health func() any
	// Metrics serves /metrics; nil means no metrics endpoint.
	Metrics http.Handler
	// Root serves / (the wallboard); nil means 404.
	Root http.Handler
	// Errors maps other packages' sentinel errors to HTTP statuses, checked
	// with errors.Is in order.
	Errors []ErrorStatus
}

// ErrorStatus maps a sentinel error to an HTTP status.
type ErrorStatus struct {
	Err    error
	Status int
}

// Server is the HTTP handler for the whole API.
type Server struct {
	opts  Options
	mux   *http.ServeMux
	log   *slog.Logger
	paths map[string]bool
}

// New builds the server from the route groups. Two routes with the same
// method and path are a programming error and fail New.
func New(opts Options, groups ...[]Route) (*Server, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), log: opts.Log, paths: map[string]bool{}}
	base := []Route{
		{Method: http.MethodGet, Path: "/healthz", Handle: s.healthz},
		{Method: http.MethodGet, Path: "/readyz", Handle: s.readyz},
	}
	if opts.Metrics != nil {
		base = append(base, Route{Method: http.MethodGet, Path: "/metrics", Raw: opts.Metrics})
	}
	if opts.Root != nil {
		base = append(base, Route{Method: http.MethodGet, Path: "/", Raw: opts.Root})
	}
	for _, g := range append([][]Route{base}, groups...) {
		for _, rt := range g {
			if err := s.mount(rt); err != nil {
				return nil, err
			}
		}
	}
	// Anything under /api/ that matched no route gets a JSON 404, not the
	// wallboard page.
	s.mux.Handle("/api/", s.wrap(Route{Handle: s.noRoute}))
	return s, nil
}

func (s *Server) mount(rt Route) error {
	if rt.Method == "" || rt.Path == "" || (rt.Handle == nil && rt.Raw == nil) {
		return fmt.Errorf("api: incomplete route %+v", rt)
	}
	// Anything that is not a read is a write, whatever the route says: a
	// room forgetting Write must not open a state change to everyone.
	if rt.Method != http.MethodGet && rt.Method != http.MethodHead {
		rt.Write = true
	}
	key := rt.Method + " " + rt.Path
	if s.paths[key] {
		return fmt.Errorf("api: route %s registered twice", key)
	}
	s.paths[key] = true
	pattern := key
	if rt.Path == "/" {
		pattern = rt.Method + " /{$}"
	}
	s.mux.Handle(pattern, s.wrap(rt))
	return nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(&methodCheck{ResponseWriter: w}, r)
}

// noRoute answers API paths no route took: 405 when the path exists with
// another method, 404 otherwise, both as JSON.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) error {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/api/" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		return &Error{Status: http.StatusMethodNotAllowed, Message: fmt.Sprintf("%s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", "))}
	}
	return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path)}
}

// methodCheck turns ServeMux's plain-text 405 (outside /api/) into JSON.
type methodCheck struct {
	http.ResponseWriter
	swallow bool
}

func (m *methodCheck) WriteHeader(code int) {
	if code == http.StatusMethodNotAllowed && m.Header().Get("Content-Type") != "application/json" {
		m.swallow = true
		m.Header().Set("Content-Type", "application/json")
		m.ResponseWriter.WriteHeader(code)
		_, _ = m.ResponseWriter.Write([]byte(`{"error":{"message":"method not allowed"}}` + "\n"))
		return
	}
	m.ResponseWriter.WriteHeader(code)
}

func (m *methodCheck) Write(b []byte) (int, error) {
	if m.swallow {
		return len(b), nil
	}
	return m.ResponseWriter.Write(b)
}

// Flush lets streams through.
func (m *methodCheck) Flush() {
	if f, ok := m.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (m *methodCheck) Unwrap() http.ResponseWriter { return m.ResponseWriter }

func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.Write {
			if err := s.authorize(r); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if rt.Raw != nil {
			rt.Raw.ServeHTTP(w, r)
			return
		}
		if err := rt.Handle(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// authorize checks the bearer token. With no token configured, writes are
// open: config refuses to listen beyond loopback in that case.
func (s *Server) authorize(r *http.Request) error {
	if s.opts.Token == "" {
		return nil
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return &Error{Status: http.StatusUnauthorized, Message: "this operation needs a bearer token: Authorization: Bearer <token> (switchboard --token)"}
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.Token)) != 1 {
		return &Error{Status: http.StatusUnauthorized, Message: "bearer token rejected"}
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	body := map[string]any{"status": "ok"}
	if s.opts.Health != nil {
		body["storage"] = s.opts.Health()
	}
	return WriteJSON(w, http.StatusOK, body)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ok, why := true, "ready"
	if s.opts.Ready != nil {
		ok, why = s.opts.Ready()
	}
	body := map[string]any{"ready": ok, "reason": why}
	if s.opts.Health != nil {
		body["storage"] = s.opts.Health()
	}
	if !ok {
		return WriteJSON(w, http.StatusServiceUnavailable, body)
	}
	return WriteJSON(w, http.StatusOK, body)
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: s.status(err), Message: err.Error()}
	}
	if e.Status == 0 {
		e.Status = s.status(e.Err)
	}
	if e.Status >= 500 {
		s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.log.Debug("api request rejected", "method", r.Method, "path", r.URL.Path, "status", e.Status, "err", err)
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
	}
	_ = WriteJSON(w, e.Status, ErrorBody{Error: ErrorDetail{Message: e.Message, Field: e.Field}})
}

func (s *Server) status(err error) int {
	if err == nil {
		return http.StatusInternalServerError
	}
	for _, m := range s.opts.Errors {
		if errors.Is(err, m.Err) {
			return m.Status
		}
	}
	return http.StatusInternalServerError
}

package load

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/adapters/ari"
	"github.com/switchboard-cc/switchboard/adapters/ari/aritest"
	"github.com/switchboard-cc/switchboard/adapters/esl"
	"github.com/switchboard-cc/switchboard/adapters/esl/esltest"
	"github.com/switchboard-cc/switchboard/adapters/sim"
	"github.com/switchboard-cc/switchboard/clock"
	"github.com/switchboard-cc/switchboard/routing"
)

// backend is one PBX under the controller: the port, the clock the run
// keeps, the agents it can ring, and how callers come and go.
type backend interface {
	port() adapters.PBX
	clock() clock.Clock
	agents() []routing.Agent
	// generates reports whether the PBX brings its own callers (the
	// simulator's Poisson streams); otherwise the run injects them.
	generates() bool
	// inject brings one inbound call with this caller number to
	// switchboard, as the dialplan would; it returns the PBX's channel id.
	inject(number string) (string, error)
	// hangup hangs a caller up from the far side (its patience ran out).
	hangup(channel string) error
	stopArrivals()
	// counts are the PBX's own figures, kept apart from the controller's.
	counts() map[string]int
	close()
}

func newBackend(o Options, log *slog.Logger) (backend, error) {
	switch o.PBX {
	case PBXSim:
		return newSimBackend(o, log)
	case PBXAsterisk:
		return newAsteriskBackend(o, log)
	case PBXFreeSWITCH:
		return newFreeSWITCHBackend(o, log)
	}
	return nil, fmt.Errorf("pbx %q: not sim, asterisk or freeswitch", o.PBX)
}

// ------------------------------------------------------------------ sim

type simBackend struct {
	p   *sim.PBX
	clk clock.Clock
	cfg sim.Config
}

func newSimBackend(o Options, log *slog.Logger) (*simBackend, error) {
	var clk clock.Clock = clock.Real{}
	if o.Speed != 1 {
		clk = clock.NewScaled(time.Now(), o.Speed)
	}
	cfg := sim.Config{Seed: o.Seed,
		Streams: []sim.Stream{{DialedNumber: "800", CallerPrefix: "+1555", RatePerMinute: o.Rate * 60, PatienceMean: o.Patience}},
		AgentGroups: []sim.AgentGroup{{Prefix: "agent", Count: o.Agents, Queues: map[string]int{queueName: 1},
			AnswerProbability: 1, RingDelay: o.Ring, HandleTime: o.Talk}}}
	p, err := sim.New(cfg, clk, log)
	if err != nil {
		return nil, err
	}
	return &simBackend{p: p, clk: clk, cfg: cfg}, nil
}

func (b *simBackend) port() adapters.PBX      { return b.p }
func (b *simBackend) clock() clock.Clock      { return b.clk }
func (b *simBackend) agents() []routing.Agent { return b.cfg.Agents() }
func (b *simBackend) generates() bool         { return true }
func (b *simBackend) inject(string) (string, error) {
	return "", fmt.Errorf("sim: %w", adapters.ErrUnsupported)
}
func (b *simBackend) hangup(string) error { return nil }
func (b *simBackend) stopArrivals()       { b.p.StopArrivals() }
func (b *simBackend) close()              {}

func (b *simBackend) counts() map[string]int {
	st := b.p.Stats()
	return map[string]int{"arrivals": st.Arrivals, "connected": st.Connected, "abandoned": st.Abandoned,
		"agent_legs": st.Originates, "no_answer": st.AgentNoAnswer}
}

// ------------------------------------------------------------- asterisk

// asteriskBackend is the real ARI adapter (ari/v6 over loopback HTTP and
// WebSocket) against the fake Asterisk.
type asteriskBackend struct {
	srv *aritest.Server
	a   *ari.Adapter
	n   int
}

func newAsteriskBackend(o Options, log *slog.Logger) (*asteriskBackend, error) {
	srv, err := aritest.New(aritest.Options{})
	if err != nil {
		return nil, err
	}
	// Agents pick up after the ring time and hang up themselves the talk
	// time after they are connected to the caller: counted from the
	// answer, a short talk could end the agent leg before the controller
	// bridged it, and the call would still count as answered.
	srv.Behave("PJSIP/*", aritest.Behavior{AnswerAfter: o.Ring, HangupAfterBridge: o.Talk})
	a, err := ari.New(ari.Config{Nodes: []ari.NodeConfig{{Name: "asterisk", URL: srv.URL(), Password: "switchboard"}},
		RequestTimeout: 10 * time.Second, Heartbeat: time.Minute}, log)
	if err != nil {
		srv.Close()
		return nil, err
	}
	return &asteriskBackend{srv: srv, a: a, n: o.Agents}, nil
}

func (b *asteriskBackend) port() adapters.PBX { return b.a }
func (b *asteriskBackend) clock() clock.Clock { return clock.Real{} }
func (b *asteriskBackend) agents() []routing.Agent {
	return wireAgents(b.n, "PJSIP/%d")
}
func (b *asteriskBackend) generates() bool { return false }

// inject enters Stasis(switchboard,800) from extension s, as the sample
// dialplan does.
func (b *asteriskBackend) inject(number string) (string, error) {
	return b.srv.InjectCall("switchboard", aritest.Caller{Number: number, Exten: "s", Args: []string{"800"}})
}
func (b *asteriskBackend) hangup(ch string) error { return b.srv.HangupFar(ch, 16) }
func (b *asteriskBackend) stopArrivals()          {}
func (b *asteriskBackend) close()                 { b.srv.Close() }

// counts: connected is the agent legs the fake Asterisk had in a mixing
// bridge with a caller, counted at the PBX rather than by the controller.
func (b *asteriskBackend) counts() map[string]int {
	return map[string]int{"agent_legs": b.srv.Originated("PJSIP/*"), "connected": b.srv.Bridged("PJSIP/*"),
		"rest_requests": b.srv.Requests(), "tcp_connections": b.srv.Conns()}
}

// ----------------------------------------------------------- freeswitch

// freeswitchBackend is the real ESL adapter (eslgo over loopback TCP)
// against the fake FreeSWITCH: calls are parked by the dialplan and
// arrive on the inbound event socket.
type freeswitchBackend struct {
	fs *esltest.Server
	a  *esl.Adapter
	n  int
}

func newFreeSWITCHBackend(o Options, log *slog.Logger) (*freeswitchBackend, error) {
	fs, err := esltest.New(esltest.Options{PlaybackTime: time.Millisecond})
	if err != nil {
		return nil, err
	}
	// Talk time counts from the bridge, as a conversation does: counted
	// from the answer, a short talk could end the agent leg before the
	// reorder window let the controller bridge it.
	fs.Endpoint("user/*", esltest.Behavior{AnswerAfter: o.Ring, HangupAfterBridge: o.Talk})
	a, err := esl.New(esl.Config{Addr: fs.Addr(), RecordingDir: "/var/lib/freeswitch/recordings/switchboard"}, log)
	if err != nil {
		fs.Close()
		return nil, err
	}
	return &freeswitchBackend{fs: fs, a: a, n: o.Agents}, nil
}

func (b *freeswitchBackend) port() adapters.PBX { return b.a }
func (b *freeswitchBackend) clock() clock.Clock { return clock.Real{} }
func (b *freeswitchBackend) agents() []routing.Agent {
	return wireAgents(b.n, "user/%d")
}
func (b *freeswitchBackend) generates() bool { return false }

func (b *freeswitchBackend) inject(number string) (string, error) {
	return b.fs.InboundCall(esltest.Call{CallerNumber: number, Dialed: "800", Vars: map[string]string{"switchboard": "true"}}), nil
}
func (b *freeswitchBackend) hangup(ch string) error { return b.fs.Hangup(ch, "NORMAL_CLEARING") }
func (b *freeswitchBackend) stopArrivals()          {}
func (b *freeswitchBackend) close()                 { b.fs.Close() }

// counts: connected is the agent legs the fake FreeSWITCH bridged with a
// caller (uuid_bridge), counted at the PBX rather than by the controller.
func (b *freeswitchBackend) counts() map[string]int {
	originates := 0
	for _, c := range b.fs.Commands() {
		if strings.Contains(c, "originate") {
			originates++
		}
	}
	return map[string]int{"agent_legs": originates, "connected": b.fs.Bridged("user/*"), "esl_connections": b.fs.Connections()}
}

func wireAgents(n int, endpoint string) []routing.Agent {
	out := make([]routing.Agent, n)
	for i := range out {
		id := fmt.Sprintf("agent-%04d", i+1)
		out[i] = routing.Agent{ID: id, Name: id, Endpoint: fmt.Sprintf(endpoint, 1000+i), Queues: map[string]int{queueName: 1}}
	}
	return out
}

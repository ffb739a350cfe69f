// Package adapters declares the neutral PBX port: the events a PBX reports
// and the commands switchboard gives it, in words that fit Asterisk (ARI),
// FreeSWITCH (ESL) and the in-process simulator alike.
//
// Nothing above this package imports ari or eslgo. An implementation turns
// its PBX's wire events into the Event values below, delivered in order on
// one channel, and carries out the PBX methods. The controller never waits
// on a PBX command while holding routing state: commands are issued from
// their own goroutines and their results come back as events or errors.
//
// Identity: a leg is one PBX channel, named by LegRef{Node, ID}. Node is the
// PBX node that owns the channel (one ARI endpoint, one FreeSWITCH), so that
// with several nodes every command goes to the node that owns the channel.
package adapters

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors that callers branch on. Implementations wrap them with %w
// and say which leg, node or request failed.
var (
	// ErrUnknownLeg means the PBX does not know the leg (hung up, or never existed).
	ErrUnknownLeg = errors.New("unknown leg")
	// ErrUnreachable means the PBX (or the node that owns the leg) is not connected.
	ErrUnreachable = errors.New("pbx unreachable")
	// ErrStandby means this instance was replaced by another controller (ARI
	// ApplicationReplaced) and must not act on the PBX.
	ErrStandby = errors.New("pbx adapter in standby")
	// ErrUnsupported means the PBX cannot do what was asked.
	ErrUnsupported = errors.New("not supported by this pbx")
)

// LegRef names one PBX channel on one node.
type LegRef struct {
	Node string `json:"node"`
	ID   string `json:"id"`
}

// String returns "node/id", the form used in logs.
func (l LegRef) String() string { return l.Node + "/" + l.ID }

// IsZero reports whether the ref names no leg.
func (l LegRef) IsZero() bool { return l.ID == "" }

// BridgeRef names one PBX bridge (Asterisk mixing bridge; on FreeSWITCH the
// A-leg of a uuid_bridge stands for it).
type BridgeRef struct {
	Node string `json:"node"`
	ID   string `json:"id"`
}

// RecordingRef names one recording on one node (ARI live recording name,
// FreeSWITCH file path).
type RecordingRef struct {
	Node string `json:"node"`
	Name string `json:"name"`
}

// LegRole says why a leg exists, as far as switchboard knows it.
type LegRole string

// Leg roles.
const (
	RoleCaller   LegRole = "caller"   // an inbound customer call handed to switchboard
	RoleAgent    LegRole = "agent"    // an agent leg switchboard originated
	RoleCallback LegRole = "callback" // a customer leg switchboard originated for a callback
	RoleSnoop    LegRole = "snoop"    // a supervisor listen/whisper/barge leg
	RoleUnknown  LegRole = "unknown"
)

// Event is one thing the PBX reported. The concrete types below are the
// whole set; a type switch over them is exhaustive.
type Event interface {
	// Leg returns the leg the event is about (zero for node-wide events).
	Leg() LegRef
	// Time returns when the PBX says it happened (or when the adapter saw it).
	Time() time.Time
}

// Base carries what every event has. Adapters embed it.
type Base struct {
	Ref LegRef    `json:"leg"`
	At  time.Time `json:"at"`
}

// Leg implements Event.
func (b Base) Leg() LegRef { return b.Ref }

// Time implements Event.
func (b Base) Time() time.Time { return b.At }

// CallArrived: an inbound call was handed to switchboard (ARI StasisStart of a
// dialplan channel, ESL outbound `connect` or a parked channel). Adopted is
// true when the leg was found by reconciliation rather than by a live arrival
// event; the controller then resumes it rather than starting a new call.
type CallArrived struct {
	Base
	CallerNumber string            `json:"caller_number"`
	CallerName   string            `json:"caller_name"`
	DialedNumber string            `json:"dialed_number"`
	Vars         map[string]string `json:"vars,omitempty"`
	Answered     bool              `json:"answered"`
	Adopted      bool              `json:"adopted"`
}

// LegAnswered: the leg is up (an agent or callback leg answered; a caller leg
// was answered by our Answer command).
type LegAnswered struct {
	Base
	// Tag is the tag given in Originate, so the controller can tie the leg to
	// its offer without a lookup race.
	Tag string `json:"tag,omitempty"`
}

// LegHungUp: the leg is gone. Cause is the Q.850 cause (16 normal clearing,
// 17 busy, 19 no answer, 21 rejected …); Local is true when the hangup was
// our own command rather than the far side.
type LegHungUp struct {
	Base
	Cause     int    `json:"cause"`
	CauseText string `json:"cause_text"`
	Local     bool   `json:"local"`
	Tag       string `json:"tag,omitempty"`
}

// OriginateFailed: an originated leg never came up (no answer, busy, bad
// endpoint). It replaces LegHungUp for legs that never answered on PBXs that
// report it that way; adapters may send either, and the controller treats a
// LegHungUp of an unanswered originated leg the same.
type OriginateFailed struct {
	Base
	Tag    string `json:"tag"`
	Cause  int    `json:"cause"`
	Reason string `json:"reason"`
}

// DTMFReceived: the caller pressed a key.
type DTMFReceived struct {
	Base
	Digit    string        `json:"digit"`
	Duration time.Duration `json:"duration"`
}

// PlaybackFinished: a Play started by switchboard finished or was stopped.
type PlaybackFinished struct {
	Base
	PlaybackID string `json:"playback_id"`
}

// RecordingStarted: the PBX started writing a recording.
type RecordingStarted struct {
	Base
	Recording RecordingRef `json:"recording"`
	Format    string       `json:"format"`
	Path      string       `json:"path"`
}

// RecordingFinished: the PBX closed the recording file. Duration is the
// PBX's own figure when it reports one (ARI `duration`, FreeSWITCH
// `variable_record_seconds`), zero otherwise.
type RecordingFinished struct {
	Base
	Recording RecordingRef  `json:"recording"`
	Format    string        `json:"format"`
	Path      string        `json:"path"`
	Duration  time.Duration `json:"duration"`
}

// RecordingFailed: the PBX could not record.
type RecordingFailed struct {
	Base
	Recording RecordingRef `json:"recording"`
	Cause     string       `json:"cause"`
}

// NodeState reports the connection to one PBX node: up, down (with the
// error) or in standby (replaced by another controller).
type NodeState struct {
	Base
	Node    string `json:"node"`
	Up      bool   `json:"up"`
	Standby bool   `json:"standby"`
	Err     string `json:"error,omitempty"`
}

// Reconciled is sent after every (re)connect to a node: the complete list of
// legs that the PBX still holds for switchboard on that node. The controller
// closes its calls whose legs are missing from it ("vanished while the PBX
// link was down") and adopts legs it does not know (they arrive as
// CallArrived with Adopted set before this event).
type Reconciled struct {
	Base
	Node string    `json:"node"`
	Legs []LegInfo `json:"legs"`
	// Recordings lists recordings the PBX reports as stored (finished), so
	// recording metadata stuck in "recording" can be settled.
	Recordings []StoredRecording `json:"recordings,omitempty"`
}

// LegInfo is what reconciliation knows of a surviving leg.
type LegInfo struct {
	Ref          LegRef            `json:"leg"`
	State        string            `json:"state"` // PBX state: Up, Ring, Down …
	CallerNumber string            `json:"caller_number"`
	DialedNumber string            `json:"dialed_number"`
	Vars         map[string]string `json:"vars,omitempty"`
	Tag          string            `json:"tag,omitempty"`
	BridgeID     string            `json:"bridge_id,omitempty"`
}

// StoredRecording is a finished recording file the PBX lists.
type StoredRecording struct {
	Name   string `json:"name"`
	Format string `json:"format"`
	Path   string `json:"path,omitempty"`
}

// OriginateRequest asks the PBX to call an agent or a customer.
type OriginateRequest struct {
	// Node picks the PBX node; empty means the adapter's default/first node.
	Node string
	// Endpoint is the PBX dial target: PJSIP/1001, Local/1001@agents,
	// user/1001, sofia/internal/1001@example.com, or a sim agent id.
	Endpoint string
	// CallerIDNumber and CallerIDName are shown on the called phone.
	CallerIDNumber string
	CallerIDName   string
	// Timeout is how long it may ring before giving up (cause 19).
	Timeout time.Duration
	// Tag is echoed in LegAnswered/LegHungUp/OriginateFailed for this leg
	// (ARI originate args / channel variable; FreeSWITCH channel variable).
	Tag string
	// Role says what the leg is for.
	Role LegRole
	// Vars are channel variables to set on the new leg.
	Vars map[string]string
}

// SnoopMode is how a supervisor joins a call.
type SnoopMode string

// Snoop modes: listen hears both sides; whisper also speaks to the agent
// only; barge speaks to both.
const (
	SnoopListen  SnoopMode = "listen"
	SnoopWhisper SnoopMode = "whisper"
	SnoopBarge   SnoopMode = "barge"
)

// SnoopRequest asks the PBX to let a supervisor endpoint listen to, whisper
// into or barge into a leg.
type SnoopRequest struct {
	Target     LegRef
	Mode       SnoopMode
	Supervisor string // endpoint to ring for the supervisor
	Tag        string
}

// RecordRequest asks the PBX to record a bridge (preferred; on Asterisk a
// channel in a holding bridge cannot be recorded) or a leg.
type RecordRequest struct {
	Bridge BridgeRef
	Leg    LegRef
	// Name is the file name without extension; the PBX decides the directory
	// unless the adapter maps it with its storage root.
	Name   string
	Format string // wav, gsm, …
	// MaxDuration bounds the recording (0 = no bound).
	MaxDuration time.Duration
}

// Media is one prompt: Asterisk media URIs (sound:, digits:, number:,
// recording:) map one to one; FreeSWITCH maps sound: to a file path and
// number:/digits: to say phrases.
type Media struct {
	Kind  string `json:"kind"` // sound, number, digits, tone
	Value string `json:"value"`
}

// PBX is the port. Every method that talks to the PBX takes a context and
// must return within it: implementations bound every request.
type PBX interface {
	// Run connects and delivers events until ctx ends. It returns a clear
	// error when the PBX is unreachable at start (within the configured
	// connect timeout); after a successful start it keeps reconnecting and
	// reports the link through NodeState events.
	Run(ctx context.Context) error
	// Events is the ordered event stream. It is closed when Run returns.
	Events() <-chan Event

	Answer(ctx context.Context, leg LegRef) error
	Hangup(ctx context.Context, leg LegRef, cause int) error
	// Play plays prompts in order and returns an id for StopPlayback.
	Play(ctx context.Context, leg LegRef, media ...Media) (string, error)
	StopPlayback(ctx context.Context, leg LegRef, playbackID string) error
	// StartHold puts the leg on music on hold (class "" = default).
	StartHold(ctx context.Context, leg LegRef, class string) error
	StopHold(ctx context.Context, leg LegRef) error
	// Originate starts a new leg and returns its ref at once; answer, failure
	// and hangup come later as events carrying req.Tag.
	Originate(ctx context.Context, req OriginateRequest) (LegRef, error)
	// Bridge joins legs (all on one node) in a mixing bridge.
	Bridge(ctx context.Context, legs ...LegRef) (BridgeRef, error)
	// Record starts recording; StopRecording ends it; Pause/Resume mute the
	// recording (card details) without ending it.
	Record(ctx context.Context, req RecordRequest) (RecordingRef, error)
	StopRecording(ctx context.Context, rec RecordingRef) error
	PauseRecording(ctx context.Context, rec RecordingRef) error
	ResumeRecording(ctx context.Context, rec RecordingRef) error
	// Snoop lets a supervisor listen, whisper or barge.
	Snoop(ctx context.Context, req SnoopRequest) (LegRef, error)
	// SetVar sets a channel variable.
	SetVar(ctx context.Context, leg LegRef, name, value string) error
	// Continue hands the leg back to the PBX dialplan (fallbacks), at the
	// given context/extension when not empty.
	Continue(ctx context.Context, leg LegRef, dialplanContext, extension string) error
}

// Ready is implemented by adapters that can tell whether they may act now
// (connected and not in standby). /readyz uses it.
type Ready interface {
	Ready() (bool, string)
}

// Package recordings decides which calls are recorded and keeps everything
// switchboard knows about each recording: the policy per queue, the file
// name, the metadata filled from the PBX's own recording events, pause
// spans, reconciliation after a missed finish event, retention and purge.
// The PBX writes the audio; this package never touches media.
package recordings

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mode is how a queue's calls are recorded.
type Mode string

// Recording modes.
const (
	// ModeAlways records every bridged call.
	ModeAlways Mode = "always"
	// ModeNever records nothing (an on-demand start is refused).
	ModeNever Mode = "never"
	// ModeSampled records a fixed share of bridged calls, chosen by a hash
	// of the call id so that the same call always gets the same answer
	// (a restart or a second switchboard instance agrees).
	ModeSampled Mode = "sampled"
	// ModeOnDemand records only when an agent or supervisor starts it.
	ModeOnDemand Mode = "on_demand"
)

// Policy is one queue's recording policy.
type Policy struct {
	Mode Mode `yaml:"mode" json:"mode"`
	// Percent is the sampled share, 0–100 (ModeSampled only).
	Percent float64 `yaml:"percent" json:"percent,omitempty"`
	// Announce is played to the caller before recording starts (a PBX
	// sound name such as "this-call-may-be-recorded"; empty = none).
	Announce string `yaml:"announce" json:"announce,omitempty"`
	// RetentionDays sets each recording's retention date (0 = none: kept
	// until an explicit purge --older-than).
	RetentionDays int `yaml:"retention_days" json:"retention_days,omitempty"`
	// Format asks the PBX for a file format (empty = the adapter's default).
	Format string `yaml:"format" json:"format,omitempty"`
	// MaxDuration bounds one recording (0 = none).
	MaxDuration time.Duration `yaml:"max_duration" json:"max_duration,omitempty"`
}

// Validate says what is wrong with the policy, naming the field.
func (p Policy) Validate() error {
	switch p.Mode {
	case ModeAlways, ModeNever, ModeOnDemand:
		if p.Percent != 0 {
			return fmt.Errorf("percent: only for mode %q (mode is %q)", ModeSampled, p.Mode)
		}
	case ModeSampled:
		if !(p.Percent >= 0 && p.Percent <= 100) { // also rejects NaN
			return fmt.Errorf("percent: %v is not within 0–100", p.Percent)
		}
	case "":
		return fmt.Errorf("mode: missing (always, never, sampled or on_demand)")
	default:
		return fmt.Errorf("mode: %q is not always, never, sampled or on_demand", p.Mode)
	}
	if p.RetentionDays < 0 {
		return fmt.Errorf("retention_days: %d is negative", p.RetentionDays)
	}
	if p.MaxDuration < 0 {
		return fmt.Errorf("max_duration: %s is negative", p.MaxDuration)
	}
	if p.Format != "" && strings.Trim(p.Format, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		return fmt.Errorf("format: %q must be lower-case letters and digits (wav, gsm, mp3)", p.Format)
	}
	return nil
}

// Decision is what the policy says about one bridged call.
type Decision struct {
	Record bool
	// Reason is a short word for logs and metadata: always, sampled,
	// not-sampled, never, on-demand.
	Reason string
}

// Decide applies the policy to one call at bridge time. seed lets an
// operator change which calls a sampled policy picks without changing the
// share; the same (seed, callID) always gives the same answer.
func (p Policy) Decide(seed, callID string) Decision {
	switch p.Mode {
	case ModeAlways:
		return Decision{Record: true, Reason: "always"}
	case ModeSampled:
		if Sampled(seed, callID, p.Percent) {
			return Decision{Record: true, Reason: "sampled"}
		}
		return Decision{Record: false, Reason: "not-sampled"}
	case ModeOnDemand:
		return Decision{Record: false, Reason: "on-demand"}
	default:
		return Decision{Record: false, Reason: "never"}
	}
}

// Sampled reports whether callID falls inside a percent share. It maps
// SHA-256(seed, callID) onto [0, 10000) basis points, so shares are exact to
// 0.01 % and independent of how call ids are formed (sequential ids spread
// as well as random ones).
func Sampled(seed, callID string, percent float64) bool {
	if percent <= 0 {
		return false
	}
	if percent >= 100 {
		return true
	}
	h := sha256.New()
	h.Write([]byte(seed))
	h.Write([]byte{0})
	h.Write([]byte(callID))
	var sum [sha256.Size]byte
	v := binary.BigEndian.Uint64(h.Sum(sum[:0])[:8])
	bp := v % 10000
	return float64(bp) < percent*100
}

// String renders the policy for logs and `recordings policy`.
func (p Policy) String() string {
	s := string(p.Mode)
	if p.Mode == ModeSampled {
		s += " " + strconv.FormatFloat(p.Percent, 'f', -1, 64) + "%"
	}
	if p.Announce != "" {
		s += ", announce " + p.Announce
	}
	if p.RetentionDays > 0 {
		s += ", keep " + strconv.Itoa(p.RetentionDays) + "d"
	}
	return s
}

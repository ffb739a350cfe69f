package recordings

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/storage"
)

// ref returns the PBX's handle of a running recording: from memory, or
// rebuilt from the row after a restart.
func (s *Service) ref(r *storage.Recording) adapters.RecordingRef {
	s.mu.Lock()
	ref, ok := s.refs[r.ID]
	s.mu.Unlock()
	if ok {
		return ref
	}
	return adapters.RecordingRef{Node: r.Node, Name: r.PBXName}
}

func (s *Service) running(ctx context.Context, id string) (*storage.Recording, error) {
	r, err := s.store.Recording(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Status != storage.RecordingActive {
		return nil, fmt.Errorf("recording %s is %s: %w", id, r.Status, storage.ErrRecordingState)
	}
	return r, nil
}

// Pause mutes a running recording (card details) and stores the span's
// start with who and why. The PBX acts first: the span records what
// happened to the audio, never what was merely intended.
func (s *Service) Pause(ctx context.Context, id, by, reason string) (*storage.PauseSpan, error) {
	if strings.TrimSpace(by) == "" {
		return nil, fmt.Errorf("pause recording %s: %w: by is required", id, storage.ErrBadFilter)
	}
	r, err := s.running(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("pause recording %s: %w", id, err)
	}
	for _, p := range r.Pauses {
		if p.ResumedAt == nil {
			return nil, fmt.Errorf("pause recording %s: %w: already paused by %s", id, storage.ErrRecordingState, p.PausedBy)
		}
	}
	at := s.now()
	cctx, cancel := context.WithTimeout(ctx, s.cmdTO)
	err = s.pbx.PauseRecording(cctx, s.ref(r))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("pause recording %s on the PBX: %w", id, err)
	}
	span, err := s.store.StartPause(ctx, id, at, by, reason)
	if err != nil {
		s.log.Error("recording paused on the PBX but the pause span was not stored", "recording_id", id, "by", by, "err", err)
		return nil, err
	}
	s.log.Info("recording paused", "recording_id", id, "call_id", r.CallID, "by", by, "reason", reason)
	return span, nil
}

// Resume un-mutes a paused recording and closes the span.
func (s *Service) Resume(ctx context.Context, id, by string) (*storage.PauseSpan, error) {
	if strings.TrimSpace(by) == "" {
		return nil, fmt.Errorf("resume recording %s: %w: by is required", id, storage.ErrBadFilter)
	}
	r, err := s.running(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("resume recording %s: %w", id, err)
	}
	paused := false
	for _, p := range r.Pauses {
		if p.ResumedAt == nil {
			paused = true
		}
	}
	if !paused {
		return nil, fmt.Errorf("resume recording %s: %w: not paused", id, storage.ErrRecordingState)
	}
	at := s.now()
	cctx, cancel := context.WithTimeout(ctx, s.cmdTO)
	err = s.pbx.ResumeRecording(cctx, s.ref(r))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("resume recording %s on the PBX: %w", id, err)
	}
	span, err := s.store.EndPause(ctx, id, at, by)
	if err != nil {
		s.log.Error("recording resumed on the PBX but the pause span was not closed", "recording_id", id, "by", by, "err", err)
		return nil, err
	}
	s.log.Info("recording resumed", "recording_id", id, "call_id", r.CallID, "by", by)
	return span, nil
}

// Stop ends a running recording; the PBX's finish event fills the rest.
func (s *Service) Stop(ctx context.Context, id, by string) error {
	r, err := s.running(ctx, id)
	if err != nil {
		return fmt.Errorf("stop recording %s: %w", id, err)
	}
	cctx, cancel := context.WithTimeout(ctx, s.cmdTO)
	err = s.pbx.StopRecording(cctx, s.ref(r))
	cancel()
	if err != nil && !errors.Is(err, adapters.ErrUnknownLeg) {
		return fmt.Errorf("stop recording %s on the PBX: %w", id, err)
	}
	s.log.Info("recording stop requested", "recording_id", id, "call_id", r.CallID, "by", by)
	return nil
}

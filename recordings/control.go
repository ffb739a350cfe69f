package recordings

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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

// pauseView is what Pause and Resume act on: the running recording and
// its open pause span (nil if none). A recording this process runs is
// read from memory (its pause writes may still be in the journal: the
// database is not needed); an earlier run's is read from the database,
// after the journal is flushed so the read sees this process's own
// pause writes.
func (s *Service) pauseView(ctx context.Context, id string) (r *storage.Recording, open *storage.PauseSpan, mem bool, err error) {
	s.mu.Lock()
	cur, ok := s.rows[id]
	if ok {
		if sp, paused := s.open[id]; paused {
			open = &sp
		}
	}
	s.mu.Unlock()
	if ok {
		if cur.Status != storage.RecordingActive {
			return nil, nil, true, fmt.Errorf("recording %s is %s: %w", id, cur.Status, storage.ErrRecordingState)
		}
		return &cur, open, true, nil
	}
	fctx, cancel := context.WithTimeout(ctx, s.cmdTO)
	err = s.jr.Flush(fctx)
	cancel()
	if err != nil {
		return nil, nil, false, fmt.Errorf("recording %s: database not answering: %w", id, err)
	}
	r, err = s.running(ctx, id)
	if err != nil {
		return nil, nil, false, err
	}
	for i := range r.Pauses {
		if r.Pauses[i].ResumedAt == nil {
			open = &r.Pauses[i]
		}
	}
	return r, open, false, nil
}

// hold reserves a recording for one pause or resume at a time (the PBX
// command and the journal write of one must not interleave with
// another's), or says it is busy.
func (s *Service) hold(id string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pausing[id] {
		return nil, fmt.Errorf("recording %s: %w: a pause or resume is in progress", id, storage.ErrRecordingState)
	}
	s.pausing[id] = true
	return func() { s.mu.Lock(); delete(s.pausing, id); s.mu.Unlock() }, nil
}

// answer waits a little for a pause write to reach the database and
// fills in the span's id from it, so the answer is the stored span; with
// the database away it is the span as journalled (id 0), stored when
// the database is back.
func (s *Service) answer(ctx context.Context, span *storage.PauseSpan) {
	fctx, cancel := context.WithTimeout(ctx, startFlushWait)
	defer cancel()
	if err := s.jr.Flush(fctx); err != nil {
		s.log.Warn("pause span journalled; not in the database yet", "recording_id", span.RecordingID, "err", err)
		return
	}
	r, err := s.store.Recording(fctx, span.RecordingID)
	if err != nil {
		return
	}
	for _, p := range r.Pauses {
		if p.PausedAt.Equal(span.PausedAt) {
			span.ID = p.ID
		}
	}
}

// Pause mutes a running recording (card details) and stores the span's
// start with who and why. The PBX acts first: the span records what
// happened to the audio, never what was merely intended. The span goes
// through the journal, as every write of the service: with the database
// away the audio is muted and the span is stored when it is back, also
// after a restart.
func (s *Service) Pause(ctx context.Context, id, by, reason string) (*storage.PauseSpan, error) {
	if strings.TrimSpace(by) == "" {
		return nil, fmt.Errorf("pause recording %s: %w: by is required", id, storage.ErrBadFilter)
	}
	release, err := s.hold(id)
	if err != nil {
		return nil, fmt.Errorf("pause %w", err)
	}
	defer release()
	r, open, _, err := s.pauseView(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("pause recording %s: %w", id, err)
	}
	if open != nil {
		return nil, fmt.Errorf("pause recording %s: %w: already paused by %s", id, storage.ErrRecordingState, open.PausedBy)
	}
	// To the microsecond (the column's precision): a replay finds the
	// span by it, and the resume closes exactly this span.
	at := s.now().UTC().Truncate(time.Microsecond)
	cctx, cancel := context.WithTimeout(ctx, s.cmdTO)
	err = s.pbx.PauseRecording(cctx, s.ref(r))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("pause recording %s on the PBX: %w", id, err)
	}
	span := storage.PauseSpan{RecordingID: id, PausedAt: at, PausedBy: by, Reason: reason}
	s.mu.Lock()
	if _, ok := s.rows[id]; ok {
		s.open[id] = span
	}
	s.mu.Unlock()
	// Only while recording: a recording that ended meanwhile is not
	// paused after its end.
	s.jr.Append(storage.RecordingWrite{Seq: storage.NewID("rw-"), Row: storage.Recording{ID: id}, IfStatus: []string{storage.RecordingActive},
		OpenPause: &storage.PauseOpen{At: at, By: by, Reason: reason}})
	s.log.Info("recording paused", "recording_id", id, "call_id", r.CallID, "by", by, "reason", reason)
	s.answer(ctx, &span)
	return &span, nil
}

// Resume un-mutes a paused recording and closes the span (through the
// journal, as Pause).
func (s *Service) Resume(ctx context.Context, id, by string) (*storage.PauseSpan, error) {
	if strings.TrimSpace(by) == "" {
		return nil, fmt.Errorf("resume recording %s: %w: by is required", id, storage.ErrBadFilter)
	}
	release, err := s.hold(id)
	if err != nil {
		return nil, fmt.Errorf("resume %w", err)
	}
	defer release()
	r, open, _, err := s.pauseView(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("resume recording %s: %w", id, err)
	}
	if open == nil {
		return nil, fmt.Errorf("resume recording %s: %w: not paused", id, storage.ErrRecordingState)
	}
	at := s.now().UTC().Truncate(time.Microsecond)
	if at.Before(open.PausedAt) {
		at = open.PausedAt
	}
	cctx, cancel := context.WithTimeout(ctx, s.cmdTO)
	err = s.pbx.ResumeRecording(cctx, s.ref(r))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("resume recording %s on the PBX: %w", id, err)
	}
	span := *open
	span.ResumedAt, span.ResumedBy = &at, by
	s.mu.Lock()
	delete(s.open, id)
	s.mu.Unlock()
	from := open.PausedAt
	s.jr.Append(storage.RecordingWrite{Seq: storage.NewID("rw-"), Row: storage.Recording{ID: id},
		ClosePauseAt: &at, ClosePauseBy: by, ClosePauseFrom: &from})
	s.log.Info("recording resumed", "recording_id", id, "call_id", r.CallID, "by", by)
	s.answer(ctx, &span)
	return &span, nil
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

package storage

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// JournalApplier is a journal record that writes itself inside the
// journal's transaction instead of being upserted whole: for rows other
// owners also write (a recording's reviewer columns). Records of such a
// type are applied one by one in append order, never merged by key, and
// ApplyJournal must be idempotent: the journal replays what was committed
// but not checkpointed.
type JournalApplier interface {
	Record
	ApplyJournal(tx *gorm.DB) error
}

// RecordingWrite is one write of the recordings service to a recording
// row, carried by the journal so it survives a database outage and a
// restart during one. It touches only the columns the service owns (the
// PBX's facts and the recording's state); tags, legal hold, evaluations,
// retention changes and pauses written by others are never overwritten.
//
// A write either creates the row (Create: insert, an existing row is left
// alone) or updates Columns of it to the values in Row. The row is named
// by Row.ID, or — for a PBX event about a recording this process does not
// hold in memory (started by an earlier run) — by Node and PBXName (the
// name or its stem, newest row). IfStatus, when set, applies the update
// only to a row in one of those states, so a write decided on an older
// view (reconciliation, a late start event) never undoes a later one.
type RecordingWrite struct {
	Seq     string    `json:"seq"` // unique per write: the journal key
	Create  bool      `json:"create,omitempty"`
	Row     Recording `json:"row"`
	Columns []string  `json:"cols,omitempty"`
	// Node and PBXName find the row when Row.ID is empty.
	Node     string   `json:"node,omitempty"`
	PBXName  string   `json:"pbx_name,omitempty"`
	IfStatus []string `json:"if_status,omitempty"`
	// Finish asks the write to settle the duration from the stored row:
	// PBXDuration (the PBX's figure, 0 if none) against the span from the
	// row's start to Row.EndedAt (see RecordingDuration).
	Finish      bool          `json:"finish,omitempty"`
	PBXDuration time.Duration `json:"pbx_duration,omitempty"`
	// ClosePauseAt, when set, closes the row's open pause span (if any)
	// at that moment (never before the pause began) by ClosePauseBy, and
	// adds it to the paused total: a recording that ends while paused.
	// It goes with the end's own write, so the span is closed exactly
	// when the end is applied — also after a database outage or a
	// restart — and never twice (a replay finds no open span).
	ClosePauseAt *time.Time `json:"close_pause_at,omitempty"`
	ClosePauseBy string     `json:"close_pause_by,omitempty"`
	// ClosePauseFrom, with ClosePauseAt, closes only the open span that
	// began at that moment (a resume closes the pause it ends): a replay
	// after a later pause was opened never closes the later one.
	ClosePauseFrom *time.Time `json:"close_pause_from,omitempty"`
	// OpenPause opens a pause span (agent or supervisor pause, after the
	// PBX muted the audio) unless the row has an open span already or a
	// span beginning at that moment (a replay): at most one open span, and
	// never two of one pause. With IfStatus it opens only in those states
	// (a recording that ended meanwhile is not paused after its end).
	OpenPause *PauseOpen `json:"open_pause,omitempty"`
}

// PauseOpen is the span a RecordingWrite opens: when (to the
// microsecond, the column's precision, so a replay finds it again), who
// and why.
type PauseOpen struct {
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Reason string    `json:"reason"`
}

// JournalKey implements Record: every write is its own record.
func (w RecordingWrite) JournalKey() string { return "recording_writes/" + w.Seq }

// recordingColumns are the columns a RecordingWrite may update: the
// service's own. Anything else in Columns is refused at apply time.
var recordingColumns = map[string]bool{
	"node": true, "pbx_name": true, "path": true, "uri": true, "format": true, "started_at": true, "ended_at": true,
	"duration_ms": true, "size_bytes": true, "checksum": true, "status": true, "error": true, "note": true,
	"retention_until": true,
}

// ApplyJournal implements JournalApplier.
func (w RecordingWrite) ApplyJournal(tx *gorm.DB) error {
	r := w.Row
	now := time.Now().UTC()
	r.StartedAt = r.StartedAt.UTC()
	r.Error = recTrunc(r.Error, 255)
	r.Note = recTrunc(r.Note, 255)
	if w.Create {
		if r.ID == "" {
			return nil // not applicable; nothing to create
		}
		if r.Status == "" {
			r.Status = RecordingActive
		}
		if r.CreatedAt.IsZero() {
			r.CreatedAt = now
		}
		r.UpdatedAt = now
		r.Tags, r.Pauses = nil, nil
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&r).Error; err != nil {
			return fmt.Errorf("create recording %s: %w", r.ID, err)
		}
		return nil
	}
	// Only the service's own columns: a write never reaches the others
	// (an error here would hold every later record behind it for good).
	cols := make([]string, 0, len(w.Columns)+3)
	for _, c := range w.Columns {
		if recordingColumns[c] {
			cols = append(cols, c)
		}
	}
	var cur Recording
	q := tx.Model(&Recording{})
	if r.ID != "" {
		q = q.Where("id = ?", r.ID)
	} else {
		stem := strings.TrimSuffix(path.Base(w.PBXName), path.Ext(w.PBXName))
		q = q.Where("node = ? AND pbx_name IN ?", w.Node, []string{w.PBXName, stem}).Order("created_at DESC")
	}
	if len(w.IfStatus) > 0 {
		q = q.Where("status IN ?", w.IfStatus)
	}
	if err := q.Take(&cur).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil // gone, or in a state this write must not touch
		}
		return fmt.Errorf("recording write %s: %w", w.Seq, err)
	}
	if w.Finish && r.EndedAt != nil {
		var note string
		r.DurationMS, note = RecordingDuration(cur.StartedAt, *r.EndedAt, w.PBXDuration)
		cols = append(cols, "duration_ms")
		if note != "" {
			r.Note = note
			cols = append(cols, "note")
		}
	}
	if w.OpenPause != nil {
		if err := openPause(tx, cur.ID, *w.OpenPause); err != nil {
			return fmt.Errorf("recording write %s to %s: %w", w.Seq, cur.ID, err)
		}
	}
	if w.ClosePauseAt != nil {
		if err := closeOpenPause(tx, cur.ID, *w.ClosePauseAt, w.ClosePauseBy, w.ClosePauseFrom); err != nil {
			return fmt.Errorf("recording write %s to %s: %w", w.Seq, cur.ID, err)
		}
	}
	if len(cols) == 0 {
		return nil
	}
	cols = append(cols, "updated_at")
	r.ID = cur.ID
	r.UpdatedAt = now
	if err := tx.Model(&Recording{}).Where("id = ?", cur.ID).Select(cols).Updates(&r).Error; err != nil {
		return fmt.Errorf("recording write %s to %s: %w", w.Seq, cur.ID, err)
	}
	for _, c := range cols {
		if c == "started_at" {
			// Tags keep a copy of the start for their time-ordered index.
			if err := tx.Model(&RecordingTag{}).Where("recording_id = ? AND started_at <> ?", cur.ID, r.StartedAt).Update("started_at", r.StartedAt).Error; err != nil {
				return fmt.Errorf("recording write %s to %s: tags: %w", w.Seq, cur.ID, err)
			}
		}
	}
	return nil
}

// openPause opens a pause span on recording id unless one is open or one
// began at p.At already (a replay of this write): with either it does
// nothing, so a replay is harmless and an error never holds the journal.
func openPause(tx *gorm.DB, id string, p PauseOpen) error {
	at := p.At.UTC().Truncate(time.Microsecond)
	var n int64
	if err := tx.Model(&PauseSpan{}).Where("recording_id = ? AND (resumed_at IS NULL OR paused_at = ?)", id, at).Count(&n).Error; err != nil {
		return fmt.Errorf("open pause: %w", err)
	}
	if n > 0 {
		return nil
	}
	span := PauseSpan{RecordingID: id, PausedAt: at, PausedBy: recTrunc(p.By, 128), Reason: recTrunc(p.Reason, 255)}
	if err := tx.Create(&span).Error; err != nil {
		return fmt.Errorf("open pause: %w", err)
	}
	if err := tx.Model(&Recording{}).Where("id = ?", id).Update("updated_at", time.Now().UTC()).Error; err != nil {
		return fmt.Errorf("open pause: %w", err)
	}
	return nil
}

// closeOpenPause closes recording id's open pause span (the one that
// began at from, when given) at at (or at its start, if that is later)
// and adds it to the paused total; with no such open span it does
// nothing, which makes a replay harmless.
func closeOpenPause(tx *gorm.DB, id string, at time.Time, by string, from *time.Time) error {
	var span PauseSpan
	q := tx.Where("recording_id = ? AND resumed_at IS NULL", id)
	if from != nil {
		q = q.Where("paused_at = ?", from.UTC().Truncate(time.Microsecond))
	}
	if err := q.Order("id DESC").Take(&span).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil
		}
		return fmt.Errorf("open pause: %w", err)
	}
	at = at.UTC()
	if at.Before(span.PausedAt) {
		at = span.PausedAt
	}
	if err := tx.Model(&PauseSpan{}).Where("id = ? AND resumed_at IS NULL", span.ID).
		Updates(map[string]any{"resumed_at": at, "resumed_by": recTrunc(by, 128)}).Error; err != nil {
		return fmt.Errorf("close pause %d: %w", span.ID, err)
	}
	if err := tx.Model(&Recording{}).Where("id = ?", id).
		Update("paused_ms", gorm.Expr("paused_ms + ?", at.Sub(span.PausedAt).Milliseconds())).Error; err != nil {
		return fmt.Errorf("paused total: %w", err)
	}
	return nil
}

// RecordingDuration settles a finished recording's length: the PBX's own
// figure when it reports one, else the span between start and end. A PBX
// figure longer than the span (with 2 s of slack for whole-second figures
// and clock skew) cannot be right: the span is kept and note says why.
func RecordingDuration(started, ended time.Time, pbx time.Duration) (ms int64, note string) {
	span := ended.Sub(started)
	switch {
	case pbx > 0 && span > 0 && pbx > span+2*time.Second:
		return span.Milliseconds(), fmt.Sprintf("pbx reported %s for a %s recording; event span used", pbx, span.Round(time.Millisecond))
	case pbx > 0:
		return pbx.Milliseconds(), ""
	case span > 0:
		return span.Milliseconds(), ""
	}
	return 0, ""
}

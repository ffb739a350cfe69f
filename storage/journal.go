package storage

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Journal is the write-behind path between the call flow and the database.
//
// Design (log, then apply): Append encodes the record into an in-memory
// staging buffer and returns. Two goroutines started by Run do the rest:
//
//   - the logger appends staged records to a local append-only segment file
//     and fsyncs it: FlushInterval after the first record staged since
//     the last fsync (group commit: one fsync for every record appended
//     meanwhile), at once for Flush or past MemoryLimit;
//   - the applier reads batches back from the log and upserts them into
//     the database, one transaction each, moving a checkpoint forward. It
//     gathers for ApplyInterval after the log grew (or until BatchSize
//     records wait, or a Flush) before a transaction, so a busy floor
//     costs a few transactions a second rather than one per record.
//
// They are separate so a database that hangs (rather than refuses) never
// holds records in memory: the log keeps being written and fsynced while
// the applier waits on the database.
//
//   - The caller never waits on the database, and only on memory in
//     Append: routing goes on while the database is down or hung.
//   - Memory is bounded: what is not yet in the database lives in the log
//     file, not in RAM, however long the outage ("spilling" is the normal
//     path). Only the staging buffer sits in memory, for at most one
//     FlushInterval; past MemoryLimit bytes Append writes the file itself.
//   - Records are upserts keyed by their JournalKey, so replaying a batch
//     that was committed but not checkpointed (a crash between the two)
//     writes the same rows again and never duplicates. Within a batch the
//     last version of a key wins, and batches apply in append order.
//   - Durability window: a record is on local disk within FlushInterval of
//     Append (10 ms by default). `kill -9` loses at most that window;
//     everything fsynced is replayed at the next start. The database
//     follows within about FlushInterval+ApplyInterval (110 ms) while it
//     answers; Flush skips both waits.
//   - The checkpoint is rewritten at most every CheckpointInterval (and
//     at the end of Run), except after a batch holding JournalApplier
//     records (partial writes, which other owners' writes can meet on a
//     replay): a kill -9 replays up to that much already-committed log,
//     which rewrites the same rows (upserts in log order end at the last
//     version).
type Journal struct {
	store *Store
	opts  JournalOptions
	log   *slog.Logger
	types map[string]reflect.Type

	mu       sync.Mutex
	fileMu   sync.Mutex // serialises log writes; never held with mu across I/O
	staged   bytes.Buffer
	stagedN  int64
	appended int64 // records appended since start (incl. replayed backlog)
	logged   int64 // records fsynced to the log (incl. replayed backlog)
	skipped  int64 // corrupt log lines passed over
	segNum   int   // segment being written (under mu; changed by the logger)
	// bytes of log written (incl. backlog at start) and consumed by the
	// applier: their difference is the backlog on disk.
	loggedBytes, appliedBytes int64
	// marks are (records appended up to, time of the first of them),
	// coalesced to one a second, so Stats can tell the age of the oldest
	// record not yet in the database.
	marks []ageMark
	stats JournalStats

	wakeLog   chan struct{}
	wakeApply chan struct{}
	// stagedAt is when the first record now staged was appended (under
	// mu; zero with nothing staged): the logger fsyncs FlushInterval after.
	stagedAt time.Time
	// flushWant is the highest record count a Flush waits for (under mu):
	// while logged or applied is below it, the loops skip their gathering.
	flushWant int64
	// loggerTurns and applierTurns count the two loops' wake-ups (tests:
	// an idle journal must not wake on a timer).
	loggerTurns, applierTurns atomic.Int64
	// logWrites and dbBatches count log write+fsyncs and database
	// transactions (tests: records are grouped into few of each).
	logWrites, dbBatches atomic.Int64

	// logger-owned
	seg     *os.File
	segSize int64

	// applier-owned
	cursorSeg int           // segment the DB cursor reads
	cursorOff int64         // offset in it of the first uncommitted record
	rd        *bufio.Reader // reused for every batch (reset on each file)
	// checkpointAt is when the checkpoint was last written; checkpointDirty
	// says the cursor moved since.
	checkpointAt    time.Time
	checkpointDirty bool

	done chan struct{}
}

type ageMark struct {
	upTo int64
	at   time.Time
}

// JournalOptions tune the journal.
type JournalOptions struct {
	// Dir holds the log segments and the checkpoint (created if missing).
	Dir string
	// MemoryLimit bounds the staging buffer in bytes (default 8 MiB).
	MemoryLimit int
	// BatchSize is the most records per database transaction (default 500).
	BatchSize int
	// FlushInterval is the longest a record stays in memory before it is
	// fsynced to the log (default 10 ms). The logger waits that long after
	// the first record staged, so one fsync covers every record appended
	// meanwhile.
	FlushInterval time.Duration
	// ApplyInterval is how long the applier gathers log after it grew
	// before one database transaction, unless BatchSize records wait or a
	// Flush asks (default 100 ms): the database lags the log by about that
	// much more, durability is unchanged (the log is the durability point).
	ApplyInterval time.Duration
	// CheckpointInterval is the most often the applied position is
	// rewritten (default 1 s; also at the end of Run, and after every batch
	// holding partial writes). A stale checkpoint replays committed
	// upserts, which rewrites the same rows.
	CheckpointInterval time.Duration
	// SegmentSize rotates the log file past this many bytes (default 64 MiB).
	SegmentSize int64
	// HealthInterval is how often an idle applier pings the database so
	// Stats shows its state even with nothing to write (default 2 s).
	HealthInterval time.Duration
	// Types registers record types from other packages (callbacks,
	// recordings): each value is a zero record whose JournalKey prefix
	// (before the first "/") names its table.
	Types []Record
}

// JournalStats is what health checks and /metrics show.
type JournalStats struct {
	Pending int64 `json:"pending"` // appended, not yet in the database
	// Unsynced are appended records not yet fsynced to the local log.
	Unsynced int64 `json:"unsynced"`
	// Spilled is the bytes of local log not yet applied to the database.
	Spilled int64 `json:"spilled_bytes"`
	// OldestPendingSeconds is the age of the oldest record not yet in the
	// database (0 with none pending).
	OldestPendingSeconds float64   `json:"oldest_pending_seconds"`
	Written              int64     `json:"written"`    // records applied to the database since start
	DBUp                 bool      `json:"db_up"`      // last database write or ping succeeded
	LastError            string    `json:"last_error"` // last database error ("" once it answers again)
	LastWriteAt          time.Time `json:"last_write_at"`
	Replayed             int64     `json:"replayed"` // records found in the log at start
	Skipped              int64     `json:"skipped"`  // corrupt log lines passed over
}

// ErrJournalClosed is returned by Flush after Run has ended.
var ErrJournalClosed = errors.New("journal closed")

type logLine struct {
	Key string          `json:"k"`
	Val json.RawMessage `json:"v"`
}

// NewJournal opens (or creates) the journal in opts.Dir and counts the
// backlog left by a previous run, which Run replays first.
func NewJournal(store *Store, opts JournalOptions, log *slog.Logger) (*Journal, error) {
	if log == nil {
		log = slog.Default()
	}
	if opts.Dir == "" {
		return nil, errors.New("journal: Dir is required")
	}
	if opts.MemoryLimit <= 0 {
		opts.MemoryLimit = 8 << 20
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 10 * time.Millisecond
	}
	if opts.ApplyInterval <= 0 {
		opts.ApplyInterval = 100 * time.Millisecond
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = time.Second
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = 64 << 20
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = 2 * time.Second
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("journal dir %s: %w", opts.Dir, err)
	}
	j := &Journal{store: store, opts: opts, log: log.With("component", "journal"), types: map[string]reflect.Type{},
		wakeLog: make(chan struct{}, 1), wakeApply: make(chan struct{}, 1), done: make(chan struct{})}
	for _, r := range []Record{Call{}, Leg{}, QueueWait{}, AgentStateChange{}, Agent{}, Queue{}, RecordingWrite{}} {
		j.register(r)
	}
	for _, r := range opts.Types {
		j.register(r)
	}
	segs, err := j.segments()
	if err != nil {
		return nil, err
	}
	j.cursorSeg, j.cursorOff = j.readCheckpoint()
	if len(segs) > 0 && j.cursorSeg < segs[0] {
		j.cursorSeg, j.cursorOff = segs[0], 0
	}
	// Count the backlog so Pending and Flush are right from the start.
	var oldest time.Time
	for _, n := range segs {
		if n < j.cursorSeg {
			continue
		}
		off := int64(0)
		if n == j.cursorSeg {
			off = j.cursorOff
		}
		c, size, err := countLines(j.segPath(n), off)
		if err != nil {
			return nil, fmt.Errorf("journal backlog %s: %w", j.segPath(n), err)
		}
		if c > 0 && oldest.IsZero() {
			if st, err := os.Stat(j.segPath(n)); err == nil {
				oldest = st.ModTime()
			}
		}
		j.appended += c
		j.stats.Replayed += c
		j.loggedBytes += size - off
	}
	j.logged = j.appended
	if j.appended > 0 {
		j.marks = append(j.marks, ageMark{upTo: j.appended, at: oldest})
	}
	j.segNum = 1
	if len(segs) > 0 {
		j.segNum = segs[len(segs)-1] + 1
	}
	if len(segs) == 0 {
		j.cursorSeg, j.cursorOff = j.segNum, 0
	}
	f, err := os.OpenFile(j.segPath(j.segNum), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal segment: %w", err)
	}
	j.seg = f
	if j.stats.Replayed > 0 {
		j.log.Info("journal backlog from a previous run will be replayed", "records", j.stats.Replayed)
	}
	return j, nil
}

func (j *Journal) register(r Record) {
	k := r.JournalKey()
	table, _, _ := strings.Cut(k, "/")
	t := reflect.TypeOf(r)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	j.types[table] = t
}

// Append queues a record for the database. It never waits on the
// database, nor on the disk (unless the logger is MemoryLimit behind); the
// record is on local disk within FlushInterval.
func (j *Journal) Append(rec Record) {
	b, err := json.Marshal(rec)
	if err != nil {
		j.log.Error("journal: record not encodable, dropped", "key", rec.JournalKey(), "err", err)
		return
	}
	line, _ := json.Marshal(logLine{Key: rec.JournalKey(), Val: b})
	j.mu.Lock()
	first := j.stagedN == 0
	now := time.Now()
	if first {
		j.stagedAt = now
	}
	j.staged.Write(line)
	j.staged.WriteByte('\n')
	j.stagedN++
	j.appended++
	if n := len(j.marks); n == 0 || now.Sub(j.marks[n-1].at) >= time.Second {
		j.marks = append(j.marks, ageMark{upTo: j.appended, at: now})
	} else {
		j.marks[n-1].upTo = j.appended
	}
	over := j.staged.Len() > j.opts.MemoryLimit
	j.mu.Unlock()
	if over {
		// The logger is behind on local disk: do not grow memory further.
		if err := j.writeStaged(); err != nil {
			j.log.Error("journal: local log write failed", "err", err)
		}
	}
	if first {
		// Only the first record of a group wakes the logger (which then
		// waits out FlushInterval): the others ride on its fsync.
		select {
		case j.wakeLog <- struct{}{}:
		default:
		}
	}
}

// Stats returns a snapshot of the journal's state.
func (j *Journal) Stats() JournalStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.stats
	s.Skipped = j.skipped
	s.Pending = max(j.appended-j.stats.Written-j.skipped, 0)
	s.Unsynced = j.appended - j.logged
	s.Spilled = max(j.loggedBytes-j.appliedBytes, 0)
	done := j.stats.Written + j.skipped
	for _, m := range j.marks {
		if m.upTo > done {
			s.OldestPendingSeconds = max(time.Since(m.at).Seconds(), 0)
			break
		}
	}
	return s
}

// Flush waits until every record appended before the call is in the
// database, or ctx ends.
func (j *Journal) Flush(ctx context.Context) error {
	j.mu.Lock()
	target := j.appended
	j.flushWant = max(j.flushWant, target)
	j.mu.Unlock()
	// Both loops skip their gathering for what Flush waits for.
	for _, c := range []chan struct{}{j.wakeLog, j.wakeApply} {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		j.mu.Lock()
		w := j.stats.Written + j.skipped
		last := j.stats.LastError
		j.mu.Unlock()
		if w >= target {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("journal flush: %d records not yet in the database (last error: %s): %w", target-w, last, ctx.Err())
		case <-j.done:
			j.mu.Lock()
			w = j.stats.Written + j.skipped
			j.mu.Unlock()
			if w >= target {
				return nil
			}
			return ErrJournalClosed
		case <-t.C:
		}
	}
}

// Run writes the log and the database until ctx ends, then makes what is
// staged durable on local disk and tries a last database write (for up to
// 5 s; what is left is replayed at the next start).
func (j *Journal) Run(ctx context.Context) error {
	defer close(j.done)
	logged := make(chan error, 1)
	go func() { logged <- j.runLogger(ctx) }()
	j.runApplier(ctx)
	err := <-logged
	// The logger has made everything staged durable: a last write.
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	for j.applyBatch(fctx) > 0 {
	}
	cancel()
	if j.checkpointDirty {
		j.writeCheckpoint()
	}
	return err
}

// runLogger fsyncs staged records to the log until ctx ends, then once more.
// The first record staged since the last fsync wakes it; it then waits out
// FlushInterval from that record's Append (group commit: the records
// appended meanwhile share the one write and fsync, instead of an fsync
// for nearly every record on a busy floor), or less when a Flush waits.
// It sleeps while nothing is staged: a ticker here woke an idle process
// 100 times a second. A failed write (disk full, say: the records are put
// back in staging) is retried every FlushInterval until it succeeds.
func (j *Journal) runLogger(ctx context.Context) error {
	defer j.seg.Close()
	var retry <-chan time.Time
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	defer gather.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := j.writeStaged(); err != nil {
				return fmt.Errorf("journal: final local write: %w", err)
			}
			return nil
		case <-retry:
			retry = nil
		case <-j.wakeLog:
		case <-gather.C:
		}
		j.loggerTurns.Add(1)
		j.mu.Lock()
		n, at, urgent := j.stagedN, j.stagedAt, j.logged < j.flushWant
		j.mu.Unlock()
		if n == 0 || retry != nil {
			continue // nothing staged, or a failed write waits for its retry
		}
		if wait := j.opts.FlushInterval - time.Since(at); wait > 0 && !urgent {
			gather.Reset(wait)
			continue
		}
		if err := j.writeStaged(); err != nil {
			j.log.Error("journal: local log write failed", "err", err)
			retry = time.After(j.opts.FlushInterval)
		}
	}
}

// runApplier writes the log to the database until ctx ends, backing off
// while the database refuses, and pings it when idle. The logger wakes it
// whenever it wrote to the log; it then gathers for ApplyInterval (unless
// BatchSize records wait or a Flush does) so one transaction takes what
// the logger wrote meanwhile: a transaction per fsync was most of a busy
// switchboard's CPU. Otherwise it sleeps until the next thing due — the
// end of a gathering or of a backoff, a checkpoint due, or the next
// health ping — rather than ticking every FlushInterval (which woke an
// idle process 100 times a second to find nothing to do).
func (j *Journal) runApplier(ctx context.Context) {
	timer := time.NewTimer(0) // the first turn applies a backlog left by the last run at once
	defer timer.Stop()
	backoff := time.Duration(0)
	var retryAt, gatherUntil time.Time
	due, first := true, true   // the backlog at start, and after a backoff, is applied at once
	lastContact := time.Time{} // last time the database answered or refused
	for {
		if time.Since(lastContact) >= j.opts.HealthInterval && !time.Now().Before(retryAt) {
			j.ping(ctx)
			lastContact = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-j.wakeApply:
		}
		j.applierTurns.Add(1)
		if now := time.Now(); !now.Before(retryAt) && j.backlogOnDisk() {
			if !due && gatherUntil.IsZero() {
				gatherUntil = now.Add(j.opts.ApplyInterval)
			}
			if due || !now.Before(gatherUntil) || j.applyNow() {
				due, gatherUntil = false, time.Time{}
				for ctx.Err() == nil {
					n := j.applyBatch(ctx)
					if n != 0 {
						lastContact = time.Now()
					}
					if n < 0 {
						// Database down: back off, records stay in the log.
						if backoff == 0 {
							backoff = 100 * time.Millisecond
						} else if backoff < 5*time.Second {
							backoff *= 2
						}
						retryAt = time.Now().Add(backoff)
						due = true
						break
					}
					backoff = 0
					if n < j.opts.BatchSize {
						break
					}
				}
			}
		}
		if first {
			// The start's backlog is applied; news from the logger gathers.
			first, due = false, due && retryAt.After(time.Now())
		}
		if j.checkpointDirty && time.Since(j.checkpointAt) >= j.opts.CheckpointInterval {
			j.writeCheckpoint()
		}
		// Next wake without news from the logger: a backoff's end (the
		// backlog is retried then, and the ping waits for it), else the
		// end of a gathering, a checkpoint due, or the next health ping.
		next := lastContact.Add(j.opts.HealthInterval)
		if now := time.Now(); retryAt.After(now) {
			next = retryAt
		} else if !gatherUntil.IsZero() && gatherUntil.Before(next) {
			next = gatherUntil
		}
		if at := j.checkpointAt.Add(j.opts.CheckpointInterval); j.checkpointDirty && at.Before(next) {
			next = at
		}
		timer.Reset(time.Until(next))
	}
}

// applyNow reports whether the applier should not wait for more log: a
// full batch waits, or a Flush waits for records not yet applied.
func (j *Journal) applyNow() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	done := j.stats.Written + j.skipped
	return j.logged-done >= int64(j.opts.BatchSize) || j.flushWant > done
}

// backlogOnDisk reports whether fsynced log is waiting for the database.
func (j *Journal) backlogOnDisk() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.loggedBytes > j.appliedBytes
}

// ping checks the database answers, for Stats when there is nothing to write.
func (j *Journal) ping(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := j.store.Ping(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err != nil {
		if j.stats.DBUp || j.stats.LastError == "" {
			j.log.Warn("journal: database does not answer", "err", err)
		}
		j.stats.DBUp, j.stats.LastError = false, err.Error()
		return
	}
	if !j.stats.DBUp && j.stats.LastError != "" {
		j.log.Info("journal: database answers again")
	}
	j.stats.DBUp, j.stats.LastError = true, ""
}

// writeStaged moves staged records to the log file and fsyncs. The staging
// buffer is swapped out under mu and written outside it, so Append never
// waits for the disk.
func (j *Journal) writeStaged() error {
	j.fileMu.Lock()
	defer j.fileMu.Unlock()
	j.mu.Lock()
	if j.staged.Len() == 0 {
		j.mu.Unlock()
		return nil
	}
	buf := make([]byte, j.staged.Len())
	copy(buf, j.staged.Bytes())
	n := j.stagedN
	j.staged.Reset()
	j.stagedN = 0
	j.stagedAt = time.Time{}
	j.mu.Unlock()
	if _, err := j.seg.Write(buf); err != nil {
		// Keep the records (disk full, say): cut off what part of them
		// got written, so the retry does not leave a torn line in the
		// middle of the log, and put them back in front of what came since.
		_ = j.seg.Truncate(j.segSize)
		j.restage(buf, n)
		return err
	}
	j.segSize += int64(len(buf))
	syncErr := j.seg.Sync()
	j.logWrites.Add(1)
	// Written is readable by the applier whether or not fsync succeeded;
	// a failed fsync is reported, and durability of these records across
	// a power cut is then not known.
	j.mu.Lock()
	j.logged += n
	j.loggedBytes += int64(len(buf))
	j.mu.Unlock()
	// The applier sleeps until woken: wake it for what it can now read,
	// fsynced or not.
	select {
	case j.wakeApply <- struct{}{}:
	default:
	}
	if syncErr != nil {
		return fmt.Errorf("fsync %s: %w", j.seg.Name(), syncErr)
	}
	if j.segSize >= j.opts.SegmentSize {
		f, err := os.OpenFile(j.segPath(j.segNum+1), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		j.seg.Close()
		j.seg = f
		j.segSize = 0
		j.mu.Lock()
		j.segNum++
		j.mu.Unlock()
	}
	return nil
}

func (j *Journal) restage(buf []byte, n int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	rest := append(buf, j.staged.Bytes()...)
	j.staged.Reset()
	j.staged.Write(rest)
	if j.stagedN == 0 {
		j.stagedAt = time.Now()
	}
	j.stagedN += n
}

// applyBatch reads up to BatchSize records from the cursor and upserts
// them in one transaction. It returns the number applied, or -1 when the
// database refused.
func (j *Journal) applyBatch(ctx context.Context) int {
	j.mu.Lock()
	curSeg := j.segNum
	j.mu.Unlock()
	var (
		lines   []logLine
		endOff  int64
		endSeg  = j.cursorSeg
		skipped int64
		nbytes  int64
	)
	for seg := j.cursorSeg; seg <= curSeg && len(lines) < j.opts.BatchSize; seg++ {
		off := int64(0)
		if seg == j.cursorSeg {
			off = j.cursorOff
		}
		if j.rd == nil {
			j.rd = bufio.NewReaderSize(nil, 256<<10)
		}
		got, next, bad, err := readLines(j.rd, j.segPath(seg), off, j.opts.BatchSize-len(lines), j.log)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			j.log.Error("journal: reading the log", "segment", seg, "err", err)
			return -1
		}
		lines = append(lines, got...)
		skipped += bad
		nbytes += next - off
		endSeg, endOff = seg, next
		if len(lines) >= j.opts.BatchSize {
			break
		}
	}
	if len(lines) == 0 {
		j.advance(endSeg, endOff, curSeg, 0, skipped, nbytes, false)
		return 0
	}
	partial, err := j.apply(ctx, lines)
	if err != nil {
		if ctx.Err() != nil {
			return -1
		}
		j.mu.Lock()
		if j.stats.DBUp || j.stats.LastError == "" {
			j.log.Warn("journal: database write failed; records kept in the local log", "err", err, "pending", j.appended-j.stats.Written)
		}
		j.stats.DBUp = false
		j.stats.LastError = err.Error()
		j.mu.Unlock()
		return -1
	}
	j.advance(endSeg, endOff, curSeg, int64(len(lines)), skipped, nbytes, partial)
	return len(lines)
}

// advance moves the cursor past what was applied (partial: the batch held
// JournalApplier records).
func (j *Journal) advance(seg int, off int64, curSeg int, n, skipped, nbytes int64, partial bool) {
	// Segments wholly applied and no longer written are removed. A torn
	// last line (a crash mid-write) in an older segment is passed over:
	// nothing is appended to that segment any more.
	for s := j.cursorSeg; s < seg; s++ {
		os.Remove(j.segPath(s))
	}
	if seg < curSeg {
		if size, err := fileSize(j.segPath(seg)); err == nil && off >= size {
			os.Remove(j.segPath(seg))
			seg, off = seg+1, 0
		}
	}
	moved := seg != j.cursorSeg || off != j.cursorOff
	j.cursorSeg, j.cursorOff = seg, off
	if n > 0 || moved {
		j.checkpointDirty = true
		// Rewriting the checkpoint after every batch was a sixth of a
		// busy journal's CPU; a stale one only replays committed upserts.
		// Partial writes are checkpointed at once all the same: their
		// replay could meet another owner's later write (a create
		// replayed after a purge would bring the row back).
		if partial || time.Since(j.checkpointAt) >= j.opts.CheckpointInterval {
			j.writeCheckpoint()
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.skipped += skipped
	j.appliedBytes += nbytes
	if n > 0 {
		if !j.stats.DBUp && j.stats.LastError != "" {
			j.log.Info("journal: database reachable again; backlog applied in order")
		}
		j.stats.Written += n
		j.stats.LastWriteAt = time.Now()
		j.stats.LastError = ""
		j.stats.DBUp = true
	}
	done := j.stats.Written + j.skipped
	i := 0
	for i < len(j.marks)-1 && j.marks[i].upTo <= done {
		i++
	}
	j.marks = j.marks[i:]
}

// apply upserts records, last version per key, grouped by table, in order
// of each table's first appearance. partial says JournalApplier records
// were among them.
func (j *Journal) apply(ctx context.Context, lines []logLine) (partial bool, err error) {
	last := map[string]int{}
	for i, l := range lines {
		last[l.Key] = i
	}
	type group struct {
		table string
		first int
		rows  reflect.Value
	}
	groups := map[string]*group{}
	for i, l := range lines {
		if last[l.Key] != i {
			continue
		}
		table, _, _ := strings.Cut(l.Key, "/")
		t, ok := j.types[table]
		if !ok {
			j.log.Error("journal: record of unknown type skipped", "key", l.Key)
			continue
		}
		v := reflect.New(t)
		if err := json.Unmarshal(l.Val, v.Interface()); err != nil {
			j.log.Error("journal: undecodable record skipped", "key", l.Key, "err", err)
			continue
		}
		g := groups[table]
		if g == nil {
			g = &group{table: table, first: i, rows: reflect.MakeSlice(reflect.SliceOf(t), 0, 8)}
			groups[table] = g
		}
		g.rows = reflect.Append(g.rows, v.Elem())
	}
	ordered := make([]*group, 0, len(groups))
	for _, g := range groups {
		ordered = append(ordered, g)
	}
	sort.Slice(ordered, func(a, b int) bool { return ordered[a].first < ordered[b].first })
	for _, g := range ordered {
		partial = partial || g.rows.Type().Elem().Implements(applierType)
	}
	j.dbBatches.Add(1)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return partial, j.store.db.WithContext(tctx).Transaction(func(tx *gorm.DB) error {
		for _, g := range ordered {
			if g.rows.Type().Elem().Implements(applierType) {
				// Partial writes (RecordingWrite): each in append order.
				for i := 0; i < g.rows.Len(); i++ {
					if err := g.rows.Index(i).Interface().(JournalApplier).ApplyJournal(tx); err != nil {
						return err
					}
				}
				continue
			}
			p := reflect.New(g.rows.Type())
			p.Elem().Set(g.rows)
			if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).CreateInBatches(p.Interface(), 200).Error; err != nil {
				return fmt.Errorf("upsert %d %s: %w", g.rows.Len(), g.table, err)
			}
		}
		return nil
	})
}

var applierType = reflect.TypeOf((*JournalApplier)(nil)).Elem()

func (j *Journal) segPath(n int) string {
	return filepath.Join(j.opts.Dir, fmt.Sprintf("journal-%08d.log", n))
}

func (j *Journal) segments() ([]int, error) {
	ents, err := os.ReadDir(j.opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("journal dir %s: %w", j.opts.Dir, err)
	}
	var out []int
	for _, e := range ents {
		var n int
		if _, err := fmt.Sscanf(e.Name(), "journal-%08d.log", &n); err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out, nil
}

func (j *Journal) readCheckpoint() (int, int64) {
	b, err := os.ReadFile(filepath.Join(j.opts.Dir, "checkpoint"))
	if err != nil {
		return 0, 0
	}
	a, c, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	if !ok {
		return 0, 0
	}
	seg, err1 := strconv.Atoi(a)
	off, err2 := strconv.ParseInt(c, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0
	}
	return seg, off
}

// writeCheckpoint records the applied position. It need not be fsynced: a
// stale checkpoint only replays upserts that are already in the database.
func (j *Journal) writeCheckpoint() {
	j.checkpointAt, j.checkpointDirty = time.Now(), false
	p := filepath.Join(j.opts.Dir, "checkpoint")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d %d\n", j.cursorSeg, j.cursorOff)), 0o644); err == nil {
		os.Rename(tmp, p)
	}
}

// readLines reads up to max complete lines from off; a torn last line (a
// crash mid-write, or a write in progress) is left for later and never
// applied half. It returns the lines, the offset after the last complete
// line, and how many corrupt lines it passed over.
func readLines(r *bufio.Reader, path string, off int64, max int, log *slog.Logger) ([]logLine, int64, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, off, 0, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, off, 0, err
	}
	r.Reset(f)
	defer r.Reset(nil)
	var (
		out []logLine
		bad int64
	)
	for len(out) < max {
		b, err := r.ReadBytes('\n')
		if err != nil {
			break // EOF or torn line
		}
		var l logLine
		if jerr := json.Unmarshal(b, &l); jerr != nil || l.Key == "" {
			// A corrupt line cannot be applied; skip it loudly rather than
			// block every later record.
			log.Error("journal: corrupt log line skipped", "segment", path, "offset", off)
			bad++
		} else {
			out = append(out, l)
		}
		off += int64(len(b))
	}
	return out, off, bad, nil
}

// countLines counts the complete lines from off and returns the offset
// after the last of them.
func countLines(path string, off int64) (int64, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, off, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, off, err
	}
	r := bufio.NewReaderSize(f, 256<<10)
	var n int64
	for {
		b, err := r.ReadBytes('\n')
		if err != nil {
			return n, off, nil
		}
		off += int64(len(b))
		n++
	}
}

func fileSize(p string) (int64, error) {
	st, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

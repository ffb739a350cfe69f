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
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Journal is the write-behind path between the call flow and the database.
//
// Design (log, then apply): Append encodes the record and hands it to the
// writer goroutine through an in-memory staging buffer; the writer appends
// staged records to a local append-only segment file and fsyncs it every
// FlushInterval; then it reads batches back from the log and upserts them
// into the database in one transaction each, moving a checkpoint forward.
//
//   - The caller never waits on the database, and only on memory in
//     Append: routing goes on while the database is down.
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
//     everything fsynced is replayed at the next start.
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
	wake     chan struct{}

	// writer-owned state
	seg       *os.File // current write segment
	segNum    int
	segSize   int64
	cursorSeg int   // segment the DB cursor reads
	cursorOff int64 // offset in it of the first uncommitted record

	stats JournalStats
	done  chan struct{}
}

// JournalOptions tune the journal.
type JournalOptions struct {
	// Dir holds the log segments and the checkpoint (created if missing).
	Dir string
	// MemoryLimit bounds the staging buffer in bytes (default 8 MiB).
	MemoryLimit int
	// BatchSize is the most records per database transaction (default 500).
	BatchSize int
	// FlushInterval is how often staged records are fsynced and the database
	// is written (default 10 ms).
	FlushInterval time.Duration
	// SegmentSize rotates the log file past this many bytes (default 64 MiB).
	SegmentSize int64
	// Types registers record types from other packages (callbacks,
	// recordings): each value is a zero record whose JournalKey prefix
	// (before the first "/") names its table.
	Types []Record
}

// JournalStats is what health checks and /metrics show.
type JournalStats struct {
	Pending     int64     `json:"pending"`    // appended, not yet in the database
	Spilled     int64     `json:"spilled"`    // bytes of log not yet applied
	Written     int64     `json:"written"`    // records applied to the database since start
	DBUp        bool      `json:"db_up"`      // last database write succeeded
	LastError   string    `json:"last_error"` // last database error
	LastWriteAt time.Time `json:"last_write_at"`
	Replayed    int64     `json:"replayed"` // records found in the log at start
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
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = 64 << 20
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("journal dir %s: %w", opts.Dir, err)
	}
	j := &Journal{store: store, opts: opts, log: log.With("component", "journal"), types: map[string]reflect.Type{},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	for _, r := range []Record{Call{}, Leg{}, QueueWait{}, AgentStateChange{}, Agent{}, Queue{}} {
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
	for _, n := range segs {
		if n < j.cursorSeg {
			continue
		}
		off := int64(0)
		if n == j.cursorSeg {
			off = j.cursorOff
		}
		c, err := countLines(j.segPath(n), off)
		if err != nil {
			return nil, err
		}
		j.appended += c
		j.stats.Replayed += c
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
// database; the record is on local disk within FlushInterval.
func (j *Journal) Append(rec Record) {
	b, err := json.Marshal(rec)
	if err != nil {
		j.log.Error("journal: record not encodable, dropped", "key", rec.JournalKey(), "err", err)
		return
	}
	line, _ := json.Marshal(logLine{Key: rec.JournalKey(), Val: b})
	j.mu.Lock()
	j.staged.Write(line)
	j.staged.WriteByte('\n')
	j.stagedN++
	j.appended++
	over := j.staged.Len() > j.opts.MemoryLimit
	j.mu.Unlock()
	if over {
		// The writer is behind on local disk: do not grow memory further.
		if err := j.writeStaged(); err != nil {
			j.log.Error("journal: local log write failed", "err", err)
		}
	}
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// Stats returns a snapshot of the journal's state.
func (j *Journal) Stats() JournalStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.stats
	s.Pending = j.appended - j.stats.Written
	if s.Pending < 0 {
		s.Pending = 0
	}
	return s
}

// Flush waits until every record appended before the call is in the
// database, or ctx ends.
func (j *Journal) Flush(ctx context.Context) error {
	j.mu.Lock()
	target := j.appended
	j.mu.Unlock()
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		j.mu.Lock()
		w := j.stats.Written
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
			w = j.stats.Written
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
// staged durable on local disk and tries a last database write.
func (j *Journal) Run(ctx context.Context) error {
	defer close(j.done)
	defer j.seg.Close()
	tick := time.NewTicker(j.opts.FlushInterval)
	defer tick.Stop()
	backoff := time.Duration(0)
	var retryAt time.Time
	for {
		select {
		case <-ctx.Done():
			if err := j.writeStaged(); err != nil {
				return fmt.Errorf("journal: final local write: %w", err)
			}
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			for j.applyBatch(fctx) > 0 {
			}
			cancel()
			return nil
		case <-tick.C:
		case <-j.wake:
		}
		if err := j.writeStaged(); err != nil {
			j.log.Error("journal: local log write failed", "err", err)
		}
		if time.Now().Before(retryAt) {
			continue
		}
		for {
			n := j.applyBatch(ctx)
			if n < 0 {
				// Database down: back off, records stay in the log.
				if backoff == 0 {
					backoff = 100 * time.Millisecond
				} else if backoff < 5*time.Second {
					backoff *= 2
				}
				retryAt = time.Now().Add(backoff)
				break
			}
			backoff = 0
			if n < j.opts.BatchSize {
				break
			}
		}
	}
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
	j.staged.Reset()
	j.stagedN = 0
	j.mu.Unlock()
	if _, err := j.seg.Write(buf); err != nil {
		return err
	}
	j.segSize += int64(len(buf))
	if err := j.seg.Sync(); err != nil {
		return err
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

// applyBatch reads up to BatchSize records from the cursor and upserts
// them in one transaction. It returns the number applied, or -1 when the
// database refused.
func (j *Journal) applyBatch(ctx context.Context) int {
	j.mu.Lock()
	curSeg := j.segNum
	j.mu.Unlock()
	var (
		lines  []logLine
		endOff int64
		endSeg = j.cursorSeg
	)
	for seg := j.cursorSeg; seg <= curSeg && len(lines) < j.opts.BatchSize; seg++ {
		off := int64(0)
		if seg == j.cursorSeg {
			off = j.cursorOff
		}
		got, next, err := readLines(j.segPath(seg), off, j.opts.BatchSize-len(lines))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			j.log.Error("journal: reading the log", "segment", seg, "err", err)
			return -1
		}
		lines = append(lines, got...)
		endSeg, endOff = seg, next
		if len(lines) >= j.opts.BatchSize {
			break
		}
	}
	if len(lines) == 0 {
		j.advance(endSeg, endOff, curSeg, 0)
		return 0
	}
	if err := j.apply(ctx, lines); err != nil {
		j.mu.Lock()
		if j.stats.DBUp || j.stats.LastError == "" {
			j.log.Warn("journal: database write failed; records kept in the local log", "err", err, "pending", j.appended-j.stats.Written)
		}
		j.stats.DBUp = false
		j.stats.LastError = err.Error()
		j.mu.Unlock()
		return -1
	}
	j.advance(endSeg, endOff, curSeg, int64(len(lines)))
	return len(lines)
}

func (j *Journal) advance(seg int, off int64, curSeg int, n int64) {
	// Segments wholly applied and no longer written are removed.
	for s := j.cursorSeg; s < seg; s++ {
		os.Remove(j.segPath(s))
	}
	if seg < curSeg {
		if size, err := fileSize(j.segPath(seg)); err == nil && off >= size {
			os.Remove(j.segPath(seg))
			seg, off = seg+1, 0
		}
	}
	j.cursorSeg, j.cursorOff = seg, off
	if n > 0 {
		j.writeCheckpoint()
	}
	j.mu.Lock()
	if n > 0 {
		if !j.stats.DBUp && j.stats.LastError != "" {
			j.log.Info("journal: database reachable again; backlog applied in order")
		}
		j.stats.Written += n
		j.stats.LastWriteAt = time.Now()
		j.stats.LastError = ""
	}
	j.stats.DBUp = true
	j.stats.Spilled = j.backlogBytes(curSeg)
	j.mu.Unlock()
}

func (j *Journal) backlogBytes(curSeg int) int64 {
	var total int64
	for s := j.cursorSeg; s <= curSeg; s++ {
		if size, err := fileSize(j.segPath(s)); err == nil {
			total += size
		}
	}
	return total - j.cursorOff
}

// apply upserts records, last version per key, grouped by table, in order
// of each table's first appearance.
func (j *Journal) apply(ctx context.Context, lines []logLine) error {
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
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return j.store.db.WithContext(tctx).Transaction(func(tx *gorm.DB) error {
		for _, g := range ordered {
			p := reflect.New(g.rows.Type())
			p.Elem().Set(g.rows)
			if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).CreateInBatches(p.Interface(), 200).Error; err != nil {
				return fmt.Errorf("upsert %d %s: %w", g.rows.Len(), g.table, err)
			}
		}
		return nil
	})
}

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
	p := filepath.Join(j.opts.Dir, "checkpoint")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d %d\n", j.cursorSeg, j.cursorOff)), 0o644); err == nil {
		os.Rename(tmp, p)
	}
}

// readLines reads up to max complete lines from off; a torn last line (a
// crash mid-write) is left for later and never applied half.
func readLines(path string, off int64, max int) ([]logLine, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, off, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, off, err
	}
	r := bufio.NewReaderSize(f, 256<<10)
	var out []logLine
	for len(out) < max {
		b, err := r.ReadBytes('\n')
		if err != nil {
			break // EOF or torn line
		}
		var l logLine
		if jerr := json.Unmarshal(b, &l); jerr != nil || l.Key == "" {
			// A corrupt line cannot be applied; skip it loudly rather than
			// block every later record.
			slog.Default().Error("journal: corrupt log line skipped", "segment", path, "offset", off)
		} else {
			out = append(out, l)
		}
		off += int64(len(b))
	}
	return out, off, nil
}

func countLines(path string, off int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(f, 256<<10)
	var n int64
	for {
		_, err := r.ReadBytes('\n')
		if err != nil {
			return n, nil
		}
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

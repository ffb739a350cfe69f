package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// captured is a slog handler keeping every record with its attributes
// (those added by With included), for tests that check what was logged.
type captured struct {
	mu    *sync.Mutex
	recs  *[]capturedRecord
	attrs []slog.Attr
}

type capturedRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func newCaptured() captured {
	return captured{mu: &sync.Mutex{}, recs: &[]capturedRecord{}}
}

func (c captured) Enabled(context.Context, slog.Level) bool { return true }

func (c captured) Handle(_ context.Context, r slog.Record) error {
	rec := capturedRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range c.attrs {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value.String(); return true })
	c.mu.Lock()
	*c.recs = append(*c.recs, rec)
	c.mu.Unlock()
	return nil
}

func (c captured) WithAttrs(as []slog.Attr) slog.Handler {
	c.attrs = append(append([]slog.Attr(nil), c.attrs...), as...)
	return c
}

func (c captured) WithGroup(string) slog.Handler { return c }

func (c captured) records() []capturedRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]capturedRecord(nil), *c.recs...)
}

// The bridge itself: what the driver prints (its "file.go:line " prefix
// then the values, as log.Logger.Print would join them) becomes one slog
// warning tagged component=mysql.
func TestDriverLoggerToSlog(t *testing.T) {
	cases := []struct {
		name string
		args []any
		want string
	}{
		{"bad idle connection", []any{"connection.go:803 ", "closing bad idle connection: ", io.EOF}, "connection.go:803 closing bad idle connection: EOF"},
		{"read error", []any{"packets.go:58 ", errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: connection reset by peer")}, "packets.go:58 read tcp 127.0.0.1:1->127.0.0.1:2: connection reset by peer"},
		{"sequence warning", []any{"packets.go:68 ", "[warn] unexpected sequence nr: expected 1, got 2"}, "packets.go:68 [warn] unexpected sequence nr: expected 1, got 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newCaptured()
			driverLogger{log: slog.New(h).With("component", "mysql")}.Print(tc.args...)
			recs := h.records()
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1: %+v", len(recs), recs)
			}
			r := recs[0]
			if r.level != slog.LevelWarn || r.msg != tc.want || r.attrs["component"] != "mysql" {
				t.Fatalf("got %v %q %v, want WARN %q component=mysql", r.level, r.msg, r.attrs, tc.want)
			}
		})
	}
}

// Through a real MariaDB: the server drops the Store's idle connection
// (KILL, as a server restart or wait_timeout would), and the next query
// makes the driver notice and log "closing bad idle connection" — which
// must arrive in the Store's slog logger with component=mysql, not as a
// raw "[mysql] …" line on stderr. The query itself succeeds on a fresh
// connection. Fails if Open lets the driver keep its default logger.
func TestDriverLogReachesSlog(t *testing.T) {
	srv := maria.Get(t)
	ctx := context.Background()
	dsn, err := srv.NewDatabase(ctx, "t_driverlog")
	if err != nil {
		t.Fatal(err)
	}
	h := newCaptured()
	s, err := Open(ctx, dsn, WithLogger(slog.New(h)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Open's ping left one idle connection in the pool; this query reuses
	// it and tells which server thread it is.
	var id int64
	if err := s.DB().Raw("SELECT CONNECTION_ID()").Scan(&id).Error; err != nil {
		t.Fatal(err)
	}
	root, err := sql.Open("mysql", strings.TrimPrefix(srv.DSN(), "mysql://"))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.ExecContext(ctx, fmt.Sprintf("KILL %d", id)); err != nil {
		t.Fatalf("kill connection %d: %v", id, err)
	}
	waitFor(t, 10*time.Second, "the killed connection gone from the server", func() bool {
		var n int
		err := root.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&n)
		return err == nil && n == 0
	})
	var one int
	// The server closed its end; the FIN may still be in flight on
	// loopback, so a first query may find the connection apparently
	// alive and fail on it instead (also a driver log line). Retry until
	// the driver has logged something.
	var driver []capturedRecord
	waitFor(t, 10*time.Second, "a driver log line in slog", func() bool {
		if err := s.DB().Raw("SELECT 1").Scan(&one).Error; err != nil {
			t.Logf("query on the dropped connection: %v", err)
		}
		driver = driver[:0]
		for _, r := range h.records() {
			if r.attrs["component"] == "mysql" {
				driver = append(driver, r)
			}
		}
		return len(driver) > 0
	})
	for _, r := range driver {
		if r.level != slog.LevelWarn || !strings.Contains(r.msg, ".go:") {
			t.Errorf("driver record %v %q %v, want a WARN with the driver's file:line", r.level, r.msg, r.attrs)
		}
	}
	t.Logf("driver said: %q", driver[0].msg)
	if err := s.DB().Raw("SELECT 1").Scan(&one).Error; err != nil || one != 1 {
		t.Fatalf("query after the dropped connection: %d, %v", one, err)
	}
}

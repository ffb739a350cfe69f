// Package storage keeps switchboard's durable memory — calls, legs, queue
// waits, agent states, audit entries — in MySQL (production) or SQLite
// (the embedded default), with versioned migrations and a write-behind
// journal that keeps the database off the routing path.
package storage

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialects.
const (
	DialectSQLite = "sqlite"
	DialectMySQL  = "mysql"
)

// DefaultDSN is the embedded default: a SQLite file in the working directory.
const DefaultDSN = "sqlite:switchboard.db"

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

//go:embed migrations
var migrationsFS embed.FS

// Store is an open database.
type Store struct {
	db      *gorm.DB
	dialect string
	dsn     string // masked
}

// Option tunes Open.
type Option func(*options)

type options struct {
	log *slog.Logger
}

// WithLogger sets the logger for slow queries and errors.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Open connects to the database named by dsn: "sqlite:PATH" (":memory:"
// allowed), "mysql://user:pass@tcp(host:port)/db?…", or a bare
// go-sql-driver DSN ("user:pass@tcp(host:port)/db"). It does not migrate;
// call Migrate.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{log: slog.Default()}
	for _, f := range opts {
		f(&o)
	}
	if dsn == "" {
		dsn = DefaultDSN
	}
	gcfg := &gorm.Config{
		Logger:         newGormLogger(o.log),
		TranslateError: true,
		NowFunc:        func() time.Time { return time.Now().UTC() },
	}
	var (
		db      *gorm.DB
		err     error
		dialect string
	)
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		dialect = DialectSQLite
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, fmt.Errorf("open database %q: sqlite DSN needs a path (sqlite:switchboard.db)", dsn)
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		// WAL lets readers (API) run beside the journal writer; the busy
		// timeout rides out checkpoints; foreign keys on for safety.
		full := path + sep + "_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
		db, err = gorm.Open(sqlite.Open(full), gcfg)
	default:
		dialect = DialectMySQL
		cfg, perr := ParseMySQLDSN(dsn)
		if perr != nil {
			return nil, fmt.Errorf("open database %q: %w", MaskDSN(dsn), perr)
		}
		// The driver's own log lines (a connection reset under a query,
		// "closing bad idle connection" after the server dropped an idle
		// one) go to slog through the Config's Logger, not the driver's
		// package default (stderr, "[mysql] …"). Per-Config rather than
		// mysql.SetLogger: that is process-global mutable state shared by
		// every pool (and every parallel test) in the process, while the
		// Config belongs to this Store and carries its logger. The pool is
		// opened from a connector built on cfg and handed to GORM, because
		// GORM's DSN path re-parses cfg.FormatDSN(), which has no logger.
		cfg.Logger = driverLogger{log: o.log.With("component", "mysql")}
		conn, cerr := mysqldrv.NewConnector(cfg)
		if cerr != nil {
			return nil, fmt.Errorf("open database %q: %w", MaskDSN(dsn), cerr)
		}
		pool := sql.OpenDB(conn)
		db, err = gorm.Open(mysql.New(mysql.Config{DSNConfig: cfg, Conn: pool}), gcfg)
		if err != nil {
			pool.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", MaskDSN(dsn), err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", MaskDSN(dsn), err)
	}
	if dialect == DialectSQLite {
		// One writer at a time is SQLite's rule; a single connection avoids
		// SQLITE_BUSY storms and keeps :memory: one database.
		sqlDB.SetMaxOpenConns(1)
	} else {
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(10)
		sqlDB.SetConnMaxLifetime(5 * time.Minute)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("database %q unreachable: %w", MaskDSN(dsn), err)
	}
	return &Store{db: db, dialect: dialect, dsn: MaskDSN(dsn)}, nil
}

// ParseMySQLDSN accepts mysql://user:pass@tcp(host:port)/db?opts or the
// bare go-sql-driver form, and forces parseTime and UTC.
func ParseMySQLDSN(dsn string) (*mysqldrv.Config, error) {
	d := strings.TrimPrefix(dsn, "mysql://")
	cfg, err := mysqldrv.ParseDSN(d)
	if err != nil {
		return nil, fmt.Errorf("not a sqlite:PATH or MySQL DSN: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	return cfg, nil
}

// Masked is what replaces a password in a masked DSN or URL (and, in
// `config show`, any secret).
const Masked = "********"

// scheme is the "mysql://", "http://" … in front of a URL or DSN.
var scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// MaskDSN hides the password in a DSN or URL (user:pass@tcp(…)/db,
// mysql://user:pass@…, http://user:pass@host) for logs, errors and
// `config show`, and keeps the user: the operator reading them needs to
// see which account is used. A DSN with a user and no password, and a
// sqlite:PATH (a file path, where "@" may be part of a name), are left as
// they are.
//
// In a MySQL DSN the user information ends at the last "@" before the
// last "/", as go-sql-driver/mysql reads it, so a password may itself hold
// "@", ":" or "/" and is masked whole; in other URLs it ends before the
// first "/".
func MaskDSN(dsn string) string {
	if strings.HasPrefix(dsn, "sqlite:") {
		return dsn
	}
	prefix, rest := "", dsn
	if m := scheme.FindString(dsn); m != "" {
		prefix, rest = m, dsn[len(m):]
	}
	end := strings.LastIndex(rest, "/")
	if prefix != "" && !strings.EqualFold(prefix, "mysql://") {
		end = strings.Index(rest, "/")
	}
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return dsn
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return dsn
	}
	return prefix + user + ":" + Masked + rest[at:]
}

// DB is the GORM handle, for repositories in other packages.
func (s *Store) DB() *gorm.DB { return s.db }

// Dialect is "sqlite" or "mysql".
func (s *Store) Dialect() string { return s.dialect }

// String is the masked DSN.
func (s *Store) String() string { return s.dsn }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close closes the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

func (s *Store) sqlDB() (*sql.DB, error) { return s.db.DB() }

func (s *Store) migrations() (fs.FS, error) {
	return fs.Sub(migrationsFS, "migrations/"+s.dialect)
}

// driverLogger bridges go-sql-driver/mysql's Logger to slog. The driver
// logs only trouble on a connection (read/write errors, a bad idle
// connection it closes and retries on a fresh one, an unexpected packet
// sequence): the query itself reports any error that matters to the
// caller, so these are warnings. The text keeps the driver's
// "file.go:line " prefix, which says which check fired.
type driverLogger struct{ log *slog.Logger }

// Print implements mysql.Logger.
func (d driverLogger) Print(v ...any) {
	d.log.Warn(strings.TrimSpace(fmt.Sprint(v...)))
}

// gormLogger sends GORM's errors and slow queries to slog; record-not-found
// is routine and not logged.
type gormLogger struct{ log *slog.Logger }

func newGormLogger(l *slog.Logger) logger.Interface { return gormLogger{log: l} }

func (g gormLogger) LogMode(logger.LogLevel) logger.Interface { return g }
func (g gormLogger) Info(ctx context.Context, msg string, args ...any) {
	g.log.DebugContext(ctx, fmt.Sprintf(msg, args...))
}
func (g gormLogger) Warn(ctx context.Context, msg string, args ...any) {
	g.log.WarnContext(ctx, fmt.Sprintf(msg, args...))
}
func (g gormLogger) Error(ctx context.Context, msg string, args ...any) {
	g.log.ErrorContext(ctx, fmt.Sprintf(msg, args...))
}
func (g gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	el := time.Since(begin)
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		q, _ := fc()
		if len(q) > 200 {
			q = q[:200] + "…"
		}
		g.log.DebugContext(ctx, "sql error", "err", err, "query", q, "elapsed", el)
		return
	}
	if el > 500*time.Millisecond {
		q, _ := fc()
		if len(q) > 200 {
			q = q[:200] + "…"
		}
		g.log.WarnContext(ctx, "slow sql", "query", q, "elapsed", el)
	}
}

// Package mariadbtest starts a private MariaDB server for tests: Debian's
// mariadb-server (installed with apt-get when missing and running as root),
// a data directory in a temporary folder, a loopback TCP port. Under
// CI=true a server that cannot be started is a test failure, never a skip.
//
// The server is a child of the test binary that dies with it
// (PR_SET_PDEATHSIG), so a test binary that panics, times out or is killed
// leaves no mariadbd behind.
package mariadbtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Server is one running (or stopped) private MariaDB.
type Server struct {
	// Dir holds the data directory, the socket and the server log.
	Dir string
	// Port is the loopback TCP port; it stays the same across Restart.
	Port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	frozen bool
	bin    string
	logf   string
}

var (
	installOnce sync.Once
	installErr  error
)

// find locates mariadbd, installing mariadb-server when missing and root.
func find() (bin, installDB string, err error) {
	look := func() (string, string) {
		var b, i string
		for _, c := range []string{"mariadbd", "/usr/sbin/mariadbd", "mysqld", "/usr/sbin/mysqld"} {
			if p, err := exec.LookPath(c); err == nil {
				b = p
				break
			}
		}
		for _, c := range []string{"mariadb-install-db", "/usr/bin/mariadb-install-db", "mysql_install_db"} {
			if p, err := exec.LookPath(c); err == nil {
				i = p
				break
			}
		}
		return b, i
	}
	bin, installDB = look()
	if bin != "" && installDB != "" {
		return bin, installDB, nil
	}
	installOnce.Do(func() {
		if os.Geteuid() != 0 {
			installErr = errors.New("mariadb-server is not installed and we are not root to apt-get it (make deps installs it)")
			return
		}
		env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		apt := func(args ...string) ([]byte, error) {
			c := exec.Command("apt-get", args...)
			c.Env = env
			return c.CombinedOutput()
		}
		out, err := apt("install", "-y", "-q", "--no-install-recommends", "mariadb-server")
		if err != nil {
			// Package lists may be missing on a fresh machine.
			_, _ = apt("update", "-q")
			out2, err := apt("install", "-y", "-q", "--no-install-recommends", "mariadb-server")
			if err != nil {
				installErr = fmt.Errorf("apt-get install mariadb-server: %v\n%s\n%s", err, tail(out), tail(out2))
			}
		}
	})
	if installErr != nil {
		return "", "", installErr
	}
	bin, installDB = look()
	if bin == "" || installDB == "" {
		return "", "", errors.New("mariadb-server installed but mariadbd / mariadb-install-db not found")
	}
	return bin, installDB, nil
}

func tail(b []byte) string {
	s := string(b)
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

// dirPrefix names the temporary directories of the servers this package
// starts; each holds owner.pid, the test binary that made it.
const dirPrefix = "switchboard-mariadb-"

// newDir makes a server directory owned by this process, first removing
// those left by test binaries that died without cleaning up (their server
// died with them; only the files stay).
func newDir() (string, error) {
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range old {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue // being created, or not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM) {
			continue // its owner lives
		}
		os.RemoveAll(d)
	}
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// Start initialises a data directory under dir and starts the server.
func Start(ctx context.Context, dir string) (*Server, error) {
	bin, installDB, err := find()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	args := []string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	out, err := exec.CommandContext(ctx, installDB, args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("mariadb-install-db: %v\n%s", err, tail(out))
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, Port: port, bin: bin, logf: filepath.Join(dir, "mariadb.log")}
	if err := s.Restart(ctx); err != nil {
		return nil, err
	}
	db, err := sql.Open("mysql", s.rootDSN(""))
	if err != nil {
		s.Stop()
		return nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS switchboard CHARACTER SET utf8mb4"); err != nil {
		s.Stop()
		return nil, fmt.Errorf("create database: %w", err)
	}
	return s, nil
}

// Restart starts the server again on the same data directory and port
// (after Stop), and waits until it accepts connections.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(s.logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := []string{"--no-defaults", "--datadir=" + filepath.Join(s.Dir, "data"), "--bind-address=127.0.0.1",
		fmt.Sprintf("--port=%d", s.Port), "--socket=" + filepath.Join(s.Dir, "mysqld.sock"),
		"--pid-file=" + filepath.Join(s.Dir, "mysqld.pid"), "--innodb-buffer-pool-size=256M",
		"--innodb-log-file-size=256M", "--innodb-flush-log-at-trx-commit=2", "--skip-log-bin",
		"--max-connections=200", "--skip-name-resolve"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server dies with the test binary, however that ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start mariadbd: %w", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); logf.Close(); close(exited) }()
	s.cmd, s.exited, s.frozen = cmd, exited, false
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := ping(ctx, s.rootDSN(""))
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			s.cmd = nil
			log, _ := os.ReadFile(s.logf)
			return fmt.Errorf("mariadbd exited at start (%v):\n%s", waitErr, tail(log))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = cmd.Process.Kill()
			<-exited
			s.cmd = nil
			return fmt.Errorf("mariadbd did not accept connections in 60 s: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ping(ctx context.Context, dsn string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return db.PingContext(pctx)
}

// Stop kills the server as a crash would (SIGKILL: no clean shutdown) and
// waits until the process is gone, so Restart finds its files and port
// free. The data directory stays for Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd, s.frozen = nil, false
}

// Freeze stops the server process (SIGSTOP) without closing its sockets:
// a database that hangs rather than refuses. Thaw resumes it.
func (s *Server) Freeze() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("mariadbtest: freeze: server not running")
	}
	s.frozen = true
	return s.cmd.Process.Signal(syscall.SIGSTOP)
}

// Thaw resumes a frozen server.
func (s *Server) Thaw() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("mariadbtest: thaw: server not running")
	}
	s.frozen = false
	return s.cmd.Process.Signal(syscall.SIGCONT)
}

// Running reports whether the server process is alive (frozen counts).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// PID is the server's process id, 0 when stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *Server) rootDSN(db string) string {
	c := mysql.NewConfig()
	c.User = "root"
	c.Net = "tcp"
	c.Addr = fmt.Sprintf("127.0.0.1:%d", s.Port)
	c.DBName = db
	c.ParseTime = true
	c.Timeout = 2 * time.Second
	return c.FormatDSN()
}

// DSN is a switchboard DSN for the default test database "switchboard".
func (s *Server) DSN() string { return "mysql://" + s.rootDSN("switchboard") }

// NewDatabase creates a fresh empty database and returns its DSN, so tests
// sharing one server do not see each other's rows.
func (s *Server) NewDatabase(ctx context.Context, name string) (string, error) {
	name = strings.NewReplacer("/", "_", "-", "_", " ", "_", "=", "_", ".", "_").Replace(name)
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	db, err := sql.Open("mysql", s.rootDSN(""))
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
		return "", fmt.Errorf("drop database %s: %w", name, err)
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return "mysql://" + s.rootDSN(name), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Cleanup stops the server and removes its directory.
func (s *Server) Cleanup() {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.cmd != nil && s.frozen {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
	}
	s.mu.Unlock()
	s.Stop()
	os.RemoveAll(s.Dir)
}

// Shared is one server for a whole test binary, started by the first test
// that asks for it. Call Cleanup from TestMain after m.Run.
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Get returns the shared server, starting it on first use. Under CI=true a
// server that cannot be started fails the test; otherwise the test skips.
func (sh *Shared) Get(tb testing.TB) *Server {
	tb.Helper()
	sh.once.Do(func() {
		dir, err := newDir()
		if err != nil {
			sh.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		sh.srv, sh.err = Start(ctx, dir)
		if sh.err != nil {
			os.RemoveAll(dir)
		}
	})
	if sh.err != nil {
		Unavailable(tb, sh.err)
	}
	return sh.srv
}

// Cleanup stops the shared server if one was started.
func (sh *Shared) Cleanup() {
	if sh.srv != nil {
		sh.srv.Cleanup()
	}
}

// ForTest starts a private server for one test (stopped at its end): for
// tests that stop, freeze or restart the server and must not disturb
// others sharing one.
func ForTest(tb testing.TB) *Server {
	tb.Helper()
	dir, err := newDir()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := Start(ctx, dir)
	if err != nil {
		os.RemoveAll(dir)
		Unavailable(tb, err)
	}
	tb.Cleanup(srv.Cleanup)
	return srv
}

// Unavailable fails (CI=true) or skips the test for a MariaDB that could
// not be had.
func Unavailable(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("MariaDB is required under CI=true and could not be started: %v", err)
	}
	tb.Skipf("MariaDB not available (set CI=true to make this a failure): %v", err)
}

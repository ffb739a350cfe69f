// Package mariadbtest starts a private MariaDB server for tests: Debian's
// mariadb-server (installed with apt-get when missing and running as root),
// a data directory in a temporary folder, a loopback TCP port. Under
// CI=true a server that cannot be started is a test failure, never a skip.
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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Server is one running (or stopped) private MariaDB.
type Server struct {
	Dir  string
	Port int
	cmd  *exec.Cmd
	mu   sync.Mutex
	bin  string
	logf string
}

var installOnce sync.Once
var installErr error

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
			installErr = errors.New("mariadb-server is not installed and we are not root to apt-get it")
			return
		}
		env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		inst := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "mariadb-server")
		inst.Env = env
		if out, err := inst.CombinedOutput(); err != nil {
			upd := exec.Command("apt-get", "update")
			upd.Env = env
			upd.Run()
			inst = exec.Command("apt-get", "install", "-y", "--no-install-recommends", "mariadb-server")
			inst.Env = env
			if out2, err := inst.CombinedOutput(); err != nil {
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
		"--pid-file=" + filepath.Join(s.Dir, "mysqld.pid"), "--skip-grant-tables=0", "--innodb-buffer-pool-size=64M",
		"--innodb-flush-log-at-trx-commit=2", "--skip-log-bin", "--max-connections=200"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start mariadbd: %w", err)
	}
	s.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, _ := sql.Open("mysql", s.rootDSN(""))
		err := db.PingContext(ctx)
		db.Close()
		if err == nil {
			go func() { <-exited }()
			return nil
		}
		select {
		case e := <-exited:
			s.cmd = nil
			log, _ := os.ReadFile(s.logf)
			return fmt.Errorf("mariadbd exited at start (%v):\n%s", e, tail(log))
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			s.cmd = nil
			return fmt.Errorf("mariadbd did not accept connections in 30 s: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills the server (the data directory stays for Restart).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	// Wait until the port is free so Restart can bind it again.
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	s.cmd = nil
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

// DSN is a switchboard DSN for the test database.
func (s *Server) DSN() string { return "mysql://" + s.rootDSN("switchboard") }

// NewDatabase creates a fresh empty database and returns its DSN, so tests
// sharing one server do not see each other's rows.
func (s *Server) NewDatabase(ctx context.Context, name string) (string, error) {
	name = strings.NewReplacer("/", "_", "-", "_", " ", "_").Replace(name)
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	db, err := sql.Open("mysql", s.rootDSN(""))
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
		return "", err
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		return "", err
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

// ForTest starts a server for a test binary's whole run. It fails the test
// under CI=true when MariaDB cannot be had, and skips otherwise.
func ForTest(t testing.TB, s **Server, startErr *error, once *sync.Once) *Server {
	t.Helper()
	once.Do(func() {
		dir, err := os.MkdirTemp("", "switchboard-mariadb-")
		if err != nil {
			*startErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		*s, *startErr = Start(ctx, dir)
	})
	if *startErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("MariaDB is required under CI=true and could not be started: %v", *startErr)
		}
		t.Skipf("MariaDB not available (set CI=true to make this a failure): %v", *startErr)
	}
	return *s
}

// Cleanup stops the server and removes its directory.
func (s *Server) Cleanup() {
	if s == nil {
		return
	}
	s.Stop()
	os.RemoveAll(s.Dir)
}

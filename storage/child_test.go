package storage

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Some tests need other processes: switchboard instances migrating one
// database at once, a journal killed with SIGKILL. They re-execute the test
// binary with childEnv naming the part to play; TestMain runs it instead of
// the suite. The child talks to the parent over stdin/stdout, one line per
// message.
const childEnv = "SWITCHBOARD_STORAGE_CHILD"

// Child settings, passed in the environment.
const (
	childDSN  = "SWITCHBOARD_CHILD_DSN"
	childDir  = "SWITCHBOARD_CHILD_DIR"
	childMode = "SWITCHBOARD_CHILD_MODE"
)

func runChild(part string) int {
	var err error
	switch part {
	case "migrate":
		err = migrateChild()
	case "journal":
		err = journalChild()
	default:
		err = fmt.Errorf("unknown child part %q", part)
	}
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	return 0
}

// child is a re-executed test binary playing one part.
type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startChild(t *testing.T, part string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + part}, env...)...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return c
}

// line is the child's next message; an "ERR …" message fails the test.
func (c *child) line(t *testing.T) string {
	t.Helper()
	if !c.out.Scan() {
		t.Fatalf("child %d ended without a message: %v", c.cmd.Process.Pid, c.out.Err())
	}
	l := c.out.Text()
	if strings.HasPrefix(l, "ERR") {
		t.Fatalf("child %d: %s", c.cmd.Process.Pid, l)
	}
	return l
}

// migrateChild is one switchboard instance starting: it opens the database,
// says "ready", waits for "go" so every instance migrates at the same
// moment, migrates and says how many migrations it applied.
func migrateChild() error {
	ctx := context.Background()
	s, err := Open(ctx, os.Getenv(childDSN))
	if err != nil {
		return err
	}
	defer s.Close()
	// One connection already open, so "go" is not followed by a dial.
	if err := s.Ping(ctx); err != nil {
		return err
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "go" {
		return fmt.Errorf("want go, got %q", in.Text())
	}
	res, err := s.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Println("applied", len(res))
	return nil
}

// journalChild appends call records without end and, after each burst,
// reports how many it appended that are fsynced to the log and how many
// the database took ("durable N written W"), until the parent kills it.
//
// Mode "down": the database has no tables, so every write fails and all
// records stay in the journal; keys are all distinct.
// Mode "up": a migrated database takes records while the child appends
// faster than it writes them; 500 keys are rewritten again and again with
// a rising version (Offers), so at the kill some versions are in the
// database, some only in the log.
func journalChild() error {
	ctx := context.Background()
	s, err := Open(ctx, os.Getenv(childDSN))
	if err != nil {
		return err
	}
	mode := os.Getenv(childMode)
	if mode == "up" {
		if _, err := s.Migrate(ctx); err != nil {
			return err
		}
	}
	j, err := NewJournal(s, JournalOptions{Dir: os.Getenv(childDir), FlushInterval: 2 * time.Millisecond, BatchSize: 20}, nil)
	if err != nil {
		return err
	}
	go j.Run(ctx)
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i := 0; ; {
		for end := i + 250; i < end; i++ {
			id := fmt.Sprintf("k%06d", i)
			if mode == "up" {
				id = fmt.Sprintf("k%06d", i%500)
			}
			j.Append(Call{ID: id, ArrivedAt: now, Outcome: OutcomeAnswered, UpdatedAt: now, Offers: i})
		}
		// Wait until this burst is on disk; then everything below i is.
		for j.Stats().Unsynced > 0 {
			time.Sleep(time.Millisecond)
		}
		fmt.Printf("durable %d written %d\n", i, j.Stats().Written)
	}
}

package recordings

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/adapters"
	"github.com/switchboard-cc/switchboard/storage"
)

// The kill -9 test re-executes the test binary with childEnv set; TestMain
// runs the child's part instead of the suite (as storage's child tests).
const (
	childEnv = "SWITCHBOARD_RECORDINGS_CHILD"
	childDSN = "SWITCHBOARD_CHILD_DSN"
	childDir = "SWITCHBOARD_CHILD_DIR"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "recorder" {
		if err := recorderChild(); err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// recorderChild is switchboard recording three calls with a database that
// takes no write (it has no tables): the creates, a start event, a finish
// with the PBX's duration and a failure all stay in the journal. Once they
// are on local disk it says "durable NAME,NAME,NAME" and waits to be
// killed.
func recorderChild() error {
	ctx := context.Background()
	st, err := storage.Open(ctx, os.Getenv(childDSN), storage.WithLogger(quiet))
	if err != nil {
		return err
	}
	j, err := storage.NewJournal(st, storage.JournalOptions{Dir: os.Getenv(childDir), FlushInterval: 2 * time.Millisecond}, quiet)
	if err != nil {
		return err
	}
	go j.Run(ctx)
	rec := &recorder{}
	svc, err := New(Config{Queues: map[string]Policy{"support": {Mode: ModeAlways}}},
		Deps{PBX: rec, Store: st, Journal: j, Log: quiet, Now: func() time.Time { return t0 }, CommandTimeout: time.Second})
	if err != nil {
		return err
	}
	observe(svc, bridgedCall("c1", "support", "pbx1"), bridgedCall("c2", "support", "pbx1"), bridgedCall("c3", "support", "pbx1"))
	names := rec.names()
	if len(names) != 3 {
		return fmt.Errorf("recorded %q", rec.commands())
	}
	observe(svc,
		pbxEvent(adapters.RecordingStarted{Base: adapters.Base{At: t0.Add(time.Second)}, Recording: adapters.RecordingRef{Node: "pbx1", Name: names[0]}, Format: "wav"}),
		pbxEvent(adapters.RecordingFinished{Base: adapters.Base{At: t0.Add(time.Minute)}, Recording: adapters.RecordingRef{Node: "pbx1", Name: names[0]}, Duration: 41 * time.Second}),
		pbxEvent(adapters.RecordingFailed{Base: adapters.Base{At: t0.Add(2 * time.Minute)}, Recording: adapters.RecordingRef{Node: "pbx1", Name: names[1]}, Cause: "disk full"}))
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := j.Stats()
		if s.Written > 0 {
			return fmt.Errorf("the database took a write: %+v", s)
		}
		if s.Unsynced == 0 && s.Pending == 6 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the journal does not hold the 6 writes on disk: %+v", s)
		}
		time.Sleep(time.Millisecond)
	}
	fmt.Println("durable " + strings.Join(names, ","))
	select {}
}

// Switchboard is killed with SIGKILL after its recording writes reached
// the journal on disk and before the database took any: the next start
// replays them and the rows are complete — the finish with the PBX's
// duration and the start's format, the failure with its cause, the
// still running recording as recording; a second start replays nothing.
func TestRecordingWritesSurviveKill9(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "sb.db") // not migrated: no write can succeed
	jdir := filepath.Join(dir, "journal")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=recorder", childDSN+"="+dsn, childDir+"="+jdir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatalf("child ended without a message: %v", sc.Err())
	}
	line, ok := strings.CutPrefix(sc.Text(), "durable ")
	if !ok {
		t.Fatalf("child: %s", sc.Text())
	}
	names := strings.Split(line, ",")
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}

	st := openMigrated(t, dsn)
	j, stop := runJournal(t, st, jdir)
	if got := j.Stats().Replayed; got != 6 {
		t.Fatalf("replayed %d writes, want the 6 the child had on disk", got)
	}
	flush(t, j)
	stop()
	recs, _, err := st.SearchRecordings(context.Background(), storage.RecordingFilter{Limit: 100})
	if err != nil || len(recs) != 3 {
		t.Fatalf("rows after replay: %+v %v", recs, err)
	}
	for _, r := range recs {
		switch r.PBXName {
		case names[0]:
			if r.Status != storage.RecordingFinished || r.DurationMS != 41000 || r.Format != "wav" ||
				!r.StartedAt.Equal(t0.Add(time.Second)) || r.EndedAt == nil || !r.EndedAt.Equal(t0.Add(time.Minute)) {
				t.Fatalf("finished recording: %+v", r)
			}
		case names[1]:
			if r.Status != storage.RecordingFailed || r.Error != "pbx: disk full" || r.EndedAt == nil {
				t.Fatalf("failed recording: %+v", r)
			}
		case names[2]:
			if r.Status != storage.RecordingActive || r.CallID != "c3" || r.Reason != "always" {
				t.Fatalf("running recording: %+v", r)
			}
		default:
			t.Fatalf("unexpected row %+v", r)
		}
	}
	j2, _ := runJournal(t, st, jdir)
	if got := j2.Stats().Replayed; got != 0 {
		t.Fatalf("second start replayed %d writes", got)
	}
}

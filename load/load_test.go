package load

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/storage"
)

// stored counts what the database holds after a run: calls by outcome and
// agent legs that were answered.
type stored struct {
	calls, answered, abandoned, live, offers, agentLegs, agentLegsAnswered int
}

func countStored(t *testing.T, dsn string) stored {
	t.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out stored
	for f := (storage.CallFilter{Limit: 1000}); ; {
		page, err := st.Calls(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			out.calls++
			out.offers += c.Offers
			switch c.Outcome {
			case storage.OutcomeAnswered:
				out.answered++
			case storage.OutcomeAbandoned:
				out.abandoned++
			case storage.OutcomeLive:
				out.live++
			}
			legs, err := st.CallLegs(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range legs {
				if l.Role == "agent" {
					out.agentLegs++
					if l.AnsweredAt != nil {
						out.agentLegsAnswered++
					}
				}
			}
		}
		if len(page) < f.Limit {
			return out
		}
		f.BeforeAt, f.BeforeID = page[len(page)-1].ArrivedAt, page[len(page)-1].ID
	}
}

// Each PBX, briefly, with too few agents for the traffic so that some
// callers give up: the report's call figures agree with what was actually
// done — the rows the journal wrote to the database, and the PBX's own
// count (the simulator's bookkeeping; the fakes' originates) — never
// with timings.
func TestReportAgreesWithCallsDone(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"sim", Options{PBX: PBXSim, Agents: 4, Rate: 2, Duration: 40 * time.Second, Speed: 20, Ring: time.Second, Talk: 3 * time.Second,
			WrapUp: 500 * time.Millisecond, Patience: 3 * time.Second}},
		{"asterisk", Options{PBX: PBXAsterisk, Agents: 4, Rate: 25, Duration: 1500 * time.Millisecond, Ring: 20 * time.Millisecond,
			Talk: 200 * time.Millisecond, WrapUp: 10 * time.Millisecond, Patience: 300 * time.Millisecond}},
		{"freeswitch", Options{PBX: PBXFreeSWITCH, Agents: 4, Rate: 25, Duration: 1500 * time.Millisecond, Ring: 20 * time.Millisecond,
			Talk: 200 * time.Millisecond, WrapUp: 10 * time.Millisecond, Patience: 300 * time.Millisecond}},
		// Nobody gives up: every call is answered, bridged and completed.
		{"asterisk, patient callers", Options{PBX: PBXAsterisk, Agents: 8, Rate: 25, Duration: time.Second, Ring: 20 * time.Millisecond,
			Talk: 100 * time.Millisecond, WrapUp: 10 * time.Millisecond}},
		{"freeswitch, patient callers", Options{PBX: PBXFreeSWITCH, Agents: 8, Rate: 25, Duration: time.Second, Ring: 20 * time.Millisecond,
			Talk: 100 * time.Millisecond, WrapUp: 10 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.o.Database = "sqlite:" + filepath.Join(dir, "load.db")
			tc.o.JournalDir = filepath.Join(dir, "journal")
			tc.o.Seed = 3
			r, err := Run(context.Background(), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", *r)
			if r.Live != 0 || r.Offered != r.Completed+r.Abandoned+r.Exited {
				t.Fatalf("offered %d ≠ completed %d + abandoned %d + exited %d (live %d)", r.Offered, r.Completed, r.Abandoned, r.Exited, r.Live)
			}
			if r.Answered != r.Completed {
				t.Fatalf("%d answered but %d completed after the drain", r.Answered, r.Completed)
			}
			if tc.o.Patience == 0 {
				if r.Offered < 10 || r.Abandoned != 0 || r.Bridged != r.Completed {
					t.Fatalf("patient callers: %d offered, %d bridged, %d completed, %d abandoned; want all bridged", r.Offered, r.Bridged, r.Completed, r.Abandoned)
				}
			} else if r.Offered < 10 || r.Completed == 0 || r.Abandoned == 0 || r.Bridged == 0 || r.Bridged > r.Completed {
				// A caller whose patience runs out just as the agent picks
				// up is answered (and completed) without being bridged.
				t.Fatalf("the run should answer some calls and lose some: %d offered, %d bridged, %d completed, %d abandoned", r.Offered, r.Bridged, r.Completed, r.Abandoned)
			}
			db := countStored(t, tc.o.Database)
			// An agent leg may answer just as its caller gives up: more
			// agent legs answer than calls are answered, never fewer.
			if db.calls != r.Offered || db.answered != r.Completed || db.abandoned != r.Abandoned || db.live != 0 || db.agentLegsAnswered < r.Answered {
				t.Fatalf("database holds %+v; report says %d offered, %d completed, %d abandoned, %d answered", db, r.Offered, r.Completed, r.Abandoned, r.Answered)
			}
			// Every offer rang one agent leg at the PBX, and the journal
			// wrote a leg row for each.
			pc := r.PBXCounts
			if pc["agent_legs"] != db.offers || db.agentLegs != db.offers {
				t.Fatalf("the PBX rang %d agent legs; the database holds %d offers and %d agent legs", pc["agent_legs"], db.offers, db.agentLegs)
			}
			// The simulator counts a caller connected at the bridge, the
			// controller answered at the agent's pick-up: on an accelerated
			// clock a caller's patience may run out in between (answered
			// here, abandoned there). Every arrival is one or the other in
			// both counts.
			// The fake Asterisk and the fake FreeSWITCH count the agent
			// legs they connected to a caller. Every call the controller
			// bridged was connected there; a caller who hangs up as the
			// bridge completes is connected at the PBX but never bridged
			// at the controller (and, hanging up at the agent's pick-up,
			// answered without a bridge). Patient callers: the two counts
			// agree.
			if (tc.o.PBX == PBXAsterisk || tc.o.PBX == PBXFreeSWITCH) && (pc["connected"] < r.Bridged || pc["connected"] > r.Answered ||
				tc.o.Patience == 0 && pc["connected"] != r.Bridged) {
				t.Fatalf("the fake %s connected %d calls; the report %d answered, %d bridged", tc.o.PBX, pc["connected"], r.Answered, r.Bridged)
			}
			if tc.o.PBX == PBXSim && (pc["arrivals"] != r.Offered || pc["connected"]+pc["abandoned"] != r.Answered+r.Abandoned || pc["connected"] > r.Answered) {
				t.Fatalf("the simulator counted %v; the report %d offered, %d answered, %d abandoned", pc, r.Offered, r.Answered, r.Abandoned)
			}
			ta := r.TimeToAnswer
			if ta.Count != r.Answered || ta.P50 > ta.P90 || ta.P90 > ta.P99 || ta.P99 > ta.Max {
				t.Fatalf("time to answer %+v for %d answered", ta, r.Answered)
			}
			if r.PeakRSSBytes <= 0 || r.HeapStartBytes == 0 || r.HeapPeakBytes < r.HeapEndBytes || r.CPUSeconds <= 0 || r.Events == 0 || r.Records == 0 {
				t.Fatalf("figures missing: %+v", *r)
			}
			if len(r.Samples) == 0 {
				t.Fatal("no sample taken")
			}
			if r.Goroutines > 0 {
				t.Errorf("%d goroutines left behind", r.Goroutines)
			}
		})
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.9, 900 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*1.021 {
			t.Errorf("q%.2f = %v, want %v within 2%%", tc.q, got, tc.want)
		}
	}
	var empty histogram
	if empty.quantile(0.5) != 0 {
		t.Error("empty histogram")
	}
}

func TestOptionsErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{PBX: "pbx9"}, `pbx "pbx9"`},
		{Options{Agents: -1}, "agents -1"},
		{Options{Rate: -2}, "rate -2"},
		{Options{PBX: PBXAsterisk, Speed: 10}, "speed 10"},
		{Options{Talk: -time.Second}, "must not be negative"},
	} {
		_, err := Run(context.Background(), tc.o)
		if err == nil || !errorsIs(err) || !contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want ErrInvalid naming %q", tc.o, err, tc.want)
		}
	}
}

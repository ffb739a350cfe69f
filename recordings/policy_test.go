package recordings

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestPolicyDecide(t *testing.T) {
	cases := []struct {
		p      Policy
		record bool
		reason string
	}{
		{Policy{Mode: ModeAlways}, true, "always"},
		{Policy{Mode: ModeNever}, false, "never"},
		{Policy{Mode: ModeOnDemand}, false, "on-demand"},
		{Policy{Mode: ModeSampled, Percent: 100}, true, "sampled"},
		{Policy{Mode: ModeSampled, Percent: 0}, false, "not-sampled"},
	}
	for _, c := range cases {
		d := c.p.Decide("", "call-1")
		if d.Record != c.record || d.Reason != c.reason {
			t.Errorf("%v: got %+v, want record=%v reason=%s", c.p, d, c.record, c.reason)
		}
	}
}

// TestSampledShare runs many calls through sampled policies: the share
// recorded is the configured percentage (within 4 standard deviations of
// a binomial draw), with sequential call ids, which a weak hash would skew.
func TestSampledShare(t *testing.T) {
	const n = 100000
	for _, pct := range []float64{1, 12.5, 20, 50, 90} {
		for _, seed := range []string{"", "q4-2026"} {
			p := Policy{Mode: ModeSampled, Percent: pct}
			got := 0
			for i := 0; i < n; i++ {
				if p.Decide(seed, fmt.Sprintf("asterisk-1-1732300000.%d", i)).Record {
					got++
				}
			}
			want := float64(n) * pct / 100
			sd := math.Sqrt(float64(n) * pct / 100 * (1 - pct/100))
			if math.Abs(float64(got)-want) > 4*sd {
				t.Errorf("percent %v seed %q: %d of %d recorded, want %.0f ± %.0f", pct, seed, got, n, want, 4*sd)
			}
		}
	}
}

// TestSampledDeterministic: the same call gets the same answer every time
// (a restart or a second instance agrees), and the seed changes which
// calls are picked.
func TestSampledDeterministic(t *testing.T) {
	differ := 0
	for i := 0; i < 1000; i++ {
		id := fmt.Sprintf("call-%d", i)
		a := Sampled("s1", id, 30)
		if Sampled("s1", id, 30) != a {
			t.Fatalf("call %s: two answers for one call", id)
		}
		if Sampled("s2", id, 30) != a {
			differ++
		}
	}
	if differ == 0 {
		t.Fatal("seed changes nothing")
	}
	// Monotonic in the share: a call sampled at 20 % is sampled at 30 %.
	for i := 0; i < 1000; i++ {
		id := fmt.Sprintf("call-%d", i)
		if Sampled("", id, 20) && !Sampled("", id, 30) {
			t.Fatalf("call %s sampled at 20%% but not at 30%%", id)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	bad := []struct {
		p    Policy
		want string
	}{
		{Policy{}, "mode: missing"},
		{Policy{Mode: "sometimes"}, `mode: "sometimes"`},
		{Policy{Mode: ModeSampled, Percent: 101}, "percent: 101"},
		{Policy{Mode: ModeSampled, Percent: math.NaN()}, "percent"},
		{Policy{Mode: ModeAlways, Percent: 5}, "percent: only for mode"},
		{Policy{Mode: ModeAlways, RetentionDays: -1}, "retention_days"},
		{Policy{Mode: ModeAlways, Format: "../x"}, "format"},
	}
	for _, b := range bad {
		err := b.p.Validate()
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: error %v, want %q", b.p, err, b.want)
		}
	}
	if err := (Policy{Mode: ModeSampled, Percent: 12.5, RetentionDays: 90, Format: "wav"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidateNamesField(t *testing.T) {
	c := Config{Queues: map[string]Policy{"billing": {Mode: ModeSampled, Percent: 140}}}
	c.Defaults()
	err := c.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), "recordings.queues.billing.percent:") {
		t.Fatalf("got %v", err)
	}
	c = Config{Nodes: map[string]NodeConfig{"pbx1": {Template: "{call}"}}}
	c.Defaults()
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "recordings.nodes.pbx1.template:") {
		t.Fatalf("got %v", err)
	}
	c = Config{Nodes: map[string]NodeConfig{"pbx1": {Root: "rel/dir"}}}
	c.Defaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "root") {
		t.Fatalf("got %v", err)
	}
	c = Config{Queues: map[string]Policy{"sales": {Mode: ModeAlways}}, Nodes: map[string]NodeConfig{"*": {Root: "/rec"}}}
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.PolicyFor("sales").Mode != ModeAlways || c.PolicyFor("other").Mode != ModeNever {
		t.Fatal("policy lookup")
	}
	if c.Node("any").Root != "/rec" {
		t.Fatal("node fallback")
	}
}

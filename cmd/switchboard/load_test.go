package main

import (
	"encoding/json"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-cc/switchboard/load"
)

// `switchboard load` prints the run's figures in each output format, and
// the calls it reports add up; bad options are usage errors (exit 2).
func TestLoadCommand(t *testing.T) {
	args := []string{"load", "--pbx", "sim", "--speed", "50", "--duration", "20s", "--agents", "5", "--rate", "2",
		"--ring", "1s", "--talk", "5s", "--wrap-up", "1s", "--seed", "4"}
	code, out, stderr := cli(t, nil, append(args, "-o", "json", "--samples")...)
	if code != 0 {
		t.Fatalf("load -o json: exit %d: %s", code, stderr)
	}
	var r load.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("load -o json: %v\n%s", err, out)
	}
	if r.PBX != "sim" || r.Agents != 5 || r.Offered == 0 || r.Offered != r.Completed+r.Abandoned+r.Exited+r.Live || len(r.Samples) == 0 {
		t.Fatalf("report %+v", r)
	}
	code, out, stderr = cli(t, nil, append(args, "-o", "yaml")...)
	var y map[string]any
	if code != 0 || yaml.Unmarshal([]byte(out), &y) != nil || y["offered"] == nil || y["samples"] != nil {
		t.Fatalf("load -o yaml: exit %d %q %q", code, out, stderr)
	}
	code, out, stderr = cli(t, nil, append(args, "--progress")...)
	for _, want := range []string{"completed/s", "cpu", "peak rss", "live heap", "time to answer", "p99", "pbx's own count"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("load table lacks %q: exit %d\n%s\n%s", want, code, out, stderr)
		}
	}
	if !strings.Contains(stderr, "offered") {
		t.Errorf("--progress printed no sample on stderr: %q", stderr)
	}
	for _, bad := range [][]string{
		{"load", "--pbx", "pbx9"},
		{"load", "--pbx", "asterisk", "--speed", "10"},
		{"load", "--agents", "-3"},
		{"load", "--rate", "x"},
	} {
		if code, _, stderr := cli(t, nil, bad...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d %q, want 2 with the reason", bad, code, stderr)
		}
	}
}

package esl

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSampleDialplan keeps dialplans/freeswitch well-formed and in step
// with the adapter's defaults (arrival variable, heartbeat variable,
// fallback context and extension, event socket address and password).
func TestSampleDialplan(t *testing.T) {
	dir := filepath.Join("..", "..", "dialplans", "freeswitch")
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("sample files: %v %v", files, err)
	}
	all := ""
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(strings.NewReader(string(b)))
		for {
			if _, err := d.Token(); err != nil {
				if err.Error() != "EOF" {
					t.Fatalf("%s: %v", f, err)
				}
				break
			}
		}
		all += string(b)
	}
	def := Config{}.withDefaults()
	for _, want := range []string{
		`data="` + def.ArrivalVar + `=true"`,
		`global_getvar(` + def.HeartbeatVar + `)`,
		`<context name="` + def.FallbackContext + `">`,
		def.FallbackExtension + `)$"`,
		`application="park"`,
		`name="listen-ip" value="127.0.0.1"`,
		`name="listen-port" value="8021"`,
		`name="password" value="` + def.Password + `"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("sample dialplan lacks %s", want)
		}
	}
}

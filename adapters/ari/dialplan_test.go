package ari

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// confFile is an Asterisk config file read the way Asterisk reads it:
// [sections] (with (template) suffixes), key = value or key => value,
// ';' comments.
type confFile struct {
	name     string
	sections map[string][]confLine
	order    []string
}

type confLine struct {
	key, value string
	line       int
}

func readConf(t *testing.T, name string) confFile {
	t.Helper()
	path := filepath.Join("..", "..", "dialplans", "asterisk", name)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := confFile{name: name, sections: map[string][]confLine{}}
	cur := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, ";"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "["):
			end := strings.Index(line, "]")
			if end < 0 {
				t.Fatalf("%s:%d: unclosed section %q", name, n, line)
			}
			cur = line[1:end]
			if _, seen := c.sections[cur]; !seen {
				c.order = append(c.order, cur)
			}
			c.sections[cur] = append(c.sections[cur], confLine{line: n}) // marks presence
		default:
			sep := "="
			if strings.Contains(line, "=>") {
				sep = "=>"
			}
			k, v, ok := strings.Cut(line, sep)
			if !ok || cur == "" {
				t.Fatalf("%s:%d: %q is not key = value in a section", name, n, line)
			}
			c.sections[cur] = append(c.sections[cur], confLine{strings.TrimSpace(k), strings.TrimSpace(v), n})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c confFile) get(section, key string) string {
	for _, l := range c.sections[section] {
		if l.key == key {
			return l.value
		}
	}
	return ""
}

// priority is one dialplan step: context, extension, the application.
type priority struct {
	context, exten string
	app, data      string
	line           int
}

var appCall = regexp.MustCompile(`^(?:\(\w+\))?([A-Za-z]+)\((.*)\)$`)

// dialplanOf lists each extension's priorities in order ("same => n" and
// "exten => X,n" alike; labels like n(try) are skipped over).
func dialplanOf(t *testing.T, c confFile) map[string][]priority {
	t.Helper()
	out := map[string][]priority{}
	for _, ctx := range c.order {
		last := ""
		for _, l := range c.sections[ctx] {
			var ext, rest string
			switch l.key {
			case "exten":
				parts := strings.SplitN(l.value, ",", 3)
				if len(parts) != 3 {
					t.Fatalf("%s:%d: exten %q", c.name, l.line, l.value)
				}
				ext, rest = parts[0], parts[2]
			case "same":
				parts := strings.SplitN(l.value, ",", 2)
				if len(parts) != 2 || last == "" {
					t.Fatalf("%s:%d: same %q with no extension before", c.name, l.line, l.value)
				}
				ext, rest = last, parts[1]
			default:
				continue
			}
			last = ext
			m := appCall.FindStringSubmatch(rest)
			if m == nil {
				t.Fatalf("%s:%d: %q is not App(args)", c.name, l.line, rest)
			}
			k := ctx + "," + ext
			out[k] = append(out[k], priority{ctx, ext, m[1], m[2], l.line})
		}
	}
	return out
}

// TestSampleDialplan keeps dialplans/asterisk well-formed and in step
// with the adapter's defaults and with what the controller hands back to
// the dialplan: Stasis() into the default app with the DID as argument, a
// fallback after every Stasis() (never a bare Hangup: while switchboard is
// not connected Stasis() fails and the dialplan goes on), the fallback and
// voicemail contexts the controller continues calls in, an ARI user with
// write access, an HTTP server on the default URL's loopback port, and
// agent phones that the default endpoint template dials.
func TestSampleDialplan(t *testing.T) {
	ext := readConf(t, "extensions.conf")
	plan := dialplanOf(t, ext)
	if got := ext.get("globals", "SWITCHBOARD_APP"); got != DefaultApp {
		t.Errorf("extensions.conf: SWITCHBOARD_APP = %q, want %q", got, DefaultApp)
	}
	stasis := 0
	for k, prios := range plan {
		for i, p := range prios {
			if p.app != "Stasis" {
				continue
			}
			stasis++
			if !strings.HasPrefix(p.data, "${SWITCHBOARD_APP}") {
				t.Errorf("extensions.conf:%d: Stasis(%s) is not the switchboard app", p.line, p.data)
			}
			if i+1 >= len(prios) {
				t.Errorf("extensions.conf:%d: nothing after Stasis() in %s: a call arriving while switchboard is down is dropped", p.line, k)
				continue
			}
			if next := prios[i+1]; next.app == "Hangup" {
				t.Errorf("extensions.conf:%d: bare Hangup() after Stasis() in %s", next.line, k)
			}
		}
	}
	if stasis == 0 {
		t.Fatal("extensions.conf: no Stasis()")
	}
	entry := plan["switchboard-entry,s"]
	if len(entry) == 0 || !strings.Contains(fmt.Sprint(entry), "${SWITCHBOARD_DID}") {
		t.Errorf("extensions.conf: [switchboard-entry] s must pass the DID to Stasis(): %+v", entry)
	}
	for _, k := range []string{"from-pstn,_X.", "switchboard-fallback,s", "switchboard-voicemail,_X.", "agents,_X."} {
		if len(plan[k]) == 0 {
			t.Errorf("extensions.conf: no extension %s", k)
		}
	}

	ari := readConf(t, "ari.conf")
	if ari.get("general", "enabled") != "yes" || ari.get(DefaultUsername, "type") != "user" || ari.get(DefaultUsername, "read_only") != "no" || ari.get(DefaultUsername, "password") == "" {
		t.Errorf("ari.conf: want [general] enabled = yes and a writable user [%s] with a password: %+v", DefaultUsername, ari.sections)
	}
	httpc := readConf(t, "http.conf")
	u, _ := url.Parse(DefaultURL)
	if httpc.get("general", "enabled") != "yes" || httpc.get("general", "bindaddr") != u.Hostname() || httpc.get("general", "bindport") != u.Port() {
		t.Errorf("http.conf: want enabled on %s:%s (the default URL %s)", u.Hostname(), u.Port(), DefaultURL)
	}
	pj := readConf(t, "pjsip.conf")
	def, err := Config{Nodes: []NodeConfig{{Password: "x"}}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	for _, phone := range []string{"1001", "1002", "2001"} {
		if _, ok := pj.sections[phone]; !ok {
			t.Errorf("pjsip.conf: no endpoint %s", phone)
		}
		if ep := def.endpoint(phone); ep != "PJSIP/"+phone {
			t.Errorf("default agent_endpoint dials %s for %s", ep, phone)
		}
	}
	if ctx := pj.get("agent-phone", "context"); len(plan[ctx+",_X."]) == 0 {
		t.Errorf("pjsip.conf: agent phones use context %q, which extensions.conf lacks", ctx)
	}
}

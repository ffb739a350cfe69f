package ari

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/CyCoreSystems/ari/v6"
	"github.com/CyCoreSystems/ari/v6/client/native"

	"github.com/switchboard-cc/switchboard/adapters"
)

// Check is one doctor finding: what was checked, whether it passed, what
// was seen and, when it failed, what to fix.
type Check struct {
	Node   string `json:"node"`
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// MinMajorVersion is the oldest Asterisk major release supported.
const MinMajorVersion = 20

// Doctor checks every configured node: ARI reachable, credentials
// accepted, Asterisk version, and whether the Stasis app is registered
// (it is while a switchboard is connected, or channels are still held).
// It makes a few bounded REST requests and no websocket connection, so it
// never takes the app over from a running switchboard.
func Doctor(ctx context.Context, cfg Config) []Check {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return []Check{{Name: "config", Detail: err.Error(), Fix: "fix pbx.asterisk in the config file (see docs/asterisk.md)"}}
	}
	a := &Adapter{cfg: cfg, log: discardLogger()}
	var out []Check
	for _, nc := range cfg.Nodes {
		n := newNode(a, nc)
		out = append(out, n.doctor(ctx)...)
		n.tr.CloseIdleConnections()
	}
	return out
}

func (n *node) doctor(ctx context.Context) []Check {
	name := n.cfg.Name
	var info *ari.AsteriskInfo
	err := n.rest(ctx, "get asterisk info", func(c *native.Client) error {
		var err error
		info, err = c.Asterisk().Info(nil)
		return err
	})
	reach := Check{Node: name, Name: "ARI reachable", OK: true, Detail: n.cfg.URL + "/ari answers"}
	creds := Check{Node: name, Name: "ARI credentials", OK: true, Detail: fmt.Sprintf("user %q accepted", n.cfg.Username)}
	if err != nil {
		code := native.CodeFromError(rootErr(err))
		switch {
		case code == 401:
			creds = Check{Node: name, Name: "ARI credentials", Detail: fmt.Sprintf("user %q rejected (401)", n.cfg.Username),
				Fix: "make the [" + n.cfg.Username + "] user in /etc/asterisk/ari.conf and the password in switchboard's config (or SWITCHBOARD_ARI_PASSWORD) match; then 'module reload res_ari.so'"}
			return []Check{reach, creds}
		case code == 404:
			reach = Check{Node: name, Name: "ARI reachable", Detail: n.cfg.URL + " answers HTTP but /ari is 404",
				Fix: "enable ARI: 'enabled = yes' in ari.conf and load res_ari.so ('module load res_ari.so')"}
		case code != 0:
			reach = Check{Node: name, Name: "ARI reachable", Detail: fmt.Sprintf("%s/ari answered HTTP %d", n.cfg.URL, code),
				Fix: "check that the URL points at Asterisk's HTTP server (http.conf bindaddr/bindport)"}
		case errors.Is(err, ErrTimeout):
			reach = Check{Node: name, Name: "ARI reachable", Detail: "Asterisk unreachable at " + n.cfg.URL + ": no answer within " + n.a.cfg.RequestTimeout.String(),
				Fix: "check the host and port and any firewall; Asterisk's HTTP server may be hung"}
		default:
			reach = Check{Node: name, Name: "ARI reachable", Detail: "Asterisk unreachable at " + n.cfg.URL + ": " + err.Error(),
				Fix: "start Asterisk and enable its HTTP server: http.conf 'enabled = yes', 'bindaddr = 127.0.0.1', 'bindport = 8088', then 'module reload http'"}
		}
		creds = Check{Node: name, Name: "ARI credentials", Detail: "not checked: ARI unreachable", Fix: reach.Fix}
		return []Check{reach, creds}
	}
	out := []Check{reach, creds}
	v := info.SystemInfo.Version
	ver := Check{Node: name, Name: "Asterisk version", OK: true, Detail: v}
	major, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(v, "certified/"), ".", 2)[0])
	if major < MinMajorVersion {
		ver.OK = false
		ver.Fix = fmt.Sprintf("switchboard needs Asterisk %d or later (tested with 20–22); upgrade", MinMajorVersion)
	}
	out = append(out, ver)
	app := Check{Node: name, Name: "Stasis app registered", OK: true, Detail: fmt.Sprintf("app %q is registered", n.cfg.App)}
	err = n.rest(ctx, "get application", func(c *native.Client) error {
		_, err := c.Application().Data(key(ari.ApplicationKey, n.cfg.App))
		return err
	})
	switch {
	case errors.Is(err, adapters.ErrUnknownLeg):
		app = Check{Node: name, Name: "Stasis app registered", Detail: fmt.Sprintf("app %q is not registered: no switchboard is connected to this Asterisk", n.cfg.App),
			Fix: "start 'switchboard serve' with pbx.kind asterisk and check its log for 'asterisk link up'; calls meanwhile take the dialplan fallback after Stasis()"}
	case err != nil:
		app = Check{Node: name, Name: "Stasis app registered", Detail: err.Error(), Fix: "see the errors above"}
	}
	return append(out, app)
}

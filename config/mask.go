package config

import (
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Masked is what replaces a secret in `config show`.
const Masked = "********"

var secretKey = regexp.MustCompile(`(?i)(password|passwd|token|secret|api_?key)`)

// MaskedYAML renders c as YAML with every secret replaced by Masked:
// keys named like password/token/secret, and the password inside DSNs
// and URLs.
func (c Config) MaskedYAML() ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(c); err != nil {
		return nil, err
	}
	maskNode(&n)
	return yaml.Marshal(&n)
}

// MaskedMap returns c as generic maps with secrets masked, for JSON output.
func (c Config) MaskedMap() (map[string]any, error) {
	var n yaml.Node
	if err := n.Encode(c); err != nil {
		return nil, err
	}
	maskNode(&n)
	out := map[string]any{}
	err := n.Decode(&out)
	return out, err
}

func maskNode(n *yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			maskNode(c)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind == yaml.ScalarNode {
				switch {
				case secretKey.MatchString(k.Value) && v.Value != "":
					v.Value, v.Tag, v.Style = Masked, "!!str", 0
				case strings.Contains(v.Value, "@"):
					v.Value = MaskDSN(v.Value)
				}
				continue
			}
			maskNode(v)
		}
	}
}

// scheme is the "mysql://", "http://" … in front of a URL or DSN.
var scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// MaskDSN hides the password in a DSN or URL (user:pass@tcp(…)/db,
// mysql://user:pass@…, http://user:pass@host) and keeps the user: the
// operator reading `config show` or a log line needs to see which account
// is used. A DSN with a user and no password is left as it is.
//
// In a MySQL DSN the user information ends at the last "@" before the
// last "/", as go-sql-driver/mysql reads it, so a password may itself hold
// "@", ":" or "/"; in other URLs it ends before the first "/".
func MaskDSN(dsn string) string {
	if strings.HasPrefix(dsn, "sqlite:") {
		return dsn // a file path: no password, and "@" may be part of it
	}
	prefix, rest := "", dsn
	if m := scheme.FindString(dsn); m != "" {
		prefix, rest = m, dsn[len(m):]
	}
	end := strings.LastIndex(rest, "/")
	if prefix != "" && !strings.EqualFold(prefix, "mysql://") {
		end = strings.Index(rest, "/")
	}
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return dsn
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return dsn
	}
	return prefix + user + ":" + Masked + rest[at:]
}

package config

import (
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-cc/switchboard/storage"
)

// Masked is what replaces a secret in `config show`: the same mark
// storage.MaskDSN puts in place of a DSN's password.
const Masked = storage.Masked

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
					v.Value = storage.MaskDSN(v.Value)
				}
				continue
			}
			maskNode(v)
		}
	}
}

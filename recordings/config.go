package recordings

import (
	"fmt"
	"path/filepath"
	"sort"
	"time"
)

// Config is the `recordings:` section of switchboard.yaml.
type Config struct {
	// Default is the policy of every queue not listed in Queues
	// (default: never).
	Default Policy `yaml:"default" json:"default"`
	// Queues maps a queue name to its policy.
	Queues map[string]Policy `yaml:"queues" json:"queues,omitempty"`
	// SampleSeed changes which calls a sampled policy picks (not how many).
	SampleSeed string `yaml:"sample_seed" json:"sample_seed,omitempty"`
	// Nodes holds per-PBX-node file naming and storage settings; "*" is the
	// fallback for nodes not listed.
	Nodes map[string]NodeConfig `yaml:"nodes" json:"nodes,omitempty"`
	// PurgeCommand deletes one recording's file at purge time. It is run
	// without a shell, with the placeholders {path}, {name}, {node} and
	// {id} replaced in each argument, e.g. ["rm", "-f", "{path}"] or
	// ["ssh", "pbx1", "rm", "-f", "{path}"]. Empty: purge deletes the file
	// itself when it lies under the node's root, and otherwise only the
	// metadata (and says so).
	PurgeCommand []string `yaml:"purge_command" json:"purge_command,omitempty"`
	// PurgeTimeout bounds one PurgeCommand run (default 30 s).
	PurgeTimeout time.Duration `yaml:"purge_timeout" json:"purge_timeout,omitempty"`
	// Scorecards is the scorecard file (configs/scorecards.yaml).
	Scorecards string `yaml:"scorecards" json:"scorecards,omitempty"`
	// ReviewPerAgent is N in "N calls per agent per week" (default 5).
	ReviewPerAgent int `yaml:"review_per_agent" json:"review_per_agent,omitempty"`
}

// NodeConfig is how one PBX node names and keeps its recordings.
type NodeConfig struct {
	// Template names each file (see ParseTemplate); default DefaultTemplate.
	Template string `yaml:"template" json:"template,omitempty"`
	// Root is where switchboard can read this node's recording files (the
	// PBX's recording directory, or a mount of it). Empty: files are not
	// reachable and size/checksum stay unknown.
	Root string `yaml:"root" json:"root,omitempty"`
	// URIPrefix, when set, makes each recording's URI prefix+file name
	// (e.g. https://pbx1.example.com/recordings/).
	URIPrefix string `yaml:"uri_prefix" json:"uri_prefix,omitempty"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Default.Mode == "" {
		c.Default.Mode = ModeNever
	}
	if c.ReviewPerAgent == 0 {
		c.ReviewPerAgent = 5
	}
	if c.PurgeTimeout == 0 {
		c.PurgeTimeout = 30 * time.Second
	}
}

// Validate checks the section and names the field at fault
// ("recordings.queues.billing.percent: …").
func (c Config) Validate() error {
	if err := c.Default.Validate(); err != nil {
		return fmt.Errorf("recordings.default.%w", err)
	}
	for _, q := range sortedKeys(c.Queues) {
		if err := c.Queues[q].Validate(); err != nil {
			return fmt.Errorf("recordings.queues.%s.%w", q, err)
		}
	}
	for _, n := range sortedKeys(c.Nodes) {
		nc := c.Nodes[n]
		if _, err := ParseTemplate(nc.Template); err != nil {
			return fmt.Errorf("recordings.nodes.%s.template: %w", n, err)
		}
		if nc.Root != "" && !filepath.IsAbs(nc.Root) {
			return fmt.Errorf("recordings.nodes.%s.root: %q is not an absolute path", n, nc.Root)
		}
	}
	if c.ReviewPerAgent < 0 {
		return fmt.Errorf("recordings.review_per_agent: %d is negative", c.ReviewPerAgent)
	}
	if c.PurgeTimeout < 0 {
		return fmt.Errorf("recordings.purge_timeout: %s is negative", c.PurgeTimeout)
	}
	return nil
}

// PolicyFor returns the policy of a queue.
func (c Config) PolicyFor(queue string) Policy {
	if p, ok := c.Queues[queue]; ok {
		return p
	}
	return c.Default
}

// Node returns a node's settings (the "*" entry when it is not listed).
func (c Config) Node(node string) NodeConfig {
	if n, ok := c.Nodes[node]; ok {
		return n
	}
	return c.Nodes["*"]
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

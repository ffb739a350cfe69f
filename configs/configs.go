// Package configs embeds the shipped sample files so the binary carries
// them: the demo routing file that `switchboard serve` uses when no
// routing file is configured, and the documented sample config.
package configs

import _ "embed"

// DemoRouting is routing.yaml: queues support/billing/sales/general on the
// demo lines 1000/2000/3000, the routing the simulated demo floor runs on.
//
//go:embed routing.yaml
var DemoRouting []byte

// Sample is switchboard.yaml, the documented sample configuration.
//
//go:embed switchboard.yaml
var Sample []byte

package ari

import "github.com/prometheus/client_golang/prometheus"

var (
	descUp         = prometheus.NewDesc("switchboard_asterisk_node_up", "1 while the ARI events websocket to the node is connected.", []string{"node"}, nil)
	descStandby    = prometheus.NewDesc("switchboard_asterisk_node_standby", "1 when another switchboard took the Stasis app over (ApplicationReplaced) and this instance stopped acting.", []string{"node"}, nil)
	descReconnects = prometheus.NewDesc("switchboard_asterisk_reconnects_total", "Events websocket reconnects (each followed by reconciliation).", []string{"node"}, nil)
	descTimeouts   = prometheus.NewDesc("switchboard_asterisk_request_timeouts_total", "ARI requests that hit the request timeout.", []string{"node"}, nil)
	descEvents     = prometheus.NewDesc("switchboard_asterisk_events_total", "ARI events received.", []string{"node"}, nil)
	descLegs       = prometheus.NewDesc("switchboard_asterisk_legs", "Channels switchboard holds on the node.", []string{"node"}, nil)
)

// Collector returns a Prometheus collector for the nodes' link state, for
// /metrics (register it with the server's registry).
func (a *Adapter) Collector() prometheus.Collector { return collector{a} }

type collector struct{ a *Adapter }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descStandby, descReconnects, descTimeouts, descEvents, descLegs} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, s := range c.a.Status() {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, b(s.Up), s.Name)
		ch <- prometheus.MustNewConstMetric(descStandby, prometheus.GaugeValue, b(s.Standby), s.Name)
		ch <- prometheus.MustNewConstMetric(descReconnects, prometheus.CounterValue, float64(s.Reconnects), s.Name)
		ch <- prometheus.MustNewConstMetric(descTimeouts, prometheus.CounterValue, float64(s.Timeouts), s.Name)
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(s.Events), s.Name)
		ch <- prometheus.MustNewConstMetric(descLegs, prometheus.GaugeValue, float64(s.Legs), s.Name)
	}
}

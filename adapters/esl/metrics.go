package esl

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descUp         = prometheus.NewDesc("switchboard_freeswitch_node_up", "1 while both event socket connections (events, commands) to the node are up.", []string{"node"}, nil)
	descReconnects = prometheus.NewDesc("switchboard_freeswitch_reconnects_total", "Successful redials of the event socket (each followed by re-subscription and reconciliation).", []string{"node"}, nil)
	descDrops      = prometheus.NewDesc("switchboard_freeswitch_connection_drops_total", "Connections dropped: command timeouts, failed health probes, FreeSWITCH closing or saying goodbye.", []string{"node"}, nil)
	descEvents     = prometheus.NewDesc("switchboard_freeswitch_events_total", "Events received on the event connection.", []string{"node"}, nil)
	descReordered  = prometheus.NewDesc("switchboard_freeswitch_events_reordered_total", "Events that arrived after an event with a higher Event-Sequence and were put back in order.", []string{"node"}, nil)
	descLegs       = prometheus.NewDesc("switchboard_freeswitch_legs", "Channels switchboard holds on the node.", []string{"node"}, nil)
)

// metrics are the adapter's counters.
type metrics struct {
	reconnects, drops, events, reordered atomic.Int64
}

// Collector returns a Prometheus collector for the adapter's link state
// and counters; the server registers it next to its own metrics.
func (a *Adapter) Collector() prometheus.Collector { return collector{a} }

type collector struct{ a *Adapter }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descReconnects, descDrops, descEvents, descReordered, descLegs} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	a.mu.Lock()
	up, legs := a.up, len(a.legs)
	a.mu.Unlock()
	n := a.cfg.Node
	b := 0.0
	if up {
		b = 1
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, b, n)
	ch <- prometheus.MustNewConstMetric(descReconnects, prometheus.CounterValue, float64(a.m.reconnects.Load()), n)
	ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(a.m.drops.Load()), n)
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(a.m.events.Load()), n)
	ch <- prometheus.MustNewConstMetric(descReordered, prometheus.CounterValue, float64(a.m.reordered.Load()), n)
	ch <- prometheus.MustNewConstMetric(descLegs, prometheus.GaugeValue, float64(legs), n)
}

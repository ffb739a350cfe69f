package api

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// StoreHealth is what /metrics, /healthz and /readyz report about
// durability: the journal's backlog (records not yet in the database, on
// local disk and not yet fsynced), how old its oldest record is, and
// whether the database answers.
type StoreHealth struct {
	JournalBacklog       int     `json:"journal_backlog_records"`
	JournalUnsynced      int     `json:"journal_unsynced_records"`
	JournalSpilledBytes  int64   `json:"journal_spilled_bytes"`
	OldestPendingSeconds float64 `json:"journal_oldest_pending_seconds"`
	JournalWritten       int64   `json:"journal_written_records"`
	DBUp                 bool    `json:"database_up"`
	DBError              string  `json:"database_error,omitempty"`
}

// MetricsSources feed /metrics at scrape time.
type MetricsSources struct {
	// Floor returns the live picture (queues, agents, PBX nodes).
	Floor func() FloorView
	// Store returns journal and database state; nil leaves those out.
	Store func() StoreHealth
	// Extra are other packages' collectors (the PBX adapter's own figures).
	Extra []prometheus.Collector
}

// NewMetrics returns the /metrics handler: Go runtime and process metrics
// plus switchboard's own, read from the sources at each scrape so they are
// never stale and need no bookkeeping on the call path.
func NewMetrics(src MetricsSources) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&floorCollector{src: src},
	)
	for _, c := range src.Extra {
		reg.MustRegister(c)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

var (
	descWaiting     = prometheus.NewDesc("switchboard_queue_waiting_calls", "Calls waiting in the queue now.", []string{"queue"}, nil)
	descLongest     = prometheus.NewDesc("switchboard_queue_longest_wait_seconds", "How long the oldest waiting call has waited.", []string{"queue"}, nil)
	descAvgWait     = prometheus.NewDesc("switchboard_queue_average_wait_seconds", "Average wait of answered calls today.", []string{"queue"}, nil)
	descOffered     = prometheus.NewDesc("switchboard_queue_offered_calls_total", "Calls that entered the queue today.", []string{"queue"}, nil)
	descAnswered    = prometheus.NewDesc("switchboard_queue_answered_calls_total", "Calls answered by an agent today.", []string{"queue"}, nil)
	descAbandoned   = prometheus.NewDesc("switchboard_queue_abandoned_calls_total", "Calls whose caller hung up before an answer today.", []string{"queue"}, nil)
	descSL          = prometheus.NewDesc("switchboard_queue_service_level_ratio", "Share (0..1) of calls answered within the queue's threshold.", []string{"queue"}, nil)
	descSLGoal      = prometheus.NewDesc("switchboard_queue_service_level_goal_ratio", "The queue's service-level goal (0..1).", []string{"queue"}, nil)
	descSLThreshold = prometheus.NewDesc("switchboard_queue_service_level_threshold_seconds", "The queue's service-level threshold.", []string{"queue"}, nil)
	descAbandonRate = prometheus.NewDesc("switchboard_queue_abandon_ratio", "Share (0..1) of offered calls abandoned.", []string{"queue"}, nil)
	descQueueAgents = prometheus.NewDesc("switchboard_queue_agents", "Agents serving the queue, by state.", []string{"queue", "state"}, nil)
	descAgents      = prometheus.NewDesc("switchboard_agents", "Agents by state.", []string{"state"}, nil)
	descNodeUp      = prometheus.NewDesc("switchboard_pbx_connected", "1 when the PBX node is connected (and not in standby).", []string{"node"}, nil)
	descBacklog     = prometheus.NewDesc("switchboard_journal_backlog_records", "Journal records not yet written to the database.", nil, nil)
	descDBUp        = prometheus.NewDesc("switchboard_database_up", "1 when the database answers.", nil, nil)
	descUnsynced    = prometheus.NewDesc("switchboard_journal_unsynced_records", "Journal records not yet fsynced to the local log.", nil, nil)
	descSpilled     = prometheus.NewDesc("switchboard_journal_spilled_bytes", "Bytes of local journal log not yet written to the database.", nil, nil)
	descOldest      = prometheus.NewDesc("switchboard_journal_oldest_pending_seconds", "Age of the oldest journal record not yet in the database.", nil, nil)
	descWritten     = prometheus.NewDesc("switchboard_journal_written_records_total", "Journal records written to the database since start.", nil, nil)
)

// agentStates are always exported, zero included, so dashboards see a
// state drop to zero rather than vanish.
var agentStates = []string{"available", "offered", "on_call", "wrap_up", "not_ready", "logged_out"}

type floorCollector struct{ src MetricsSources }

func (c *floorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWaiting, descLongest, descAvgWait, descOffered, descAnswered, descAbandoned,
		descSL, descSLGoal, descSLThreshold, descAbandonRate, descQueueAgents, descAgents, descNodeUp, descBacklog, descDBUp,
		descUnsynced, descSpilled, descOldest, descWritten} {
		ch <- d
	}
}

func (c *floorCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	if c.src.Floor != nil {
		f := c.src.Floor()
		for _, q := range f.Queues {
			gauge(descWaiting, float64(q.Waiting), q.Name)
			gauge(descLongest, q.LongestWaitSeconds, q.Name)
			gauge(descAvgWait, q.AvgWaitSeconds, q.Name)
			counter(descOffered, float64(q.Offered), q.Name)
			counter(descAnswered, float64(q.Answered), q.Name)
			counter(descAbandoned, float64(q.Abandoned), q.Name)
			gauge(descSL, q.ServiceLevel, q.Name)
			gauge(descSLGoal, q.ServiceLevelGoal, q.Name)
			gauge(descSLThreshold, q.ServiceLevelThresholdSeconds, q.Name)
			gauge(descAbandonRate, q.AbandonRate, q.Name)
			for _, s := range agentStates {
				gauge(descQueueAgents, float64(q.AgentsByState[s]), q.Name, s)
			}
		}
		for _, s := range agentStates {
			gauge(descAgents, float64(f.Totals.AgentsByState[s]), s)
		}
		for _, n := range f.Nodes {
			up := 0.0
			if n.Up && !n.Standby {
				up = 1
			}
			gauge(descNodeUp, up, n.Name)
		}
	}
	if c.src.Store != nil {
		h := c.src.Store()
		gauge(descBacklog, float64(h.JournalBacklog))
		up := 0.0
		if h.DBUp {
			up = 1
		}
		gauge(descDBUp, up)
		gauge(descUnsynced, float64(h.JournalUnsynced))
		gauge(descSpilled, float64(h.JournalSpilledBytes))
		gauge(descOldest, h.OldestPendingSeconds)
		counter(descWritten, float64(h.JournalWritten))
	}
}

package server

import (
	"time"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/storage"
)

// reportsAPI serves the reports from the store with the options in force:
// the controller's day zone, short abandons and service-level formula, and
// each queue's threshold from the rules running now (so a report agrees
// with the wallboard after a rules apply).
func (s *Server) reportsAPI() api.Reports {
	loc := time.UTC
	if z := s.cfg.Controller.Timezone; z != "" {
		if l, err := time.LoadLocation(z); err == nil {
			loc = l
		}
	}
	return api.Reports{
		Daily:    s.store.Daily,
		Interval: s.store.Interval,
		Calls:    s.store.Calls,
		Now:      s.clk.Now,
		Defaults: func() storage.ReportOptions {
			o := storage.ReportOptions{Location: loc, ShortAbandon: s.cfg.Controller.ShortAbandon,
				Formula: s.cfg.Controller.ServiceLevel, Thresholds: map[string]time.Duration{}}
			for _, q := range s.ctl.Snapshot().Queues {
				if q.ServiceLevelThresholdSeconds > 0 {
					o.Thresholds[q.Name] = time.Duration(q.ServiceLevelThresholdSeconds * float64(time.Second))
				}
			}
			return o
		},
	}
}

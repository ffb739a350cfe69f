package server

import (
	"context"
	"fmt"
	"os"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/config"
	"github.com/switchboard-cc/switchboard/recordings"
	"github.com/switchboard-cc/switchboard/recordings/review"
)

// recordingsDesk is the recordings desk over the store and the running
// recordings service (pause, resume and start reach the PBX through it).
func (s *Server) recordingsDesk() *recordings.Desk {
	return recordings.NewDesk(s.store, s.recs, s.cfg.Recordings, s.clk.Now)
}

// recordingsAPI is /api/v1/recordings, /scorecards, /evaluations and
// /review/sample.
func (s *Server) recordingsAPI() api.Recordings { return s.recordingsDesk().API() }

// applyScorecards stores the configured scorecard file (recordings.scorecards)
// at start: a card whose content changed since the last stored version
// becomes a new version, an unchanged one stays as it is, and a bad file
// is a bad configuration (exit 2, file:line:column) that applies nothing.
func (s *Server) applyScorecards(ctx context.Context) error {
	file := s.cfg.Recordings.Scorecards
	if file == "" {
		return nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("%w: recordings.scorecards: %w", config.ErrInvalid, err)
	}
	if _, err := review.Parse(file, data); err != nil {
		return fmt.Errorf("%w: recordings.scorecards: %w", config.ErrInvalid, err)
	}
	applied, err := s.recordingsDesk().ApplyScorecards(ctx, file, data, "switchboard (recordings.scorecards)")
	if err != nil {
		return fmt.Errorf("applying scorecard file %s: %w", file, err)
	}
	for _, a := range applied {
		if a.Changed {
			s.log.Info("scorecard version stored from the config's file", "scorecard", a.Name, "version", a.Version, "file", file)
		}
	}
	return nil
}

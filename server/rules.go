package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-cc/switchboard/api"
	"github.com/switchboard-cc/switchboard/routing"
	"github.com/switchboard-cc/switchboard/storage"
)

// rules joins the rule-version store and the controller into the API's
// Rules: versions are durable in the database, and applying one reloads
// the engine without dropping a call.
func (s *Server) rulesAPI() api.Rules {
	return api.Rules{
		Add: func(ctx context.Context, v *api.RuleVersion) error {
			sv := storage.RuleVersion{Filename: v.Filename, Content: v.Content, Author: v.Author, Comment: v.Comment, RollbackOf: v.RollbackOf}
			if err := s.store.AddRuleVersion(ctx, &sv); err != nil {
				return err
			}
			*v = apiRuleVersion(sv)
			return nil
		},
		List: func(ctx context.Context, limit int) ([]api.RuleVersion, error) {
			rows, err := s.store.RuleVersions(ctx, limit)
			if err != nil {
				return nil, err
			}
			out := make([]api.RuleVersion, 0, len(rows))
			for _, r := range rows {
				v := apiRuleVersion(r)
				v.Content = ""
				out = append(out, v)
			}
			return out, nil
		},
		Get: func(ctx context.Context, version int64) (api.RuleVersion, error) {
			r, err := s.store.GetRuleVersion(ctx, version)
			if errors.Is(err, storage.ErrNotFound) {
				return api.RuleVersion{}, fmt.Errorf("%w: %w", api.ErrNotFound, err)
			}
			if err != nil {
				return api.RuleVersion{}, err
			}
			return apiRuleVersion(*r), nil
		},
		Reload: func(ctx context.Context, cfg *routing.Config) error {
			return s.ctl.ReloadRules(ctx, s.withSimAgents(cfg))
		},
		Ready:  s.ctl.Running,
		Agents: func() []routing.AgentView { return s.ctl.Snapshot().Agents },
		Now:    func() time.Time { return s.clk.Now() },
	}
}

// withSimAgents keeps the simulated agents defined across a rules reload:
// a routing file does not list them, and dropping them would log out the
// whole simulated floor.
func (s *Server) withSimAgents(cfg *routing.Config) *routing.Config {
	if len(s.simDefs) == 0 {
		return cfg
	}
	c := *cfg
	have := map[string]bool{}
	for _, a := range c.Agents {
		have[a.ID] = true
	}
	c.Agents = append([]routing.Agent(nil), c.Agents...)
	for _, a := range s.simDefs {
		if !have[a.ID] {
			c.Agents = append(c.Agents, a)
		}
	}
	return &c
}

func apiRuleVersion(r storage.RuleVersion) api.RuleVersion {
	return api.RuleVersion{Version: r.Version, Filename: r.Filename, SHA256: r.SHA256, Author: r.Author, Comment: r.Comment,
		RollbackOf: r.RollbackOf, CreatedAt: r.CreatedAt, Content: r.Content}
}

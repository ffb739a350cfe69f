package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// RuleVersion is one stored routing file. Versions are append-only and
// numbered 1, 2, 3 …: applying a file adds a version, and rolling back to
// version N adds a new version carrying N's content (RollbackOf = N), so
// the history says exactly what was in force when, and who put it there.
type RuleVersion struct {
	Version    int64     `gorm:"column:version;primaryKey;autoIncrement:false" json:"version"`
	Filename   string    `gorm:"column:filename;size:255" json:"filename"`
	Content    string    `gorm:"column:content" json:"content,omitempty"`
	SHA256     string    `gorm:"column:sha256;size:64" json:"sha256"`
	Author     string    `gorm:"column:author;size:128" json:"author"`
	Comment    string    `gorm:"column:comment" json:"comment"`
	RollbackOf int64     `gorm:"column:rollback_of" json:"rollback_of,omitempty"`
	CreatedAt  time.Time `gorm:"column:created_at" json:"created_at"`
}

// TableName pins the table name.
func (RuleVersion) TableName() string { return "rule_versions" }

// Audit actions written with rule versions.
const (
	AuditRulesApply    = "rules.apply"
	AuditRulesRollback = "rules.rollback"
)

// AddRuleVersion stores v as the next version number and writes its audit
// entry in the same transaction: a version is never recorded without its
// audit line, nor the reverse. v.Version, v.SHA256 and v.CreatedAt (when
// zero) are filled in. Two instances applying at once both succeed with
// consecutive numbers (the loser of the primary-key race retries).
func (s *Store) AddRuleVersion(ctx context.Context, v *RuleVersion) error {
	if v.Content == "" {
		return fmt.Errorf("add rule version: empty content")
	}
	sum := sha256.Sum256([]byte(v.Content))
	v.SHA256 = hex.EncodeToString(sum[:])
	if v.CreatedAt.IsZero() {
		v.CreatedAt = time.Now().UTC()
	}
	v.CreatedAt = v.CreatedAt.UTC()
	action := AuditRulesApply
	if v.RollbackOf > 0 {
		action = AuditRulesRollback
	}
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if attempt > 0 {
			// Another instance took the number: back off a little so a
			// burst of applies does not keep colliding.
			select {
			case <-ctx.Done():
				return fmt.Errorf("add rule version (%s by %s): %w", v.Filename, v.Author, ctx.Err())
			case <-time.After(time.Duration(attempt) * 3 * time.Millisecond):
			}
		}
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var max int64
			if err := tx.Model(&RuleVersion{}).Select("COALESCE(MAX(version), 0)").Scan(&max).Error; err != nil {
				return err
			}
			v.Version = max + 1
			if err := tx.Create(v).Error; err != nil {
				return err
			}
			detail := fmt.Sprintf("file %s sha256 %s", v.Filename, v.SHA256)
			if v.RollbackOf > 0 {
				detail = fmt.Sprintf("rollback to version %d; %s", v.RollbackOf, detail)
			}
			if v.Comment != "" {
				detail += "; " + v.Comment
			}
			return tx.Create(&AuditEntry{At: v.CreatedAt, Actor: v.Author, Action: action, Subject: fmt.Sprintf("rules version %d", v.Version), Detail: detail}).Error
		})
		if !errors.Is(err, gorm.ErrDuplicatedKey) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("add rule version (%s by %s): %w", v.Filename, v.Author, err)
	}
	return nil
}

// RuleVersions lists versions newest first, without their content.
func (s *Store) RuleVersions(ctx context.Context, limit int) ([]RuleVersion, error) {
	if limit <= 0 || limit > 10000 {
		limit = 100
	}
	var out []RuleVersion
	err := s.db.WithContext(ctx).Model(&RuleVersion{}).
		Select("version", "filename", "sha256", "author", "comment", "rollback_of", "created_at").
		Order("version DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list rule versions: %w", err)
	}
	return out, nil
}

// GetRuleVersion returns one version with its content; ErrNotFound if unknown.
func (s *Store) GetRuleVersion(ctx context.Context, version int64) (*RuleVersion, error) {
	var v RuleVersion
	err := s.db.WithContext(ctx).Where("version = ?", version).Take(&v).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("rule version %d: %w", version, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("rule version %d: %w", version, err)
	}
	return &v, nil
}

// LatestRuleVersion returns the version in force (the highest number)
// with its content; ErrNotFound when no version was ever applied.
func (s *Store) LatestRuleVersion(ctx context.Context) (*RuleVersion, error) {
	var v RuleVersion
	err := s.db.WithContext(ctx).Order("version DESC").Limit(1).Take(&v).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("latest rule version: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("latest rule version: %w", err)
	}
	return &v, nil
}

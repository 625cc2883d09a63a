package org

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Postgres keeps the read model in the departments, teams and team_members
// tables.
type Postgres struct{ projections.PgProjection }

// NewPostgres returns a store on the pool (migrations already applied).
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	return &Postgres{projections.NewPgProjection(pool, Name)}
}

func (p *Postgres) Apply(ctx context.Context, batch []es.Recorded) error {
	return projections.PgApply(ctx, p.Pool, Name, batch, isOrg, func(ctx context.Context, tx pgx.Tx, rec es.Recorded) error {
		switch {
		case isDepartment(rec):
			return applyDepartment(ctx, tx, rec)
		case isTeam(rec):
			return applyTeam(ctx, tx, rec)
		}
		return nil
	})
}

func applyDepartment(ctx context.Context, tx pgx.Tx, rec es.Recorded) error {
	// The row lock keeps a concurrent instance from folding the same
	// department from a stale version.
	var d Department
	err := tx.QueryRow(ctx, `SELECT id, workspace_id, name, created_at, version FROM departments WHERE id = $1 FOR UPDATE`,
		departmentIDOf(rec)).Scan(&d.ID, &d.WorkspaceID, &d.Name, &d.CreatedAt, &d.Version)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	changed, err := FoldDepartment(&d, rec)
	if err != nil || !changed {
		return err
	}
	_, err = tx.Exec(ctx, `
INSERT INTO departments (id, workspace_id, name, created_at, version) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, version = EXCLUDED.version`,
		d.ID, d.WorkspaceID, d.Name, d.CreatedAt, d.Version)
	return err
}

func applyTeam(ctx context.Context, tx pgx.Tx, rec es.Recorded) error {
	id := teamIDOf(rec)
	var t Team
	err := tx.QueryRow(ctx, `SELECT id, workspace_id, department_id, name, created_at, version FROM teams WHERE id = $1 FOR UPDATE`,
		id).Scan(&t.ID, &t.WorkspaceID, &t.DepartmentID, &t.Name, &t.CreatedAt, &t.Version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	default:
		rows, err := tx.Query(ctx, `SELECT user_id FROM team_members WHERE team_id = $1 ORDER BY user_id COLLATE "C"`, id)
		if err != nil {
			return err
		}
		if t.MemberIDs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
	}
	before := t.MemberIDs
	changed, err := FoldTeam(&t, rec)
	if err != nil || !changed {
		return err
	}
	if _, err = tx.Exec(ctx, `
INSERT INTO teams (id, workspace_id, department_id, name, created_at, version) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET department_id = EXCLUDED.department_id, name = EXCLUDED.name, version = EXCLUDED.version`,
		t.ID, t.WorkspaceID, t.DepartmentID, t.Name, t.CreatedAt, t.Version); err != nil {
		return err
	}
	// Only the difference is written: one row per joining or leaving member.
	for _, u := range t.MemberIDs {
		if _, found := slices.BinarySearch(before, u); !found {
			if _, err := tx.Exec(ctx, `INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, t.ID, u); err != nil {
				return err
			}
		}
	}
	for _, u := range before {
		if _, found := slices.BinarySearch(t.MemberIDs, u); !found {
			if _, err := tx.Exec(ctx, `DELETE FROM team_members WHERE team_id = $1 AND user_id = $2`, t.ID, u); err != nil {
				return err
			}
		}
	}
	return nil
}

// isUUID guards the uuid columns: an id that cannot exist is "not found",
// as in the memory store, rather than a cast error from Postgres.
const departmentQuery = `
SELECT d.id, d.workspace_id, d.name, d.created_at, d.version,
  (SELECT count(*) FROM teams t WHERE t.workspace_id = d.workspace_id AND t.department_id = d.id::text)
FROM departments d WHERE d.workspace_id = $1`

func scanDepartment(row pgx.Row) (Department, error) {
	var d Department
	err := row.Scan(&d.ID, &d.WorkspaceID, &d.Name, &d.CreatedAt, &d.Version, &d.Teams)
	// pgx hands back times in the session's zone; UTC keeps views equal to
	// the memory store's.
	d.CreatedAt = d.CreatedAt.UTC()
	return d, err
}

func (p *Postgres) Departments(ctx context.Context, workspaceID string) ([]Department, error) {
	out := []Department{}
	if !projections.IsUUID(workspaceID) {
		return out, nil
	}
	rows, err := projections.Query(ctx, p.Pool, workspaceID, departmentQuery+` ORDER BY d.name COLLATE "C", d.id`, workspaceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDepartment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (p *Postgres) Department(ctx context.Context, workspaceID, id string) (Department, bool, error) {
	if !projections.IsUUID(workspaceID) || !projections.IsUUID(id) {
		return Department{}, false, nil
	}
	d, err := scanDepartment(projections.QueryRow(ctx, p.Pool, workspaceID, departmentQuery+` AND d.id = $2`, workspaceID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Department{}, false, nil
	}
	if err != nil {
		return Department{}, false, err
	}
	return d, true, nil
}

// teamQuery selects the workspace's teams ($1) with their department's name
// and their members; callers add conditions on t and m.
const teamQuery = `
SELECT t.id, t.workspace_id, t.department_id, coalesce(d.name, ''), t.name, t.created_at, t.version,
  array(SELECT m.user_id FROM team_members m WHERE m.team_id = t.id ORDER BY m.user_id COLLATE "C")
FROM teams t
LEFT JOIN departments d ON d.id::text = t.department_id AND d.workspace_id = t.workspace_id
WHERE t.workspace_id = $1`

func (p *Postgres) teams(ctx context.Context, where string, args ...any) ([]Team, error) {
	out := []Team{}
	if !projections.IsUUID(args[0].(string)) {
		return out, nil
	}
	rows, err := projections.Query(ctx, p.Pool, args[0].(string), teamQuery+where+` ORDER BY t.name COLLATE "C", t.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var t Team
		if err := rows.Scan(&t.ID, &t.WorkspaceID, &t.DepartmentID, &t.DepartmentName, &t.Name, &t.CreatedAt,
			&t.Version, &t.MemberIDs); err != nil {
			return nil, err
		}
		t.CreatedAt = t.CreatedAt.UTC()
		if t.MemberIDs == nil {
			t.MemberIDs = []string{}
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (p *Postgres) Teams(ctx context.Context, workspaceID, departmentID string) ([]Team, error) {
	if departmentID = strings.TrimSpace(departmentID); departmentID == "" {
		return p.teams(ctx, "", workspaceID)
	}
	return p.teams(ctx, ` AND t.department_id = $2`, workspaceID, departmentID)
}

func (p *Postgres) Team(ctx context.Context, workspaceID, id string) (Team, bool, error) {
	if !projections.IsUUID(id) {
		return Team{}, false, nil
	}
	ts, err := p.teams(ctx, ` AND t.id = $2`, workspaceID, id)
	if err != nil || len(ts) == 0 {
		return Team{}, false, err
	}
	return ts[0], true, nil
}

func (p *Postgres) FindTeams(ctx context.Context, workspaceID, name string) ([]Team, error) {
	pattern := "%" + projections.EscapeLike(strings.TrimSpace(name)) + "%"
	return p.teams(ctx, ` AND (t.name ILIKE $2 ESCAPE '\' OR coalesce(d.name, '') ILIKE $2 ESCAPE '\')`, workspaceID, pattern)
}

func (p *Postgres) TeamsOf(ctx context.Context, workspaceID, userID string) ([]Team, error) {
	return p.teams(ctx, ` AND EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = t.id AND m.user_id = $2)`,
		workspaceID, userID)
}

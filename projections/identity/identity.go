// Package identity is the read model of workspaces and their members: it
// turns a presented bearer token (by its hash) into a person and a role.
package identity

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Name keys this projection's checkpoint.
const Name = "identity"

// Member is a person who can call the API.
type Member struct {
	UserID      string
	WorkspaceID string
	Email       string
	Role        string
	TokenHash   string
	CreatedAt   time.Time
}

// Workspace is a tenant.
type Workspace struct {
	ID        string
	Name      string
	CreatedAt time.Time
	Version   int64
}

// Store is the identity read model.
type Store interface {
	projections.Projection
	MemberByTokenHash(ctx context.Context, hash string) (Member, bool, error)
	Member(ctx context.Context, userID string) (Member, bool, error)
	Workspace(ctx context.Context, id string) (Workspace, bool, error)
	// Members lists a workspace's people, by email.
	Members(ctx context.Context, workspaceID string) ([]Member, error)
}

func isWorkspace(rec es.Recorded) bool { return strings.HasPrefix(rec.Stream, "workspace-") }

// decode checks the workspace's version and decodes the event; ok is false
// for an event the view already holds.
func decode(ws Workspace, rec es.Recorded) (es.Fact, bool, error) {
	return projections.Next(ws.Version, rec, workspace.Events, nil)
}

// Memory keeps identity in memory; rebuilt from the log at start.
type Memory struct {
	projections.MemoryLock
	workspaces map[string]*Workspace
	members    map[string]*Member
	byToken    map[string]string
}

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{workspaces: map[string]*Workspace{}, members: map[string]*Member{}, byToken: map[string]string{}}
}

func (m *Memory) Name() string { return Name }

// Apply is all-or-nothing, like the Postgres transaction: the batch folds
// into copies of what it touches, swapped in only if every event folded.
func (m *Memory) Apply(_ context.Context, batch []es.Recorded) error {
	m.Mu.Lock()
	defer m.Mu.Unlock()
	workspaces, members := map[string]Workspace{}, map[string]Member{}
	cp := m.Cp
	for _, rec := range batch {
		if !cp.Less(rec.Position) {
			continue
		}
		cp = rec.Position
		if !isWorkspace(rec) {
			continue
		}
		id := strings.TrimPrefix(rec.Stream, "workspace-")
		ws, staged := workspaces[id]
		if old := m.workspaces[id]; !staged && old != nil {
			ws = *old
		}
		f, ok, err := decode(ws, rec)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		switch e := f.(type) {
		case *workspace.Created:
			ws = Workspace{ID: e.WorkspaceID, Name: e.Name, CreatedAt: e.CreatedAt}
		case *workspace.MemberAdded:
			if _, twice := members[e.UserID]; twice {
				break
			}
			members[e.UserID] = Member{UserID: e.UserID, WorkspaceID: e.WorkspaceID, Email: e.Email, Role: string(e.Role),
				TokenHash: e.TokenHash, CreatedAt: e.AddedAt}
		}
		ws.Version = rec.StreamVersion
		workspaces[id] = ws
	}
	for id, ws := range workspaces {
		m.workspaces[id] = &ws
	}
	for id, mem := range members {
		if _, known := m.members[id]; !known { // the first membership stands, as in Postgres
			m.members[id] = &mem
			m.byToken[mem.TokenHash] = id
		}
	}
	m.Cp = cp
	return nil
}

func (m *Memory) MemberByTokenHash(ctx context.Context, hash string) (Member, bool, error) {
	m.Mu.RLock()
	id, ok := m.byToken[hash]
	m.Mu.RUnlock()
	if !ok {
		return Member{}, false, nil
	}
	return m.Member(ctx, id)
}

func (m *Memory) Member(_ context.Context, userID string) (Member, bool, error) {
	m.Mu.RLock()
	defer m.Mu.RUnlock()
	if v, ok := m.members[userID]; ok {
		return *v, true, nil
	}
	return Member{}, false, nil
}

func (m *Memory) Workspace(_ context.Context, id string) (Workspace, bool, error) {
	m.Mu.RLock()
	defer m.Mu.RUnlock()
	if v, ok := m.workspaces[id]; ok {
		return *v, true, nil
	}
	return Workspace{}, false, nil
}

// Postgres keeps identity in the workspaces and members tables.
type Postgres struct{ projections.PgProjection }

// NewPostgres returns a store on the pool.
func NewPostgres(pool *pgxpool.Pool) *Postgres {
	return &Postgres{projections.NewPgProjection(pool, Name)}
}

func (p *Postgres) Apply(ctx context.Context, batch []es.Recorded) error {
	return projections.PgApply(ctx, p.Pool, Name, batch, isWorkspace, func(ctx context.Context, tx pgx.Tx, rec es.Recorded) error {
		id := strings.TrimPrefix(rec.Stream, "workspace-")
		var ws Workspace
		err := tx.QueryRow(ctx, `SELECT id, name, created_at, version FROM workspaces WHERE id = $1 FOR UPDATE`, id).
			Scan(&ws.ID, &ws.Name, &ws.CreatedAt, &ws.Version)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		f, ok, err := decode(ws, rec)
		if err != nil || !ok {
			return err
		}
		switch e := f.(type) {
		case *workspace.Created:
			_, err = tx.Exec(ctx, `INSERT INTO workspaces (id, name, created_at, version) VALUES ($1, $2, $3, $4)`,
				e.WorkspaceID, e.Name, e.CreatedAt, rec.StreamVersion)
			return err
		case *workspace.MemberAdded:
			if _, err = tx.Exec(ctx, `INSERT INTO members (user_id, workspace_id, email, role, token_hash, created_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO NOTHING`,
				e.UserID, e.WorkspaceID, e.Email, string(e.Role), e.TokenHash, e.AddedAt); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE workspaces SET version = $2 WHERE id = $1`, id, rec.StreamVersion)
		return err
	})
}

func (p *Postgres) member(ctx context.Context, where string, arg any) (Member, bool, error) {
	var m Member
	err := projections.QueryRow(ctx, p.Pool, "", `SELECT user_id, workspace_id, email, role, token_hash, created_at FROM members WHERE `+where, arg).
		Scan(&m.UserID, &m.WorkspaceID, &m.Email, &m.Role, &m.TokenHash, &m.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Member{}, false, nil
	}
	return m, err == nil, err
}

func (p *Postgres) MemberByTokenHash(ctx context.Context, hash string) (Member, bool, error) {
	return p.member(projections.Unscoped(ctx), "token_hash = $1", hash)
}

func (p *Postgres) Member(ctx context.Context, userID string) (Member, bool, error) {
	return p.member(ctx, "user_id = $1", userID)
}

func (p *Postgres) Workspace(ctx context.Context, id string) (Workspace, bool, error) {
	var ws Workspace
	err := projections.QueryRow(ctx, p.Pool, "", `SELECT id, name, created_at, version FROM workspaces WHERE id = $1`, id).
		Scan(&ws.ID, &ws.Name, &ws.CreatedAt, &ws.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return Workspace{}, false, nil
	}
	return ws, err == nil, err
}

func (m *Memory) Members(_ context.Context, workspaceID string) ([]Member, error) {
	m.Mu.RLock()
	defer m.Mu.RUnlock()
	var out []Member
	for _, v := range m.members {
		if v.WorkspaceID == workspaceID {
			out = append(out, *v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	return out, nil
}

func (p *Postgres) Members(ctx context.Context, workspaceID string) ([]Member, error) {
	rows, err := projections.Query(ctx, p.Pool, workspaceID, `SELECT user_id, workspace_id, email, role, token_hash, created_at FROM members
WHERE workspace_id = $1 ORDER BY email COLLATE "C"`, workspaceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.UserID, &m.WorkspaceID, &m.Email, &m.Role, &m.TokenHash, &m.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

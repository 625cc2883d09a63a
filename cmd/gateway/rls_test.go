package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	gatewaycli "github.com/sois-ai/chat-agent-gateway/handlers/cli"
	"github.com/sois-ai/chat-agent-gateway/infra/pg"
	"github.com/sois-ai/chat-agent-gateway/infra/rebuild"
)

// globalTables hold no tenant's rows for callers to read: the event log
// (streams are read by id, never listed for a caller), checkpoints, the
// instances' heartbeats, goose's own table, and the command queue's
// watermill_* tables. Every other table must be under forced RLS.
var globalTables = map[string]bool{
	"streams": true, "events": true, "subscription_checkpoints": true, "projection_checkpoints": true,
	"gateway_instances": true, "goose_db_version": true,
}

// tenantOf is, per tenant table, how the owner finds the workspace a row
// belongs to (for the check, not the policy).
var tenantOf = map[string]string{
	"workspaces":           `id::text`,
	"members":              `workspace_id::text`,
	"api_keys":             `workspace_id::text`,
	"conversations":        `workspace_id::text`,
	"contacts":             `workspace_id::text`,
	"tasks":                `workspace_id::text`,
	"documents":            `workspace_id::text`,
	"departments":          `workspace_id::text`,
	"teams":                `workspace_id::text`,
	"emails":               `workspace_id::text`,
	"billing_charges":      `workspace_id`,
	"team_members":         `(SELECT workspace_id::text FROM teams WHERE teams.id = team_id)`,
	"billing_periods":      `(SELECT workspace_id::text FROM api_keys k WHERE k.id::text = api_key_id)`,
	"billing_reservations": `(SELECT workspace_id::text FROM api_keys k WHERE k.id::text = api_key_id)`,
	"conversation_usage":   `(SELECT workspace_id::text FROM api_keys k WHERE k.id = api_key_id)`,
	"mcp_usage":            `(SELECT workspace_id::text FROM api_keys k WHERE k.id = api_key_id)`,
	"mcp_calls":            `(SELECT workspace_id::text FROM api_keys k WHERE k.id = api_key_id)`,
	"agents":               `workspace_id::text`,
}

// TestRowLevelSecurityKeepsTenantsApart fills two workspaces through the
// API (REST, the agent's tools, MCP) and checks, against the real
// Postgres, that every table holding tenants' rows is under forced RLS;
// that the tenant role reading as workspace A gets exactly A's rows of
// every table and none of B's; that without a workspace it gets none;
// that it cannot write; and that the REST lists, the agent's tools and
// MCP really read under it (a policy turned to "nothing" empties them).
func TestRowLevelSecurityKeepsTenantsApart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "postgres")
	type tenant struct {
		owner member
		c     creds
		ws    string
	}
	fill := func(name, domain, contact string) tenant {
		owner := h.createWorkspace(name, "owner@"+domain)
		mate := h.addUser(owner, "mate@"+domain, "member")
		team := h.setupTeam(owner, name+" Sales")
		h.setupTeamMember(owner, team, mate.UserID)
		if r := h.do(req{Method: "POST", Path: "/api/departments", Auth: bearerOf(owner.Token), Body: map[string]string{"name": name + " Ops"}}); r.Status != http.StatusCreated {
			t.Fatalf("department: %d %s", r.Status, r.Raw)
		}
		h.setupDocument(owner, name+" onboarding guide", "/Guides", "Welcome to "+name+". Read this first.")
		if r := h.do(req{Method: "POST", Path: "/api/agents", Auth: bearerOf(owner.Token), Body: map[string]any{"name": name + " Support"}}); r.Status != http.StatusCreated {
			t.Fatalf("agent: %d %s", r.Status, r.Raw)
		}
		c := h.principal(owner)
		for _, msg := range []string{
			"Create a contact for " + contact + " at " + name + " Ltd, " + strings.ToLower(strings.ReplaceAll(contact, " ", ".")) + "@" + domain,
			"Create a task to call " + contact + " next Monday",
			"Send an email to " + contact + " about the renewal",
		} {
			if _, p := h.ask(c, msg); p.Status != "resolved" {
				t.Fatalf("%q: %+v", msg, p)
			}
		}
		s, err := h.mcpSession(c)
		if err != nil {
			t.Fatalf("mcp: %v", err)
		}
		mcpCall(t, s, "search_contacts", map[string]any{"query": contact})
		_ = s.Close()
		return tenant{owner: owner, c: c, ws: owner.WorkspaceID}
	}
	a := fill("Acme", "acme.test", "Nora Quinn")
	b := fill("Globex", "globex.test", "Otto Brandt")
	h.quiesce()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := pgx.Connect(ctx, h.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)

	// Every table but the global ones is under forced RLS, and known here.
	rows, err := db.Query(ctx, `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')`)
	if err != nil {
		t.Fatal(err)
	}
	type table struct {
		name        string
		rls, forced bool
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var tb table
		return tb, r.Scan(&tb.name, &tb.rls, &tb.forced)
	})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, tb := range tables {
		if globalTables[tb.name] || strings.HasPrefix(tb.name, "watermill_") {
			continue
		}
		if !tb.rls || !tb.forced {
			t.Errorf("table %s: row level security enabled %v, forced %v; every tenant table needs both", tb.name, tb.rls, tb.forced)
		}
		if _, ok := tenantOf[tb.name]; !ok {
			t.Errorf("table %s is new to this test: say how its rows belong to a workspace", tb.name)
		}
		checked++
	}
	if checked != len(tenantOf) {
		t.Errorf("%d tenant tables in the schema, %d known to the test", checked, len(tenantOf))
	}

	// as runs fn in a transaction under the tenant role, for ws ("" for none).
	as := func(ws string, fn func(tx pgx.Tx) error) error {
		tx, err := db.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, `SET LOCAL ROLE gateway_tenant`); err != nil {
			return err
		}
		if ws != "" {
			if _, err := tx.Exec(ctx, `SELECT set_config('app.workspace_id', $1, true)`, ws); err != nil {
				return err
			}
		}
		return fn(tx)
	}
	// After a rebuild of every read model (fresh tables swapped in, the old
	// ones and the scratch schema dropped), the same holds: the policies
	// that reach another table name the live one (migration 00018).
	checkTables := func(when string) {
		t.Helper()
		for name, owned := range tenantOf {
			// What the owner sees: each row (as text) and its workspace.
			rows, err := db.Query(ctx, `SELECT t::text, `+owned+` FROM `+name+` t`)
			if err != nil {
				t.Fatalf(when+": %s: %v", name, err)
			}
			whose := map[string]string{}
			count := map[string]int{}
			for rows.Next() {
				var row, ws string
				if err := rows.Scan(&row, &ws); err != nil {
					t.Fatalf(when+": %s: %v", name, err)
				}
				whose[row] = ws
				count[ws]++
			}
			rows.Close()
			for _, tn := range []tenant{a, b} {
				if count[tn.ws] == 0 {
					t.Errorf(when+": %s: no row of workspace %s to check with", name, tn.ws)
				}
				var seen []string
				err := as(tn.ws, func(tx pgx.Tx) error {
					rows, err := tx.Query(ctx, `SELECT t::text FROM `+name+` t`)
					if err != nil {
						return err
					}
					seen, err = pgx.CollectRows(rows, pgx.RowTo[string])
					return err
				})
				if err != nil {
					t.Fatalf("%s as %s: %v", name, tn.ws, err)
				}
				for _, row := range seen {
					if whose[row] != tn.ws {
						t.Errorf(when+": %s: the tenant role as workspace %s read a row of %q: %s", name, tn.ws, whose[row], row)
					}
				}
				if len(seen) != count[tn.ws] {
					t.Errorf(when+": %s: the tenant role as workspace %s read %d rows, the workspace has %d", name, tn.ws, len(seen), count[tn.ws])
				}
			}
			var none int
			if err := as("", func(tx pgx.Tx) error {
				return tx.QueryRow(ctx, `SELECT count(*) FROM `+name).Scan(&none)
			}); err != nil || none != 0 {
				t.Errorf(when+": %s: the tenant role without a workspace read %d rows (err %v), want 0", name, none, err)
			}
			// The tenant role reads; only projectors (the owner) write.
			err = as(a.ws, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `DELETE FROM `+name)
				return err
			})
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
				t.Errorf(when+": %s: a delete by the tenant role gave %v, want permission denied", name, err)
			}
		}
	}
	checkTables("after the first fill")
	// Read models whose policies reach api_keys or teams without them, then
	// those two alone, then everything; the old tables dropped each time.
	for _, names := range [][]string{{"billing", "mcp_usage", "conversations"}, {"api_keys", "org"}, nil} {
		if _, err := gatewaycli.RebuildPostgres(ctx, h.cfg.Stores(pg.Options{}), names, rebuild.Options{DropOld: true}); err != nil {
			t.Fatalf("rebuild %v: %v", names, err)
		}
		checkTables(fmt.Sprintf("after a rebuild of %v", names))
	}

	// The requests' own reads go through the policy: with contacts' and
	// departments' policies turned to "nothing", the agent's tools, MCP and
	// the REST list find nothing although the rows are there; back on,
	// they find them again.
	policy := func(rule string) {
		for _, tb := range []string{"contacts", "departments"} {
			if _, err := db.Exec(ctx, `ALTER POLICY tenant_isolation ON `+tb+` USING (`+rule+`)`); err != nil {
				t.Fatal(err)
			}
		}
	}
	looks := func(c creds, owner member) (agent, mcp string, departments int) {
		_, p := h.ask(c, "Find the contact Nora Quinn")
		s, err := h.mcpSession(c)
		if err != nil {
			t.Fatalf("mcp: %v", err)
		}
		defer s.Close()
		_, mcp = mcpCall(t, s, "search_contacts", map[string]any{"query": "Nora"})
		r := h.do(req{Method: "GET", Path: "/api/departments", Auth: bearerOf(owner.Token)})
		ds, _ := r.JSON(t)["departments"].([]any)
		return p.reply(), mcp, len(ds)
	}
	policy("false")
	reply, viaMCP, ds := looks(a.c, a.owner)
	if strings.Contains(reply, "nora.quinn@") || strings.Contains(viaMCP, "Nora Quinn") || ds != 0 {
		t.Errorf("with the policy letting nothing through, the reads still found rows: agent %q, mcp %q, %d departments", reply, viaMCP, ds)
	}
	policy(`workspace_id = NULLIF(current_setting('app.workspace_id', true), '')::uuid`)
	reply, viaMCP, ds = looks(a.c, a.owner)
	if !strings.Contains(reply, "Nora Quinn") || !strings.Contains(viaMCP, "Nora Quinn") || ds != 1 {
		t.Errorf("with the policy back, the reads miss the workspace's rows: agent %q, mcp %q, %d departments", reply, viaMCP, ds)
	}
	// And B's caller never sees A's contact, by name or through MCP.
	reply, viaMCP, _ = looks(b.c, b.owner)
	if strings.Contains(reply, "nora.quinn@") || strings.Contains(viaMCP, "Nora Quinn") {
		t.Errorf("workspace B found A's contact: agent %q, mcp %q", reply, viaMCP)
	}
}

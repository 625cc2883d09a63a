package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/sois-ai/chat-agent-gateway/projections/conversations"
)

// conversationItem is one row of GET /api/agent.
type conversationItem struct {
	ConversationUUID string    `json:"conversation_uuid"`
	Status           string    `json:"status"`
	Outcome          string    `json:"outcome,omitempty"`
	Turn             int       `json:"turn"`
	CreatedAt        Timestamp `json:"created_at"`
	UpdatedAt        Timestamp `json:"updated_at"`
	ExpiresAt        Timestamp `json:"expires_at"`
}

// listConversations is GET /api/agent: the caller's conversations, newest
// first, a page at a time (limit, cursor), optionally of one status and
// since a time.
func (s *Server) listConversations(w http.ResponseWriter, r *http.Request, c caller) {
	vals := r.URL.Query()
	status := vals.Get("status")
	switch status {
	case "", "open", "processing", "resolved", "failed":
	default:
		writeError(w, validation("status must be open, processing, resolved or failed, not %q.", status))
		return
	}
	var since time.Time
	if v := vals.Get("since"); vals.Has("since") {
		var err error
		if since, err = time.Parse(time.RFC3339, v); err != nil {
			if since, err = time.Parse(time.DateOnly, v); err != nil || since.Year() < 1970 || since.Year() > 9999 {
				writeError(w, validation("since must be a time like 2026-12-07T09:30:00Z or a day like 2026-12-07 (UTC), not %q.", v))
				return
			}
		}
	}
	list := "agent:" + status + ":" + strings.ReplaceAll(vals.Get("since"), ":", "")
	q, e := s.parsePage(r, list)
	if e != nil {
		writeError(w, e)
		return
	}
	uq := conversations.UserQuery{WorkspaceID: c.WorkspaceID, UserID: c.UserID, Status: status, Since: since, Limit: q.limit + 1}
	if q.after != nil {
		uq.Before = &conversations.Place{CreatedAt: q.after.At, ID: q.after.ID}
	}
	views, err := s.d.Conversations.ByUser(r.Context(), uq)
	if err != nil {
		writeError(w, s.internal(r, err))
		return
	}
	var next *string
	if len(views) > q.limit {
		views = views[:q.limit]
		last := views[len(views)-1]
		next = s.sealCursor(pageKey{List: list, At: last.CreatedAt.Truncate(time.Microsecond), ID: last.ID})
	}
	items := make([]conversationItem, 0, len(views))
	for _, v := range views {
		items = append(items, conversationItem{ConversationUUID: v.ID, Status: v.Status, Outcome: v.Outcome, Turn: v.Turn,
			CreatedAt: ts(v.CreatedAt), UpdatedAt: ts(v.UpdatedAt), ExpiresAt: ts(v.ExpiresAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": items, "next_cursor": next})
}

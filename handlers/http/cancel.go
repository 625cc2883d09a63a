package httpapi

import (
	"errors"
	"net/http"

	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/projections/conversations"
)

// cancelConversation stops a running conversation of the caller's:
// 200 with the poll body of the ended conversation (failed, CANCELLED);
// 409 when it had already ended.
func (s *Server) cancelConversation(w http.ResponseWriter, r *http.Request) {
	c, v, e := s.heldConversation(r)
	if e != nil {
		writeError(w, e)
		return
	}
	pos, err := s.d.Commands.CancelConversation(r.Context(), v.ID, c.UserID)
	switch {
	case errors.Is(err, conversation.ErrEnded):
		writeError(w, errorf(http.StatusConflict, CodeConflict,
			"Conversation %s has already ended (%s); there is nothing to cancel.", v.ID, v.Status))
		return
	case err != nil:
		writeError(w, s.internal(r, err))
		return
	}
	s.settle(r, pos)
	if v, e = s.ownConversation(r, c); e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, pollFromView(v))
}

// heldConversation is the conversation of the path, for a change by the
// caller who holds it: token and key, their own conversation (anyone
// else's is "not found").
func (s *Server) heldConversation(r *http.Request) (caller, conversations.View, *apiError) {
	c, _, e := s.both(r)
	if e != nil {
		return c, conversations.View{}, e
	}
	v, e := s.ownConversation(r, c)
	return c, v, e
}

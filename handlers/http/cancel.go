package httpapi

import (
	"errors"
	"net/http"

	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
)

// cancelConversation stops a running conversation of the caller's:
// 200 with the poll body of the ended conversation (failed, CANCELLED);
// 409 when it had already ended.
func (s *Server) cancelConversation(w http.ResponseWriter, r *http.Request) {
	c, _, e := s.both(r)
	if e != nil {
		writeError(w, e)
		return
	}
	v, e := s.ownConversation(r, c)
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

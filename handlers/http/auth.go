package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/projections/apikeys"
	"github.com/sois-ai/chat-agent-gateway/projections/identity"
)

// caller is the person behind a bearer token.
type caller struct {
	identity.Member
}

func (c caller) is(roles ...string) bool {
	for _, r := range roles {
		if c.Role == r {
			return true
		}
	}
	return false
}

func bearer(r *http.Request) (string, bool) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// authenticate resolves the bearer token to a member of a workspace.
func (s *Server) authenticate(r *http.Request) (caller, *apiError) {
	tok, ok := bearer(r)
	if !ok {
		return caller{}, errorf(http.StatusUnauthorized, CodeUnauthenticated,
			"Send your access token in the Authorization header as \"Bearer <token>\".")
	}
	m, found, err := s.d.Identity.MemberByTokenHash(r.Context(), commands.HashSecret(tok))
	if err != nil {
		return caller{}, s.internal(r, err)
	}
	if !found {
		return caller{}, errorf(http.StatusUnauthorized, CodeUnauthenticated, "The access token is not valid.")
	}
	return caller{m}, nil
}

// authenticateKey resolves X-Api-Key and checks it belongs to the caller
// and still works. The check is repeated on the key's own events by the
// command that spends it.
func (s *Server) authenticateKey(r *http.Request, c caller) (apikeys.View, *apiError) {
	key := strings.TrimSpace(r.Header.Get("X-Api-Key"))
	if key == "" {
		return apikeys.View{}, errorf(http.StatusUnauthorized, CodeInvalidAPIKey, "Send your API key in the X-Api-Key header.")
	}
	k, found, err := s.d.Keys.ByHash(r.Context(), commands.HashSecret(key))
	if err != nil {
		return apikeys.View{}, s.internal(r, err)
	}
	if !found {
		return apikeys.View{}, errorf(http.StatusUnauthorized, CodeInvalidAPIKey, "The API key is not valid.")
	}
	if k.UserID != c.UserID {
		return apikeys.View{}, errorf(http.StatusForbidden, CodeKeyOwnerMismatch,
			"The API key belongs to another user; use one of your own keys.")
	}
	if k.Revoked {
		return apikeys.View{}, errorf(http.StatusForbidden, CodeKeyRevoked,
			"The API key %s… has been revoked; create a new key.", k.KeyPrefix)
	}
	return k, nil
}

// isAdmin checks the admin token in constant time.
func (s *Server) isAdmin(r *http.Request) bool {
	tok, ok := bearer(r)
	return ok && s.d.AdminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.d.AdminToken)) == 1
}

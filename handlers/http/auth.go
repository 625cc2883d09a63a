package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"sync"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/projections"
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

// as runs h for the callers check lets through (authenticate, owner,
// keyManager); anyone else gets check's error and h never runs.
func (s *Server) as(check func(*http.Request) (caller, *apiError), h func(http.ResponseWriter, *http.Request, caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, e := check(r)
		if e != nil {
			writeError(w, e)
			return
		}
		h(w, r, c)
	}
}

// tenantScope makes every read model read of a request whose bearer token
// is a member's run as that member's workspace (projections.WithTenant):
// row-level security then keeps the request inside its tenant whatever a
// query says. A request without such a token reads unscoped and is
// turned away, or let in as the admin, by its handler.
func (s *Server) tenantScope(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := bearer(r); ok && !s.isAdmin(r) {
			if c, e := s.authenticate(r); e == nil {
				r = r.WithContext(projections.WithTenant(r.Context(), c.WorkspaceID))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate resolves the bearer token to a member of a workspace.
func (s *Server) authenticate(r *http.Request) (caller, *apiError) {
	tok, ok := bearer(r)
	if !ok {
		return caller{}, errorf(http.StatusUnauthorized, CodeUnauthenticated,
			"Send your access token in the Authorization header as \"Bearer <token>\".")
	}
	hash := commands.HashSecret(tok)
	if m, ok := s.creds.member(hash); ok {
		return caller{m}, nil
	}
	m, found, err := s.d.Identity.MemberByTokenHash(r.Context(), hash)
	if err != nil {
		return caller{}, s.internal(r, err)
	}
	if !found {
		return caller{}, errorf(http.StatusUnauthorized, CodeUnauthenticated, "The access token is not valid.")
	}
	s.creds.rememberMember(hash, m)
	return caller{m}, nil
}

// senderKey resolves X-Api-Key for sending a message: whose key it is comes
// from a cache (it never changes), and whether it still works is decided by
// the command on the key's own events, so the hot path reads no read model.
func (s *Server) senderKey(r *http.Request, c caller) (apikeys.View, *apiError) {
	key := strings.TrimSpace(r.Header.Get("X-Api-Key"))
	if key == "" {
		return apikeys.View{}, errorf(http.StatusUnauthorized, CodeInvalidAPIKey, "Send your API key in the X-Api-Key header.")
	}
	hash := commands.HashSecret(key)
	k, ok := s.creds.key(hash)
	if !ok {
		var found bool
		var err error
		k, found, err = s.d.Keys.ByHash(r.Context(), hash)
		if err != nil {
			return apikeys.View{}, s.internal(r, err)
		}
		if !found {
			return apikeys.View{}, errorf(http.StatusUnauthorized, CodeInvalidAPIKey, "The API key is not valid.")
		}
		s.creds.rememberKey(hash, k)
	}
	if k.UserID != c.UserID {
		return apikeys.View{}, errorf(http.StatusForbidden, CodeKeyOwnerMismatch,
			"The API key belongs to another user; use one of your own keys.")
	}
	return k, nil
}

// credentials remembers what never changes about a token or an API key
// once it exists: whose it is (a member's workspace and role are fixed
// when the member is added; a key's owner when it is created). Unknown
// tokens and keys are not remembered, so one created a moment ago is
// found as soon as the read model has it. The maps are dropped when they
// grow past maxCredentials, which bounds memory, not correctness.
type credentials struct {
	mu      sync.RWMutex
	members map[string]identity.Member
	keys    map[string]apikeys.View
}

const maxCredentials = 100_000

func (c *credentials) member(hash string) (identity.Member, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	m, ok := c.members[hash]
	return m, ok
}

func (c *credentials) rememberMember(hash string, m identity.Member) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.members == nil || len(c.members) >= maxCredentials {
		c.members = map[string]identity.Member{}
	}
	c.members[hash] = m
}

func (c *credentials) key(hash string) (apikeys.View, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.keys[hash]
	return k, ok
}

// rememberKey keeps only the key's fixed facts.
func (c *credentials) rememberKey(hash string, k apikeys.View) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil || len(c.keys) >= maxCredentials {
		c.keys = map[string]apikeys.View{}
	}
	c.keys[hash] = apikeys.View{ID: k.ID, WorkspaceID: k.WorkspaceID, UserID: k.UserID, KeyHash: k.KeyHash, KeyPrefix: k.KeyPrefix}
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

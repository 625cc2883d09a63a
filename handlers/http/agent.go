package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/agent"
	"github.com/sois-ai/chat-agent-gateway/domain/apikey"
	"github.com/sois-ai/chat-agent-gateway/domain/billing"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/domain/invalid"
	"github.com/sois-ai/chat-agent-gateway/domain/namedagent"
	"github.com/sois-ai/chat-agent-gateway/domain/workspace"
	"github.com/sois-ai/chat-agent-gateway/projections"
	"github.com/sois-ai/chat-agent-gateway/projections/apikeys"
	"github.com/sois-ai/chat-agent-gateway/projections/conversations"
)

// both authenticates the bearer token and the API key, in the contract's
// order: who you are, then which key, then whether it is yours and alive.
func (s *Server) both(r *http.Request) (caller, apikeys.View, *apiError) {
	c, e := s.authenticate(r)
	if e != nil {
		return caller{}, apikeys.View{}, e
	}
	k, e := s.authenticateKey(r, c)
	return c, k, e
}

type acceptedBody struct {
	ConversationUUID string `json:"conversation_uuid"`
	Status           string `json:"status"`
	Message          string `json:"message"`
}

func (s *Server) postAgent(w http.ResponseWriter, r *http.Request, c caller) {
	if c.is(string(workspace.RoleAuditor)) {
		writeError(w, errorf(http.StatusForbidden, CodeForbidden,
			"The auditor role reads conversations, their events, key usage and billing, but cannot send messages."))
		return
	}
	k, e := s.senderKey(r, c)
	if e != nil {
		writeError(w, e)
		return
	}
	req, e := parseMessage(r)
	if e != nil {
		writeError(w, e)
		return
	}
	cmd := req.cmd
	wait, preferred := syncWait(r, req.wait)
	if cmd.IdempotencyKey, e = idempotencyKey(r); e != nil {
		writeError(w, e)
		return
	}
	cmd.WorkspaceID, cmd.UserID, cmd.APIKeyID = c.WorkspaceID, c.UserID, k.ID
	var acc commands.Accepted
	var err error
	if req.conversationID != "" {
		acc, err = s.d.Commands.FollowUp(r.Context(), commands.FollowUp{ConversationID: req.conversationID,
			WorkspaceID: cmd.WorkspaceID, UserID: cmd.UserID, APIKeyID: cmd.APIKeyID, Message: cmd.Message,
			Context: cmd.Context, Metadata: cmd.Metadata, IdempotencyKey: cmd.IdempotencyKey})
	} else {
		acc, err = s.d.Commands.AcceptMessage(r.Context(), cmd)
	}
	if err != nil {
		writeError(w, s.commandError(r, err))
		return
	}
	// No wait for the read models: a poll of a conversation they do not
	// hold yet is answered from its events (see conversationIn).
	if acc.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", "/api/agent/"+acc.ConversationID)
	if req.stream {
		s.pipe(w, r, acc.ConversationID, streamAfter(acc.Version), acc.Turn)
		return
	}
	if preferred {
		w.Header().Set("Preference-Applied", fmt.Sprintf("wait=%d", int(wait/time.Second)))
	}
	if wait > 0 {
		if v, ended := s.awaitEnd(r.Context(), acc.ConversationID, acc.Turn, wait); ended {
			writeJSON(w, http.StatusOK, pollFromView(v))
			return
		}
	}
	writeJSON(w, http.StatusAccepted, acceptedBody{ConversationUUID: acc.ConversationID, Status: "accepted",
		Message: "Your request has been queued."})
}

// canonicalUUID accepts the 36-character form of a UUID, in either case,
// and returns it as ids are stored: lower-case (UUIDs are case-insensitive).
// The braced and urn: forms uuid.Parse also takes are not ids here.
func canonicalUUID(s string) (string, bool) {
	u, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return "", false
	}
	return u.String(), true
}

// conversationID reads the conversation id of the path; a malformed one is
// "not found", like an unknown one.
func conversationID(r *http.Request) (string, *apiError) {
	raw := chi.URLParam(r, "id")
	id, ok := canonicalUUID(raw)
	if !ok {
		return "", errorf(http.StatusNotFound, CodeNotFound,
			"%q is not a conversation id; conversation ids are UUIDs like 6cafd8ba-dd51-4411-808e-671d1dd59561.", raw)
	}
	return id, nil
}

// upperFirst starts a sentence made of an error's text.
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// MaxIdempotencyKey bounds the Idempotency-Key header.
const MaxIdempotencyKey = 255

// idempotencyKey reads the optional Idempotency-Key header: 1 to 255
// visible ASCII characters (a UUID is the usual choice).
func idempotencyKey(r *http.Request) (string, *apiError) {
	vals := r.Header.Values("Idempotency-Key")
	if len(vals) == 0 {
		return "", nil
	}
	if len(vals) > 1 {
		return "", validation("Send one Idempotency-Key header, not %d.", len(vals))
	}
	v := strings.TrimSpace(vals[0])
	if v == "" || len(v) > MaxIdempotencyKey {
		return "", validation("Idempotency-Key must be 1 to %d characters (a UUID is a good choice); it has %d.", MaxIdempotencyKey, len(v))
	}
	for _, ch := range v {
		if ch < 0x21 || ch > 0x7e {
			return "", validation("Idempotency-Key may hold only visible ASCII characters (a UUID is a good choice).")
		}
	}
	return v, nil
}

// messageRequest is a POST /api/agent body: the message, and how the
// caller wants the reply.
type messageRequest struct {
	cmd commands.AcceptMessage
	// conversationID continues that conversation (empty: a new one).
	conversationID string
	wait, stream   bool
}

// parseMessage validates the task interface's body field by field.
func parseMessage(r *http.Request) (req messageRequest, e *apiError) {
	obj, e := readObject(r, []string{"message", "context", "metadata", "wait", "stream", "conversation_uuid", "agent", "system"}, false)
	if e != nil {
		return req, e
	}
	for _, flag := range []struct {
		name string
		dst  *bool
	}{{"wait", &req.wait}, {"stream", &req.stream}} {
		if raw, ok := obj[flag.name]; ok && !isNull(raw) {
			if err := json.Unmarshal(raw, flag.dst); err != nil {
				return req, validation("%s must be true or false, not %s.", flag.name, jsonKind(raw))
			}
		}
	}
	if req.wait && req.stream {
		return req, validation("Ask for the reply one way: \"stream\": true streams it as it is written, \"wait\": true waits for it; not both.")
	}
	id, present, e := stringField(obj, "conversation_uuid")
	if e != nil {
		return req, e
	}
	if present {
		var ok bool
		if req.conversationID, ok = canonicalUUID(id); !ok {
			return req, validation("conversation_uuid %q is not a conversation id; conversation ids are UUIDs like 6cafd8ba-dd51-4411-808e-671d1dd59561.", id)
		}
	}
	if req.cmd, e = parseMessageFields(obj); e != nil {
		return req, e
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"agent", &req.cmd.Agent}, {"system", &req.cmd.System}} {
		if *f.dst, _, e = stringField(obj, f.name); e != nil {
			return req, e
		}
		if *f.dst != "" && req.conversationID != "" {
			return req, validation("%s is set when a conversation starts; a follow-up goes on with the conversation's own, so leave %s out.", f.name, f.name)
		}
	}
	if n := utf8.RuneCountInString(req.cmd.System); n > namedagent.MaxSystem {
		return req, validation("system must be at most %d characters; it has %d.", namedagent.MaxSystem, n)
	}
	if req.cmd.Agent != "" && namedagent.ValidSlug(req.cmd.Agent) != nil {
		return req, agentNotFound(req.cmd.Agent)
	}
	return req, nil
}

// parseMessageFields reads the message, its context hints and metadata.
func parseMessageFields(obj map[string]json.RawMessage) (commands.AcceptMessage, *apiError) {
	var cmd commands.AcceptMessage
	raw, ok := obj["message"]
	if !ok || isNull(raw) {
		return cmd, validation("message is required: tell the agent what you need, in plain English.")
	}
	if err := json.Unmarshal(raw, &cmd.Message); err != nil {
		return cmd, validation("message must be a string, not %s.", jsonKind(raw))
	}
	if err := conversation.ValidateMessage(cmd.Message); err != nil {
		return cmd, validation("%s.", err.Error())
	}
	ctxObj, _, e := objectField(obj, "context")
	if e != nil {
		return cmd, e
	}
	if ctxObj != nil {
		hints := []string{"entity_type", "entity_id", "action"}
		cc := &conversation.Context{}
		names := make([]string, 0, len(ctxObj))
		for k := range ctxObj {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if !containsString(hints, k) {
				return cmd, validation("context.%s is not a known hint; use entity_type, entity_id or action.", k)
			}
		}
		for _, h := range []struct {
			name string
			dst  *string
		}{{"entity_type", &cc.EntityType}, {"entity_id", &cc.EntityID}, {"action", &cc.Action}} {
			v, _, e := stringField(ctxObj, h.name)
			if e != nil {
				return cmd, validation("%s must be a string, not %s.", fieldPath("context", h.name), jsonKind(ctxObj[h.name]))
			}
			*h.dst = v
		}
		if err := conversation.ValidateContext(cc); err != nil {
			return cmd, validation("%s.", err.Error())
		}
		cmd.Context = cc
	}
	_, mdRaw, e := objectField(obj, "metadata")
	if e != nil {
		return cmd, e
	}
	if mdRaw != nil {
		compact, err := compactJSON(mdRaw)
		if err != nil {
			return cmd, validation("metadata must be a JSON object.")
		}
		cmd.Metadata = compact
	}
	return cmd, nil
}

func compactJSON(raw json.RawMessage) (json.RawMessage, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

type turnBody struct {
	Role      string         `json:"role"`
	Payload   map[string]any `json:"payload"`
	Timestamp Timestamp      `json:"timestamp"`
}

type webhookBody struct {
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	DeliveredAt    *Timestamp `json:"delivered_at"`
	LastStatusCode *int       `json:"last_status_code"`
	NextAttemptAt  *Timestamp `json:"next_attempt_at"`
	LastError      string     `json:"last_error,omitempty"`
}

type pollBody struct {
	ConversationUUID string                  `json:"conversation_uuid"`
	Mode             string                  `json:"mode,omitempty"`
	Agent            *conversations.AgentRef `json:"agent,omitempty"`
	Status           string                  `json:"status"`
	Outcome          string                  `json:"outcome,omitempty"`
	Candidates       []agent.Candidate       `json:"candidates,omitempty"`
	Turns            []turnBody              `json:"turns"`
	Webhook          *webhookBody            `json:"webhook"`
	Error            *conversations.Failure  `json:"error,omitempty"`
	Usage            commands.UsageReport    `json:"usage"`
	ResolvedAt       *Timestamp              `json:"resolved_at"`
	FailedAt         *Timestamp              `json:"failed_at,omitempty"`
	ExpiresAt        Timestamp               `json:"expires_at"`
	CreatedAt        Timestamp               `json:"created_at"`
}

func pollFromView(v conversations.View) pollBody {
	b := pollBody{ConversationUUID: v.ID, Mode: v.Mode, Agent: v.Agent, Status: v.Status, Outcome: v.Outcome, Candidates: v.Candidates, Error: v.Error, ResolvedAt: tsp(v.ResolvedAt),
		Usage:    commands.Usage(v.Steps, v.ToolCalls, agent.Usage{InputTokens: v.InputTokens, OutputTokens: v.OutputTokens}, v.CostMicroUSD),
		FailedAt: tsp(v.FailedAt), ExpiresAt: ts(v.ExpiresAt), CreatedAt: ts(v.CreatedAt), Turns: []turnBody{}}
	for _, t := range v.Turns {
		b.Turns = append(b.Turns, turnBody{Role: t.Role, Payload: t.Payload, Timestamp: ts(t.Timestamp)})
	}
	if wh := v.Webhook; wh != nil {
		b.Webhook = &webhookBody{Status: wh.Status, Attempts: wh.Attempts, DeliveredAt: tsp(wh.DeliveredAt),
			LastStatusCode: wh.LastStatusCode, NextAttemptAt: tsp(wh.NextAttemptAt), LastError: wh.LastError}
	}
	return b
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request) {
	v, e := s.readableConversation(r)
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, pollFromView(v))
}

// readableConversation authenticates a reader of a conversation. A caller
// with a key reads their own conversations, as the contract says; an
// auditor (who holds no keys) reads any conversation of the workspace with
// the bearer token alone, also after the poll expiry.
func (s *Server) readableConversation(r *http.Request) (conversations.View, *apiError) {
	c, e := s.authenticate(r)
	if e != nil {
		return conversations.View{}, e
	}
	if r.Header.Get("X-Api-Key") == "" && c.is(string(workspace.RoleAuditor)) {
		return s.conversationIn(r, c, true)
	}
	if _, e := s.authenticateKey(r, c); e != nil {
		return conversations.View{}, e
	}
	return s.ownConversation(r, c)
}

// ownConversation finds a conversation the caller may poll. Someone else's
// conversation is "not found", never "forbidden": its existence is not
// the caller's business.
func (s *Server) ownConversation(r *http.Request, c caller) (conversations.View, *apiError) {
	return s.conversationIn(r, c, false)
}

// conversationIn finds a conversation of the caller (workspaceWide: of the
// caller's workspace, without the poll expiry).
func (s *Server) conversationIn(r *http.Request, c caller, workspaceWide bool) (conversations.View, *apiError) {
	id, e := conversationID(r)
	if e != nil {
		return conversations.View{}, e
	}
	// Whose it is is read across tenants (row-level security would hide
	// another workspace's conversation, and this would then replay its
	// events to find that out); the workspace is checked below.
	v, found, err := s.d.Conversations.Get(projections.Unscoped(r.Context()), id)
	if err == nil && !found && s.d.Commands != nil {
		// Accepted a moment ago, and the read model has not caught up:
		// the conversation's own events say what it is.
		v, found, err = conversations.Replay(r.Context(), s.d.Commands.Store, id)
	}
	if err != nil {
		return v, s.internal(r, err)
	}
	if !found || (!workspaceWide && v.UserID != c.UserID) || v.WorkspaceID != c.WorkspaceID {
		return v, errorf(http.StatusNotFound, CodeNotFound, "No conversation %s was found.", id)
	}
	if workspaceWide {
		return v, nil
	}
	if !s.d.Clock.Now().Before(v.ExpiresAt) {
		return v, errorf(http.StatusNotFound, CodeNotFound, "Conversation %s expired at %s; conversations can be polled for %s.",
			id, v.ExpiresAt.UTC().Format(time.RFC3339), conversation.Lifetime)
	}
	return v, nil
}

// commandError maps domain errors to the contract's codes.
func (s *Server) commandError(r *http.Request, err error) *apiError {
	var iv *invalid.Error
	var exceeded *billing.ExceededError
	var reused *commands.IdempotencyConflictError
	var gone *conversation.GoneError
	switch {
	case errors.Is(err, namedagent.ErrNotFound):
		return errorf(http.StatusNotFound, CodeAgentNotFound, "There is no agent by that slug in this workspace; GET /api/agents lists them.")
	case errors.Is(err, commands.ErrNoConversation):
		return errorf(http.StatusNotFound, CodeNotFound, "No conversation was found with that conversation_uuid; start a new one by leaving conversation_uuid out.")
	case errors.As(err, &gone):
		return errorf(http.StatusNotFound, CodeNotFound, "%s; start a new one by leaving conversation_uuid out.", upperFirst(gone.Error()))
	case errors.Is(err, commands.ErrConversationKeyRevoked):
		return errorf(http.StatusForbidden, CodeKeyRevoked, "%s.", upperFirst(commands.ErrConversationKeyRevoked.Error()))
	case errors.Is(err, conversation.ErrBusy):
		return errorf(http.StatusConflict, CodeBusy, "%s; send the follow-up once it has answered (poll the conversation, or wait for its webhook).", upperFirst(conversation.ErrBusy.Error()))
	case errors.As(err, &reused):
		return errorf(http.StatusConflict, CodeIdempotencyKeyReused, "%s.", upperFirst(reused.Error()))
	case errors.As(err, &iv):
		return validation("%s.", iv.Error())
	case errors.As(err, &exceeded):
		return errorf(http.StatusTooManyRequests, CodeBudgetExceeded, "%s", exceeded.Error())
	case errors.Is(err, apikey.ErrRevoked):
		return errorf(http.StatusForbidden, CodeKeyRevoked, "The API key has been revoked; create a new key.")
	case errors.Is(err, apikey.ErrOwnerMismatch):
		return errorf(http.StatusForbidden, CodeKeyOwnerMismatch, "The API key belongs to another user; use one of your own keys.")
	case errors.Is(err, apikey.ErrNotFound):
		return errorf(http.StatusUnauthorized, CodeInvalidAPIKey, "The API key is not valid.")
	}
	return s.internal(r, err)
}

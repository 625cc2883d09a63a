package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/apikey"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// CreateAPIKey issues a key to a member.
type CreateAPIKey struct {
	WorkspaceID, UserID string
	Settings            apikey.Settings
	Mode                string // apikey.ModeTest or apikey.ModeLive ("" is live)
}

// CreatedAPIKey carries the key and signing secret, shown once.
type CreatedAPIKey struct {
	KeyID, Key, KeyPrefix, SigningSecret string
	Position                             es.Position
}

// CreateAPIKey decides and records a new key. Only the key's hash and the
// sealed signing secret are recorded.
func (h *Handler) CreateAPIKey(ctx context.Context, cmd CreateAPIKey) (CreatedAPIKey, error) {
	mode := cmd.Mode
	if mode == "" {
		mode = apikey.ModeLive
	}
	out := CreatedAPIKey{KeyID: NewID(), Key: NewAPIKey(mode), SigningSecret: NewSigningSecret()}
	out.KeyPrefix = out.Key[:min(len(out.Key), len(APIKeyPrefix)+len(mode)+1+8)]
	sealed, err := h.Sealer.Seal(out.SigningSecret)
	if err != nil {
		return CreatedAPIKey{}, fmt.Errorf("seal signing secret: %w", err)
	}
	facts, err := apikey.Create(out.KeyID, cmd.WorkspaceID, cmd.UserID, HashSecret(out.Key), out.KeyPrefix, sealed, cmd.Settings, mode, h.now())
	if err != nil {
		return CreatedAPIKey{}, err
	}
	res, err := h.append(ctx, apikey.Stream(out.KeyID), es.NoStream,
		es.Metadata{CorrelationID: out.KeyID, Actor: es.Actor{Kind: "user", ID: cmd.UserID}}, facts...)
	out.Position = res.Position
	return out, err
}

// UpdateAPIKey replaces a key's settings with the given ones.
type UpdateAPIKey struct {
	KeyID, UserID string
	// Change receives the current settings and returns the wanted ones, so
	// a partial update is decided on the latest facts.
	Change func(apikey.Settings) (apikey.Settings, error)
}

// UpdateAPIKey decides and records a settings change.
func (h *Handler) UpdateAPIKey(ctx context.Context, cmd UpdateAPIKey) (es.Position, error) {
	_, pos, err := decide(ctx, h, apikey.Stream(cmd.KeyID), apikey.Events, userMeta(cmd.KeyID, cmd.UserID),
		func(k *apikey.Key, _ []es.Recorded) ([]es.Fact, error) {
			if err := k.CheckOwner(cmd.UserID); err != nil {
				return nil, err
			}
			s, err := cmd.Change(k.Settings)
			if err != nil {
				return nil, err
			}
			return k.Update(cmd.UserID, s, h.now())
		})
	return pos, err
}

// RevokeAPIKey ends a key's life.
type RevokeAPIKey struct{ KeyID, UserID string }

// RevokeAPIKey decides and records a revocation; revoking twice is harmless.
func (h *Handler) RevokeAPIKey(ctx context.Context, cmd RevokeAPIKey) (es.Position, error) {
	_, pos, err := decide(ctx, h, apikey.Stream(cmd.KeyID), apikey.Events, userMeta(cmd.KeyID, cmd.UserID),
		func(k *apikey.Key, _ []es.Recorded) ([]es.Fact, error) { return k.Revoke(cmd.UserID, h.now()) })
	return pos, err
}

// userMeta is the metadata of a change a user makes to their key.
func userMeta(keyID, userID string) es.Metadata {
	return es.Metadata{CorrelationID: keyID, Actor: es.Actor{Kind: "user", ID: userID}}
}

// RotatedSecret carries the new signing secret, shown once.
type RotatedSecret struct {
	SigningSecret      string
	PreviousValidUntil time.Time
	Position           es.Position
}

// RotateSigningSecret issues a new signing secret for a key; deliveries
// carry signatures of both secrets for apikey.RotationOverlap.
func (h *Handler) RotateSigningSecret(ctx context.Context, keyID, userID string) (RotatedSecret, error) {
	out := RotatedSecret{SigningSecret: NewSigningSecret()}
	sealed, err := h.Sealer.Seal(out.SigningSecret)
	if err != nil {
		return RotatedSecret{}, fmt.Errorf("seal signing secret: %w", err)
	}
	err = retry(ctx, func() error {
		var k apikey.Key
		v, _, err := h.load(ctx, apikey.Stream(keyID), apikey.Events, &k)
		if err != nil {
			return err
		}
		facts, err := k.RotateSecret(userID, sealed, h.now())
		if err != nil {
			return err
		}
		out.PreviousValidUntil = facts[0].(*apikey.SigningSecretRotated).PreviousValidUntil
		res, err := h.append(ctx, apikey.Stream(keyID), v,
			es.Metadata{CorrelationID: keyID, Actor: es.Actor{Kind: "user", ID: userID}}, facts...)
		out.Position = res.Position
		return err
	})
	return out, err
}

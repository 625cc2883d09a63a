// Package webhook delivers a finished conversation's reply to the caller's
// response_url as a signed POST. It knows nothing of conversations or event
// stores: a saga builds the body, picks the secrets and decides when to try
// again; this package signs one attempt, sends it through an SSRF-safe HTTP
// client, says what happened in an Attempt, and computes the delay before
// the next try.
//
// Every request carries two signatures so that both kinds of receivers can
// check it:
//
//   - X-Signature: lowercase hex HMAC-SHA256 of the raw body, keyed with the
//     whole signing secret string ("whsec_…") as bytes. This is what the
//     product docs' Python, Node and PHP snippets verify, so it must stay
//     exactly that.
//   - webhook-id, webhook-timestamp, webhook-signature: the Standard Webhooks
//     headers, so that the standard-webhooks libraries (and Svix-style
//     receivers) verify us as-is, with replay protection through the
//     timestamp.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names. http.Header canonicalises keys ("Webhook-Id"), which is fine
// on the wire: header names are case-insensitive, and Node and the
// standard-webhooks libraries look them up that way.
const (
	HeaderSignature        = "X-Signature"
	HeaderConversationUUID = "X-Conversation-UUID"
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
	// HeaderMode is "test" on the deliveries of a test key's
	// conversations (their body says "mode": "test" too); live
	// deliveries do not carry it.
	HeaderMode = "X-Sois-Mode"
)

// SecretPrefix starts every signing secret (Standard Webhooks form).
const SecretPrefix = "whsec_"

// UserAgent is sent with every delivery so receivers can recognise (and
// allow-list) us in their logs and firewalls.
const UserAgent = "chat-agent-gateway-webhooks/1"

// SignHex returns the X-Signature value: lowercase hex HMAC-SHA256 of body,
// keyed with the secret string's bytes as they are (the "whsec_" prefix
// included, nothing decoded). The documented receiver snippets do exactly
// `hmac(secret.encode(), raw_body)`, so any other keying would make every
// customer's verification fail.
func SignHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// standardKey decodes a signing secret into its Standard Webhooks HMAC key:
// the part after "whsec_", base64-decoded (standard alphabet, padded), as the
// reference libraries do. The error never quotes the secret.
func standardKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return nil, errors.New("is not " + SecretPrefix + " followed by standard base64")
	}
	if len(key) == 0 {
		return nil, errors.New("is empty")
	}
	return key, nil
}

// StandardSignatures returns the webhook-signature value: for each secret,
// in the order given (newest first), "v1," + base64(HMAC-SHA256(key,
// id + "." + unix seconds + "." + body)), joined by single spaces. During a
// secret rotation the key carries its old and new secrets, and a receiver
// that knows either one finds a match, which is how the Standard Webhooks
// spec does rotation without a flag day.
//
// The id must be non-empty and free of '.', ' ' and ',' because it is part
// of the signed "id.timestamp.body" string and of the header syntax; ids the
// gateway makes (UUIDs, "msg_" + ULID) never contain them.
func StandardSignatures(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("webhook: no signing secret to sign with")
	}
	if id == "" {
		return "", errors.New("webhook: empty webhook-id")
	}
	if strings.ContainsAny(id, ". ,\r\n") {
		return "", fmt.Errorf("webhook: webhook-id %q must not contain '.', ',', spaces or line breaks", id)
	}
	prefix := id + "." + strconv.FormatInt(ts.Unix(), 10) + "."
	var b strings.Builder
	b.Grow(len(secrets) * 48)
	for i, s := range secrets {
		key, err := standardKey(s)
		if err != nil {
			return "", fmt.Errorf("webhook: signing secret %d of %d %v", i+1, len(secrets), err)
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(prefix))
		m.Write(body)
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return b.String(), nil
}

// Headers builds every header of one delivery attempt: Content-Type,
// User-Agent, X-Signature (newest secret only: the documented snippets
// compare one value), X-Conversation-UUID, and the three Standard Webhooks
// headers. id must be the same on every retry of one delivery (receivers
// deduplicate on it); ts is this attempt's time, so each retry is re-signed
// with a fresh webhook-timestamp and passes the receivers' 5-minute replay
// window. secrets are newest first.
func Headers(secrets []string, id, conversationID string, ts time.Time, body []byte) (http.Header, error) {
	sigs, err := StandardSignatures(secrets, id, ts, body)
	if err != nil {
		return nil, err
	}
	h := make(http.Header, 8)
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h.Set(HeaderSignature, SignHex(secrets[0], body))
	if conversationID != "" {
		h.Set(HeaderConversationUUID, conversationID)
	}
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderWebhookSignature, sigs)
	return h, nil
}

package commands

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math/big"
)

// Credential formats. Tokens prove who a person is; API keys control spend
// and the webhook; signing secrets sign webhook deliveries.
const (
	TokenPrefix         = "tok_"
	APIKeyPrefix        = "sois_"
	SigningSecretPrefix = "whsec_"
	secretChars         = 40 // base62 characters: about 238 bits
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func randomBase62(n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(base62)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		b[i] = base62[v.Int64()]
	}
	return string(b)
}

// NewToken returns a fresh opaque bearer token.
func NewToken() string { return TokenPrefix + randomBase62(secretChars) }

// NewAPIKey returns a fresh API key of a mode: sois_test_… or sois_live_…
// (keys made before modes are sois_… and live). The first 8 random
// characters after the mode stay visible as the key's prefix.
func NewAPIKey(mode string) string { return APIKeyPrefix + mode + "_" + randomBase62(secretChars) }

// NewSigningSecret returns a fresh webhook signing secret in the Standard
// Webhooks form (whsec_ + base64 of 32 random bytes).
func NewSigningSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return SigningSecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// HashSecret is how tokens and keys are stored and looked up. The secrets
// carry over 200 random bits, so a plain SHA-256 is enough: there is
// nothing to brute-force.
func HashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Package secrets seals the secrets the server must reuse later (webhook
// signing secrets) with a server key, so events and read models only ever
// hold ciphertext. AES-256-GCM; the sealed form is "v1:" + base64(nonce|ct).
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Sealer encrypts and decrypts with one 32-byte key.
type Sealer struct{ aead cipher.AEAD }

// New builds a sealer from a 32-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("the server key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

const version = "v1:"

// Seal encrypts plaintext.
func (s *Sealer) Seal(plaintext string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	ct := s.aead.Seal(nonce, nonce, []byte(plaintext), nil)
	return version + base64.StdEncoding.EncodeToString(ct), nil
}

// ErrWrongKey means the sealed value was made with another server key.
var ErrWrongKey = errors.New("the secret was sealed with another server key")

// Open decrypts what Seal produced.
func (s *Sealer) Open(sealed string) (string, error) {
	if !strings.HasPrefix(sealed, version) {
		return "", errors.New("not a sealed secret")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, version))
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", errors.New("sealed secret is corrupt")
	}
	pt, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], nil)
	if err != nil {
		return "", ErrWrongKey
	}
	return string(pt), nil
}

// ParseKey reads a server key given as 64 hex characters or base64 of 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("GATEWAY_SECRET_KEY must be 32 bytes as 64 hex characters or base64 (try: openssl rand -hex 32)")
}

// LoadOrCreateKeyFile reads the server key from path, creating it (mode
// 0600) with a fresh random key the first time. Embedded mode keeps its
// key next to its data this way.
func LoadOrCreateKeyFile(path string) ([]byte, bool, error) {
	if b, err := os.ReadFile(path); err == nil {
		k, err := ParseKey(string(b))
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return k, false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) { // another process won the race
			return LoadOrCreateKeyFile(path)
		}
		return nil, false, err
	}
	defer f.Close()
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		return nil, false, err
	}
	return k, true, f.Sync()
}

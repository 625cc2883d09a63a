package secrets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealRoundTripAndWrongKey(t *testing.T) {
	k1, k2 := make([]byte, 32), make([]byte, 32)
	k2[0] = 1
	s1, _ := New(k1)
	s2, _ := New(k2)
	sealed, err := s1.Seal("whsec_secret")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "whsec_secret") {
		t.Fatalf("sealed form leaks the plaintext: %s", sealed)
	}
	if got, err := s1.Open(sealed); err != nil || got != "whsec_secret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s2.Open(sealed); err != ErrWrongKey {
		t.Fatalf("opening with another key: err = %v, want ErrWrongKey", err)
	}
}

func TestKeyFileIsCreatedOnceWithPrivateMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "secret.key")
	k1, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first load: created=%v err=%v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, want 0600", st.Mode().Perm())
	}
	k2, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || string(k1) != string(k2) {
		t.Fatalf("second load must return the same key without creating: created=%v err=%v", created, err)
	}
}

func TestParseKeyRejectsShortKeys(t *testing.T) {
	if _, err := ParseKey("abcd"); err == nil {
		t.Fatal("a 2-byte key was accepted")
	}
	if _, err := ParseKey(strings.Repeat("ab", 32)); err != nil {
		t.Fatalf("64 hex chars rejected: %v", err)
	}
}

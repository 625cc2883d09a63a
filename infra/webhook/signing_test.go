package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The receiver snippets exactly as the product docs print them (indentation
// restored). The harness around each one only supplies the variables the
// snippet expects: the secret and the raw body read from files, the
// received X-Signature from the environment.
const pythonSnippet = `import hmac, hashlib
expected = hmac.new(
    key=your_signing_secret.encode(),
    msg=raw_request_body.encode(),
    digestmod=hashlib.sha256
).hexdigest()
assert expected == request.headers['X-Signature']
`

const pythonHarness = `import os
your_signing_secret = open(os.environ["SECRET_FILE"], encoding="utf-8", newline="").read()
raw_request_body = open(os.environ["BODY_FILE"], encoding="utf-8", newline="").read()
class _Request:
    headers = {"X-Signature": os.environ["X_SIGNATURE"]}
request = _Request()
# ---- snippet from the docs, verbatim ----
`

const nodeSnippet = `const crypto = require('crypto');
const expected = crypto
  .createHmac('sha256', signingSecret)
  .update(rawBody)
  .digest('hex');
if (expected !== req.headers['x-signature']) {
  throw new Error('Invalid signature');
}
`

const nodeHarness = `const fs = require('fs');
const signingSecret = fs.readFileSync(process.env.SECRET_FILE, 'utf8');
const rawBody = fs.readFileSync(process.env.BODY_FILE, 'utf8');
const req = { headers: { 'x-signature': process.env.X_SIGNATURE } };
// ---- snippet from the docs, verbatim ----
`

// interpreter finds python3 or node, skipping only outside CI.
func interpreter(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is needed to run the documented verification snippet: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// runSnippet runs a documented snippet against body/secret/signature and
// returns nil when it verified (exit 0), or the error with its output.
func runSnippet(t *testing.T, lang string, body []byte, secret, signature string) error {
	t.Helper()
	dir := t.TempDir()
	bodyFile, secretFile := filepath.Join(dir, "body"), filepath.Join(dir, "secret")
	must(t, os.WriteFile(bodyFile, body, 0o600))
	must(t, os.WriteFile(secretFile, []byte(secret), 0o600))
	var cmd *exec.Cmd
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch lang {
	case "python":
		script := filepath.Join(dir, "verify.py")
		must(t, os.WriteFile(script, []byte(pythonHarness+pythonSnippet), 0o600))
		// -I: ignore PYTHON* variables (PYTHONOPTIMIZE would strip the
		// snippet's assert and make every signature "verify").
		cmd = exec.CommandContext(ctx, interpreter(t, "python3"), "-I", "-B", script)
	case "node":
		script := filepath.Join(dir, "verify.js")
		must(t, os.WriteFile(script, []byte(nodeHarness+nodeSnippet), 0o600))
		cmd = exec.CommandContext(ctx, interpreter(t, "node"), script)
	}
	cmd.Env = append(os.Environ(), "BODY_FILE="+bodyFile, "SECRET_FILE="+secretFile, "X_SIGNATURE="+signature)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return errors.New(err.Error() + ": " + strings.TrimSpace(string(out)))
	}
	return nil
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// resolvedBody is a realistic body with non-ASCII text, since the snippets
// decode and re-encode the body as UTF-8 text.
func resolvedBody(t testing.TB, conv string) []byte {
	b, err := json.Marshal(map[string]string{
		"conversation_uuid": conv,
		"status":            "resolved",
		"response":          "Contact created: Zoë Müller, Acme Corp (東京), zoe@acme.com ✓ — <b>&</b>",
	})
	must(t, err)
	return b
}

// deliverOnce sends one webhook to a capture server and returns what the
// receiver got.
func deliverOnce(t *testing.T, req Request) (Attempt, received) {
	t.Helper()
	srv, got := captureServer(t, http.StatusOK)
	c := testClient(t, Options{AllowPrivate: true})
	req.URL = srv.URL + "/hook"
	a := c.Deliver(context.Background(), req)
	if a.Outcome != Delivered {
		t.Fatalf("delivery failed: %+v", a)
	}
	select {
	case r := <-got:
		return a, r
	case <-time.After(5 * time.Second):
		t.Fatal("receiver got nothing")
	}
	return a, received{}
}

func TestDocumentedSnippetsVerifyXSignature(t *testing.T) {
	newest, old := newSecret(t), newSecret(t)
	conv := "6cafd8ba-dd51-4411-808e-671d1dd59561"
	body := resolvedBody(t, conv)
	_, r := deliverOnce(t, Request{ID: "msg_1", ConversationID: conv, Body: body, Secrets: []string{newest, old}})
	if !bytes.Equal(r.body, body) {
		t.Fatalf("receiver got a different body:\n%s\n%s", r.body, body)
	}
	sig := r.header.Get("X-Signature")
	if sig != SignHex(newest, body) || strings.ToLower(sig) != sig || len(sig) != 64 {
		t.Fatalf("X-Signature = %q, want lowercase hex HMAC with the newest secret", sig)
	}
	if got := r.header.Get("X-Conversation-UUID"); got != conv {
		t.Fatalf("X-Conversation-UUID = %q", got)
	}

	tampered := bytes.Replace(r.body, []byte("Acme"), []byte("Acne"), 1)
	for _, lang := range []string{"python", "node"} {
		t.Run(lang, func(t *testing.T) {
			if err := runSnippet(t, lang, r.body, newest, sig); err != nil {
				t.Fatalf("the documented %s snippet rejected our webhook: %v", lang, err)
			}
			if err := runSnippet(t, lang, tampered, newest, sig); err == nil {
				t.Fatalf("the documented %s snippet accepted a tampered body", lang)
			} else if !strings.Contains(err.Error(), "AssertionError") && !strings.Contains(err.Error(), "Invalid signature") {
				t.Fatalf("the %s snippet failed for another reason than the signature: %v", lang, err)
			}
			// X-Signature is the newest secret's only: a receiver still on
			// the old secret must use the Standard Webhooks header.
			if err := runSnippet(t, lang, r.body, old, sig); err == nil {
				t.Fatalf("the %s snippet accepted X-Signature with the old secret", lang)
			}
		})
	}
}

func TestSignHexKnownVector(t *testing.T) {
	// Computed independently: the key is the whole string, prefix included.
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"a":1}`)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	if got, want := SignHex(secret, body), hex.EncodeToString(m.Sum(nil)); got != want {
		t.Fatalf("SignHex = %s, want %s", got, want)
	}
}

func TestStandardWebhooksLibraryVerifies(t *testing.T) {
	secret := newSecret(t)
	body := resolvedBody(t, "c1")
	_, r := deliverOnce(t, Request{ID: "msg_2", ConversationID: "c1", Body: body, Secrets: []string{secret}})
	wh, err := standardwebhooks.NewWebhook(secret)
	must(t, err)
	if err := wh.Verify(r.body, r.header); err != nil {
		t.Fatalf("standard-webhooks rejected our webhook: %v (headers %v)", err, r.header)
	}
	if r.header.Get("webhook-id") != "msg_2" {
		t.Fatalf("webhook-id = %q", r.header.Get("webhook-id"))
	}
	if !strings.HasPrefix(r.header.Get("webhook-signature"), "v1,") {
		t.Fatalf("webhook-signature = %q", r.header.Get("webhook-signature"))
	}
	if ua := r.header.Get("User-Agent"); ua != UserAgent {
		t.Fatalf("User-Agent = %q", ua)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	// Tampering with the body, the id or the timestamp breaks it.
	h := r.header.Clone()
	if err := wh.Verify(append(bytes.Clone(r.body), ' '), h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Fatalf("tampered body: %v", err)
	}
	h.Set("webhook-id", "msg_3")
	if err := wh.Verify(r.body, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Fatalf("changed id: %v", err)
	}
}

func TestStandardWebhooksRotation(t *testing.T) {
	newest, old, stranger := newSecret(t), newSecret(t), newSecret(t)
	body := resolvedBody(t, "c2")
	_, r := deliverOnce(t, Request{ID: "msg_rot", ConversationID: "c2", Body: body, Secrets: []string{newest, old}})
	sigs := strings.Split(r.header.Get("webhook-signature"), " ")
	if len(sigs) != 2 || !strings.HasPrefix(sigs[0], "v1,") || !strings.HasPrefix(sigs[1], "v1,") {
		t.Fatalf("webhook-signature = %q, want two space-separated v1 signatures", r.header.Get("webhook-signature"))
	}
	for name, s := range map[string]string{"newest": newest, "old": old} {
		wh, err := standardwebhooks.NewWebhook(s)
		must(t, err)
		if err := wh.Verify(r.body, r.header); err != nil {
			t.Fatalf("a receiver holding the %s secret rejected the rotation webhook: %v", name, err)
		}
	}
	wh, err := standardwebhooks.NewWebhook(stranger)
	must(t, err)
	if err := wh.Verify(r.body, r.header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Fatalf("an unrelated secret: %v, want no matching signature", err)
	}
	// The first signature is the newest secret's.
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(newest, SecretPrefix))
	m := hmac.New(sha256.New, key)
	m.Write([]byte("msg_rot." + r.header.Get("webhook-timestamp") + "."))
	m.Write(body)
	if sigs[0] != "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)) {
		t.Fatalf("first signature is not the newest secret's")
	}
}

func TestStandardWebhooksRejectsOldReplay(t *testing.T) {
	secret := newSecret(t)
	body := resolvedBody(t, "c3")
	_, r := deliverOnce(t, Request{ID: "msg_old", ConversationID: "c3", Body: body, Secrets: []string{secret},
		Now: time.Now().Add(-6 * time.Minute)})
	wh, err := standardwebhooks.NewWebhook(secret)
	must(t, err)
	if err := wh.Verify(r.body, r.header); !errors.Is(err, standardwebhooks.ErrMessageTooOld) {
		t.Fatalf("a 6-minute-old webhook: %v, want ErrMessageTooOld", err)
	}
	// Only the age is wrong: the signature itself is good.
	if err := wh.VerifyIgnoringTimestamp(r.body, r.header); err != nil {
		t.Fatalf("signature of the old webhook: %v", err)
	}
}

func TestRetriesKeepIDAndReSign(t *testing.T) {
	secret := newSecret(t)
	body := resolvedBody(t, "c4")
	t0 := time.Now().Add(-30 * time.Second)
	_, r1 := deliverOnce(t, Request{ID: "msg_retry", ConversationID: "c4", Body: body, Secrets: []string{secret}, Now: t0})
	_, r2 := deliverOnce(t, Request{ID: "msg_retry", ConversationID: "c4", Body: body, Secrets: []string{secret}, Now: t0.Add(20 * time.Second)})
	if r1.header.Get("webhook-id") != r2.header.Get("webhook-id") {
		t.Fatal("webhook-id changed between retries")
	}
	if r1.header.Get("webhook-timestamp") != strconv.FormatInt(t0.Unix(), 10) ||
		r2.header.Get("webhook-timestamp") != strconv.FormatInt(t0.Unix()+20, 10) {
		t.Fatalf("timestamps %s, %s", r1.header.Get("webhook-timestamp"), r2.header.Get("webhook-timestamp"))
	}
	if r1.header.Get("webhook-signature") == r2.header.Get("webhook-signature") {
		t.Fatal("a retry was not re-signed")
	}
	if r1.header.Get("X-Signature") != r2.header.Get("X-Signature") {
		t.Fatal("X-Signature depends only on the body and must not change")
	}
	wh, _ := standardwebhooks.NewWebhook(secret)
	for _, r := range []received{r1, r2} {
		if err := wh.Verify(r.body, r.header); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSigningErrors(t *testing.T) {
	good := newSecret(t)
	ts := time.Unix(1_700_000_000, 0)
	cases := []struct {
		name    string
		secrets []string
		id      string
		want    string
	}{
		{"no secrets", nil, "msg", "no signing secret"},
		{"empty id", []string{good}, "", "empty webhook-id"},
		{"dotted id", []string{good}, "a.b", "must not contain"},
		{"bad base64", []string{good, "whsec_not base64!"}, "msg", "signing secret 2 of 2 is not whsec_"},
		{"empty secret", []string{""}, "msg", "signing secret 1 of 1 is empty"},
	}
	for _, tc := range cases {
		_, err := StandardSignatures(tc.secrets, tc.id, ts, []byte("{}"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "not base64!") {
			t.Errorf("%s: the error quotes the secret: %v", tc.name, err)
		}
	}
	h, err := Headers([]string{good}, "msg", "conv", ts, []byte("{}"))
	must(t, err)
	for _, k := range []string{"Content-Type", "User-Agent", "X-Signature", "X-Conversation-UUID", "webhook-id", "webhook-timestamp", "webhook-signature"} {
		if h.Get(k) == "" {
			t.Errorf("Headers lacks %s", k)
		}
	}
	if h.Get("webhook-timestamp") != "1700000000" {
		t.Errorf("webhook-timestamp = %q", h.Get("webhook-timestamp"))
	}
}

package apikey_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/apikey"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/domain/es/estest"
)

var now = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func cents(n int64) *int64 { return &n }

const (
	keyID = "key-1"
	owner = "user-1"
)

var settings = apikey.Settings{Label: "CRM sync", ResponseURL: "https://hooks.example/in", BudgetUSDCents: cents(500), BudgetPeriod: apikey.Daily}

func created() *apikey.Created {
	return &apikey.Created{KeyID: keyID, WorkspaceID: "ws-1", UserID: owner, KeyHash: "hash", KeyPrefix: "cag_abcd",
		SealedSigningSecret: "sealed", Settings: settings, CreatedAt: now}
}

func TestValidateResponseURL(t *testing.T) {
	ok := []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{"https://hooks.example/in", "https://hooks.example/in"},
		{"  http://hooks.example:8080/a?b=c  ", "http://hooks.example:8080/a?b=c"},
		{"https://[::1]:9000/x", "https://[::1]:9000/x"},
		{"https://h.example/" + strings.Repeat("a", apikey.MaxResponseURL-len("https://h.example/")), "https://h.example/" + strings.Repeat("a", apikey.MaxResponseURL-len("https://h.example/"))},
	}
	for _, c := range ok {
		got, err := apikey.ValidateResponseURL(c.in)
		if err != nil || got != c.want {
			t.Fatalf("ValidateResponseURL(%.40q) = %.40q, %v; want %.40q", c.in, got, err, c.want)
		}
	}
	bad := []struct{ name, in, reason string }{
		{"relative", "/hooks/in", "absolute http or https"},
		{"no scheme", "hooks.example/in", "absolute http or https"},
		{"ftp", "ftp://hooks.example/in", "absolute http or https"},
		{"javascript", "javascript:alert(1)", "absolute http or https"},
		{"no host", "https:///in", "absolute http or https"},
		{"port only", "http://:8080/in", "absolute http or https"},
		{"unparsable", "http://hooks example/in", "absolute http or https"},
		{"user and password", "https://user:pass@hooks.example/in", "user name or password"},
		{"user only", "https://user@hooks.example/in", "user name or password"},
		{"fragment", "https://hooks.example/in#top", "#fragment"},
		{"too long", "https://h.example/" + strings.Repeat("a", apikey.MaxResponseURL-len("https://h.example/")+1), "at most 2048"},
	}
	for _, c := range bad {
		got, err := apikey.ValidateResponseURL(c.in)
		if err == nil {
			t.Fatalf("%s: %.40q accepted as %.40q", c.name, c.in, got)
		}
		if f := estest.InvalidField(t, err); f != "response_url" || !strings.Contains(err.Error(), c.reason) || got != "" {
			t.Fatalf("%s: err = %v (field %s), want it to mention %q", c.name, err, f, c.reason)
		}
	}
}

func TestValidateBudget(t *testing.T) {
	for _, c := range []*int64{nil, cents(0), cents(1), cents(1 << 40)} {
		if err := apikey.ValidateBudget(c); err != nil {
			t.Fatalf("ValidateBudget(%v): %v", c, err)
		}
	}
	for _, c := range []*int64{cents(-1), cents(-1 << 40)} {
		if f := estest.InvalidField(t, apikey.ValidateBudget(c)); f != "budget_usd_cents" {
			t.Fatalf("field = %s", f)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	for _, p := range []apikey.Period{apikey.Daily, apikey.Monthly, apikey.Total} {
		if got, err := apikey.ParsePeriod(string(p)); err != nil || got != p {
			t.Fatalf("ParsePeriod(%q) = %q, %v", p, got, err)
		}
	}
	for _, s := range []string{"", "weekly", "Daily", " daily"} {
		got, err := apikey.ParsePeriod(s)
		if got != "" || estest.InvalidField(t, err) != "budget_period" {
			t.Fatalf("ParsePeriod(%q) = %q, %v", s, got, err)
		}
	}
}

func TestValidateLabel(t *testing.T) {
	max := strings.Repeat("ü", apikey.MaxLabel) // 200 characters, 400 bytes
	for in, want := range map[string]string{"": "", "  CRM  ": "CRM", max: max, " " + max + " ": max} {
		if got, err := apikey.ValidateLabel(in); err != nil || got != want {
			t.Fatalf("ValidateLabel(%.20q) = %.20q, %v", in, got, err)
		}
	}
	got, err := apikey.ValidateLabel(max + "x")
	if got != "" || estest.InvalidField(t, err) != "label" {
		t.Fatalf("201 characters: %q, %v", got, err)
	}
}

func TestCreate(t *testing.T) {
	t.Run("records the key with its settings", func(t *testing.T) {
		facts, err := apikey.Create(keyID, "ws-1", owner, "hash", "cag_abcd", "sealed", settings, apikey.ModeLive, now)
		want := created()
		want.Mode = apikey.ModeLive
		estest.ThenFacts(t, facts, err, want)
	})
	t.Run("a test key says so", func(t *testing.T) {
		facts, err := apikey.Create(keyID, "ws-1", owner, "hash", "cag_abcd", "sealed", settings, apikey.ModeTest, now)
		want := created()
		want.Mode = apikey.ModeTest
		estest.ThenFacts(t, facts, err, want)
		var k apikey.Key
		k.Apply(facts[0])
		if !k.Test() {
			t.Fatal("a key created in test mode does not fold as a test key")
		}
	})
	t.Run("a mode other than test or live is refused", func(t *testing.T) {
		_, err := apikey.Create(keyID, "ws-1", owner, "hash", "cag_abcd", "sealed", settings, "sandbox", now)
		if estest.InvalidField(t, err) != "mode" {
			t.Fatalf("mode sandbox: %v", err)
		}
	})
	t.Run("the budget period defaults to monthly", func(t *testing.T) {
		facts, err := apikey.Create(keyID, "ws-1", owner, "hash", "cag_abcd", "sealed", apikey.Settings{Label: "x"}, apikey.ModeLive, now)
		want := created()
		want.Mode = apikey.ModeLive
		want.Settings = apikey.Settings{Label: "x", BudgetPeriod: apikey.Monthly}
		estest.ThenFacts(t, facts, err, want)
	})
}

func TestUpdate(t *testing.T) {
	later := now.Add(time.Hour)
	changed := apikey.Settings{Label: "renamed", ResponseURL: "", BudgetUSDCents: nil, BudgetPeriod: apikey.Total}

	t.Run("by the owner", func(t *testing.T) {
		k := estest.Given[apikey.Key](created())
		facts, err := k.Update(owner, changed, later)
		estest.ThenFacts(t, facts, err, &apikey.Updated{Settings: changed, UpdatedAt: later})
	})
	t.Run("each setting counts as a change", func(t *testing.T) {
		k := estest.Given[apikey.Key](created())
		for _, s := range []apikey.Settings{
			{Label: "other", ResponseURL: settings.ResponseURL, BudgetUSDCents: cents(500), BudgetPeriod: apikey.Daily},
			{Label: settings.Label, ResponseURL: "https://else.example", BudgetUSDCents: cents(500), BudgetPeriod: apikey.Daily},
			{Label: settings.Label, ResponseURL: settings.ResponseURL, BudgetUSDCents: cents(501), BudgetPeriod: apikey.Daily},
			{Label: settings.Label, ResponseURL: settings.ResponseURL, BudgetUSDCents: nil, BudgetPeriod: apikey.Daily},
			{Label: settings.Label, ResponseURL: settings.ResponseURL, BudgetUSDCents: cents(500), BudgetPeriod: apikey.Monthly},
		} {
			facts, err := k.Update(owner, s, later)
			estest.ThenFacts(t, facts, err, &apikey.Updated{Settings: s, UpdatedAt: later})
		}
	})
	t.Run("the same settings change nothing", func(t *testing.T) {
		k := estest.Given[apikey.Key](created())
		same := settings
		same.BudgetUSDCents = cents(500) // equal value, another pointer
		facts, err := k.Update(owner, same, later)
		estest.ThenFacts(t, facts, err)

		k = estest.Given[apikey.Key](created(), &apikey.Updated{Settings: changed, UpdatedAt: later})
		facts, err = k.Update(owner, changed, later.Add(time.Hour))
		estest.ThenFacts(t, facts, err)
	})
	t.Run("by someone else", func(t *testing.T) {
		k := estest.Given[apikey.Key](created())
		facts, err := k.Update("user-2", changed, later)
		estest.ThenError(t, facts, err, apikey.ErrOwnerMismatch)
	})
	t.Run("on a revoked key", func(t *testing.T) {
		k := estest.Given[apikey.Key](created(), &apikey.Revoked{RevokedAt: now})
		facts, err := k.Update(owner, changed, later)
		estest.ThenError(t, facts, err, apikey.ErrRevoked)
		facts, err = k.Update("user-2", changed, later)
		estest.ThenError(t, facts, err, apikey.ErrOwnerMismatch)
	})
	t.Run("on a key that does not exist", func(t *testing.T) {
		k := estest.Given[apikey.Key]()
		facts, err := k.Update(owner, changed, later)
		estest.ThenError(t, facts, err, apikey.ErrNotFound)
	})
}

func TestRevoke(t *testing.T) {
	later := now.Add(time.Hour)
	t.Run("by the owner", func(t *testing.T) {
		k := estest.Given[apikey.Key](created())
		facts, err := k.Revoke(owner, later)
		estest.ThenFacts(t, facts, err, &apikey.Revoked{RevokedAt: later})
	})
	t.Run("twice changes nothing", func(t *testing.T) {
		k := estest.Given[apikey.Key](created(), &apikey.Revoked{RevokedAt: now})
		facts, err := k.Revoke(owner, later)
		estest.ThenFacts(t, facts, err)
	})
	t.Run("by someone else", func(t *testing.T) {
		k := estest.Given[apikey.Key](created())
		facts, err := k.Revoke("user-2", later)
		estest.ThenError(t, facts, err, apikey.ErrOwnerMismatch)
	})
	t.Run("unknown key", func(t *testing.T) {
		facts, err := estest.Given[apikey.Key]().Revoke(owner, later)
		estest.ThenError(t, facts, err, apikey.ErrNotFound)
	})
}

func TestUsable(t *testing.T) {
	k := estest.Given[apikey.Key](created())
	if err := k.Usable(owner); err != nil {
		t.Fatalf("owner: %v", err)
	}
	if err := k.Usable("user-2"); !errors.Is(err, apikey.ErrOwnerMismatch) {
		t.Fatalf("other user: %v", err)
	}
	if err := estest.Given[apikey.Key]().Usable(owner); !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("unknown key: %v", err)
	}
	k = estest.Given[apikey.Key](created(), &apikey.Revoked{RevokedAt: now})
	if err := k.Usable(owner); !errors.Is(err, apikey.ErrRevoked) {
		t.Fatalf("revoked: %v", err)
	}
}

func TestApply(t *testing.T) {
	changed := apikey.Settings{Label: "renamed", BudgetPeriod: apikey.Total}
	k := estest.Given[apikey.Key](created(), &apikey.Updated{Settings: changed, UpdatedAt: now}, &apikey.Revoked{RevokedAt: now})
	want := apikey.Key{ID: keyID, WorkspaceID: "ws-1", UserID: owner, KeyHash: "hash", SealedSigningSecret: "sealed",
		Settings: changed, Revoked: true, Mode: apikey.ModeLive} // a key from before modes is live
	if !reflect.DeepEqual(*k, want) {
		t.Fatalf("state = %+v\nwant    %+v", *k, want)
	}
	if got := apikey.Stream(keyID); got != "apikey-key-1" {
		t.Fatalf("Stream = %q", got)
	}
}

func TestEventsRoundTrip(t *testing.T) {
	for _, f := range []es.Fact{created(), &apikey.Updated{Settings: settings, UpdatedAt: now}, &apikey.Revoked{RevokedAt: now}} {
		ev, err := es.NewEvent("id", f, es.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		back, err := apikey.Events.Decode(es.Recorded{Stream: apikey.Stream(keyID), Type: ev.Type, Data: ev.Data})
		if err != nil || !reflect.DeepEqual(back, f) {
			t.Fatalf("round trip of %s = %+v, %v", f.EventType(), back, err)
		}
	}
}

package namedagent_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/namedagent"
)

func TestSlugify(t *testing.T) {
	for name, want := range map[string]string{
		"Customer Support":        "customer-support",
		"  Sales -- Assistant  ":  "sales-assistant",
		"Tier 2 / EMEA helpdesk!": "tier-2-emea-helpdesk",
		"Café Über":               "caf-ber",
		"日本語":                     "",
	} {
		if got := namedagent.Slugify(name); got != want {
			t.Errorf("Slugify(%q) = %q, want %q", name, got, want)
		}
		if want != "" && namedagent.ValidSlug(want) != nil {
			t.Errorf("the slug %q of %q is not valid", want, name)
		}
	}
	for _, bad := range []string{"", "Upper", "two  spaces", "-lead", "trail-", "double--hyphen", "under_score"} {
		if namedagent.ValidSlug(bad) == nil {
			t.Errorf("ValidSlug(%q) accepted it", bad)
		}
	}
}

func TestAgentLife(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var a namedagent.Agent
	warm := 0.9
	facts, err := a.Create("ws-1", "support", namedagent.Config{Name: "Support", Temperature: &warm, Tools: []string{"search_contacts"}}, "u-1", now)
	if err != nil || len(facts) != 1 {
		t.Fatalf("create: %v", err)
	}
	a.Apply(facts[0])
	if !a.Exists() || a.Version != 1 || a.ID != namedagent.ID("ws-1", "support") || !a.Config.Allows("search_contacts") || a.Config.Allows("send_email") {
		t.Fatalf("after create: %+v", a)
	}
	if _, err := a.Create("ws-1", "support", namedagent.Config{Name: "Again"}, "u-1", now); !errors.Is(err, namedagent.ErrExists) {
		t.Errorf("a second create: %v", err)
	}
	if _, err := a.Update("ws-2", namedagent.Config{Name: "Theirs"}, "u-9", now); !errors.Is(err, namedagent.ErrNotFound) {
		t.Errorf("another workspace's update: %v", err)
	}
	hot := 2.1
	if _, err := a.Update("ws-1", namedagent.Config{Name: "Support", Temperature: &hot}, "u-1", now); err == nil {
		t.Error("temperature 2.1 was accepted")
	}
	facts, _ = a.Delete("ws-1", "u-1", now)
	a.Apply(facts[0])
	if a.Exists() || a.Version != 2 {
		t.Fatalf("after delete: %+v", a)
	}
	if _, err := a.Update("ws-1", namedagent.Config{Name: "Back"}, "u-1", now); !errors.Is(err, namedagent.ErrNotFound) {
		t.Errorf("update of a deleted agent: %v", err)
	}
	if facts, err = a.Create("ws-1", "support", namedagent.Config{Name: "Support 2"}, "u-1", now); err != nil {
		t.Fatalf("the slug's next life: %v", err)
	}
	a.Apply(facts[0])
	if !a.Exists() || a.Version != 3 || a.Config.Tools != nil {
		t.Errorf("recreated: %+v", a)
	}
}

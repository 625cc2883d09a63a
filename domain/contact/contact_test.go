package contact_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/contact"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
)

// Given/When/Then: given folds past facts into a fresh state, the test calls
// one decision on it, and then checks the exact facts (or the error).

func given[S any, P interface {
	*S
	Apply(es.Fact)
}](facts ...es.Fact) P {
	p := P(new(S))
	for _, f := range facts {
		p.Apply(f)
	}
	return p
}

func render(facts []es.Fact) string {
	var b strings.Builder
	for _, f := range facts {
		j, _ := json.Marshal(f)
		b.WriteString("\n  " + f.EventType() + " " + string(j))
	}
	if b.Len() == 0 {
		return " (none)"
	}
	return b.String()
}

func thenFacts(t *testing.T, got []es.Fact, err error, want ...es.Fact) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		t.Fatalf("facts:%s\nwant:%s", render(got), render(want))
	}
}

func thenError(t *testing.T, got []es.Fact, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if got != nil {
		t.Fatalf("facts with an error:%s", render(got))
	}
}

func thenInvalid(t *testing.T, got []es.Fact, err error, field string) {
	t.Helper()
	var v *contact.ValidationError
	if !errors.As(err, &v) || v.Field != field {
		t.Fatalf("err = %v, want a ValidationError on %s", err, field)
	}
	if got != nil {
		t.Fatalf("facts with an error:%s", render(got))
	}
}

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

const ws = "ws-1"

var ada = contact.Fields{Name: "Ada Lovelace", Company: "Engines", Email: "ada@engines.example", City: "London"}

func created() *contact.Created {
	return &contact.Created{ContactID: "c-1", WorkspaceID: ws, Fields: ada, CreatedAt: t0}
}

func TestCreate(t *testing.T) {
	t.Run("fields are trimmed", func(t *testing.T) {
		facts, err := contact.Create("c-1", ws, contact.Fields{Name: " Ada Lovelace ", Company: "\tEngines", Email: " ada@engines.example ",
			City: "London\n", Notes: "  "}, t0)
		thenFacts(t, facts, err, created())
	})
	t.Run("name is required", func(t *testing.T) {
		facts, err := contact.Create("c-1", ws, contact.Fields{Name: "  ", City: "London"}, t0)
		thenInvalid(t, facts, err, "name")
	})
	t.Run("email must be an address", func(t *testing.T) {
		for _, e := range []string{"ada", "Ada <ada@engines.example>", "ada@", "ada@@engines"} {
			facts, err := contact.Create("c-1", ws, contact.Fields{Name: "Ada", Email: e}, t0)
			thenInvalid(t, facts, err, "email")
		}
	})
	t.Run("fields are at most 500 characters; notes are not limited", func(t *testing.T) {
		long := strings.Repeat("ß", 500)
		if _, err := contact.Create("c-1", ws, contact.Fields{Name: long, City: long, Notes: long + long}, t0); err != nil {
			t.Fatalf("500 characters refused: %v", err)
		}
		facts, err := contact.Create("c-1", ws, contact.Fields{Name: "Ada", City: long + "x"}, t0)
		thenInvalid(t, facts, err, "city")
	})
}

func TestUpdate(t *testing.T) {
	later := t0.Add(time.Hour)
	t.Run("changes only the fields in the patch and lists them sorted", func(t *testing.T) {
		c := given[contact.Contact](created())
		facts, err := c.Update(ws, map[string]string{"title": " CTO ", "city": "Paris", "phone": "+44 1", "name": "Ada Lovelace"}, later)
		want := ada
		want.Title, want.City, want.Phone = "CTO", "Paris", "+44 1"
		thenFacts(t, facts, err, &contact.Updated{Fields: want, Changed: []string{"city", "phone", "title"}, UpdatedAt: later})
	})
	t.Run("a field can be cleared", func(t *testing.T) {
		c := given[contact.Contact](created())
		facts, err := c.Update(ws, map[string]string{"company": ""}, later)
		want := ada
		want.Company = ""
		thenFacts(t, facts, err, &contact.Updated{Fields: want, Changed: []string{"company"}, UpdatedAt: later})
	})
	t.Run("the same values change nothing", func(t *testing.T) {
		c := given[contact.Contact](created())
		facts, err := c.Update(ws, map[string]string{"name": " Ada Lovelace ", "city": "London", "notes": ""}, later)
		thenFacts(t, facts, err)
		facts, err = c.Update(ws, nil, later)
		thenFacts(t, facts, err)
	})
	t.Run("unknown field", func(t *testing.T) {
		c := given[contact.Contact](created())
		facts, err := c.Update(ws, map[string]string{"birthday": "1815-12-10"}, later)
		thenInvalid(t, facts, err, "birthday")
	})
	t.Run("invalid email", func(t *testing.T) {
		c := given[contact.Contact](created())
		facts, err := c.Update(ws, map[string]string{"email": "not mail"}, later)
		thenInvalid(t, facts, err, "email")
	})
	t.Run("blank name", func(t *testing.T) {
		c := given[contact.Contact](created())
		facts, err := c.Update(ws, map[string]string{"name": " "}, later)
		thenInvalid(t, facts, err, "name")
	})
	t.Run("other workspace, deleted or unknown is not found", func(t *testing.T) {
		facts, err := given[contact.Contact](created()).Update("ws-2", map[string]string{"city": "Paris"}, later)
		thenError(t, facts, err, contact.ErrNotFound)
		facts, err = given[contact.Contact](created(), &contact.Deleted{DeletedAt: t0}).Update(ws, map[string]string{"city": "Paris"}, later)
		thenError(t, facts, err, contact.ErrNotFound)
		facts, err = given[contact.Contact]().Update(ws, map[string]string{"city": "Paris"}, later)
		thenError(t, facts, err, contact.ErrNotFound)
	})
}

func TestDelete(t *testing.T) {
	later := t0.Add(time.Hour)
	facts, err := given[contact.Contact](created()).Delete(ws, later)
	thenFacts(t, facts, err, &contact.Deleted{DeletedAt: later})

	facts, err = given[contact.Contact](created()).Delete("ws-2", later)
	thenError(t, facts, err, contact.ErrNotFound)
	facts, err = given[contact.Contact](created(), &contact.Deleted{DeletedAt: t0}).Delete(ws, later)
	thenError(t, facts, err, contact.ErrNotFound)
	facts, err = given[contact.Contact]().Delete(ws, later)
	thenError(t, facts, err, contact.ErrNotFound)
}

func TestApply(t *testing.T) {
	f := ada
	f.City = "Paris"
	c := given[contact.Contact](created(), &contact.Updated{Fields: f, Changed: []string{"city"}, UpdatedAt: t0}, &contact.Deleted{DeletedAt: t0})
	if want := (contact.Contact{ID: "c-1", WorkspaceID: ws, Fields: f, Deleted: true}); !reflect.DeepEqual(*c, want) {
		t.Fatalf("state = %+v", *c)
	}
	if contact.Stream("c-1") != "contact-c-1" {
		t.Fatal("Stream")
	}
}

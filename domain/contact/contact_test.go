package contact_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/contact"
	"github.com/sois-ai/chat-agent-gateway/domain/es/estest"
)

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
		estest.ThenFacts(t, facts, err, created())
	})
	t.Run("name is required", func(t *testing.T) {
		facts, err := contact.Create("c-1", ws, contact.Fields{Name: "  ", City: "London"}, t0)
		estest.ThenInvalid(t, facts, err, "name")
	})
	t.Run("email must be an address", func(t *testing.T) {
		for _, e := range []string{"ada", "Ada <ada@engines.example>", "ada@", "ada@@engines"} {
			facts, err := contact.Create("c-1", ws, contact.Fields{Name: "Ada", Email: e}, t0)
			estest.ThenInvalid(t, facts, err, "email")
		}
	})
	t.Run("fields are at most 500 characters; notes are not limited", func(t *testing.T) {
		long := strings.Repeat("ß", 500)
		if _, err := contact.Create("c-1", ws, contact.Fields{Name: long, City: long, Notes: long + long}, t0); err != nil {
			t.Fatalf("500 characters refused: %v", err)
		}
		facts, err := contact.Create("c-1", ws, contact.Fields{Name: "Ada", City: long + "x"}, t0)
		estest.ThenInvalid(t, facts, err, "city")
	})
}

func TestUpdate(t *testing.T) {
	later := t0.Add(time.Hour)
	t.Run("changes only the fields in the patch and lists them sorted", func(t *testing.T) {
		c := estest.Given[contact.Contact](created())
		facts, err := c.Update(ws, map[string]string{"title": " CTO ", "city": "Paris", "phone": "+44 1", "name": "Ada Lovelace"}, later)
		want := ada
		want.Title, want.City, want.Phone = "CTO", "Paris", "+44 1"
		estest.ThenFacts(t, facts, err, &contact.Updated{Fields: want, Changed: []string{"city", "phone", "title"}, UpdatedAt: later})
	})
	t.Run("a field can be cleared", func(t *testing.T) {
		c := estest.Given[contact.Contact](created())
		facts, err := c.Update(ws, map[string]string{"company": ""}, later)
		want := ada
		want.Company = ""
		estest.ThenFacts(t, facts, err, &contact.Updated{Fields: want, Changed: []string{"company"}, UpdatedAt: later})
	})
	t.Run("the same values change nothing", func(t *testing.T) {
		c := estest.Given[contact.Contact](created())
		facts, err := c.Update(ws, map[string]string{"name": " Ada Lovelace ", "city": "London", "notes": ""}, later)
		estest.ThenFacts(t, facts, err)
		facts, err = c.Update(ws, nil, later)
		estest.ThenFacts(t, facts, err)
	})
	t.Run("unknown field", func(t *testing.T) {
		c := estest.Given[contact.Contact](created())
		facts, err := c.Update(ws, map[string]string{"birthday": "1815-12-10"}, later)
		estest.ThenInvalid(t, facts, err, "birthday")
	})
	t.Run("invalid email", func(t *testing.T) {
		c := estest.Given[contact.Contact](created())
		facts, err := c.Update(ws, map[string]string{"email": "not mail"}, later)
		estest.ThenInvalid(t, facts, err, "email")
	})
	t.Run("blank name", func(t *testing.T) {
		c := estest.Given[contact.Contact](created())
		facts, err := c.Update(ws, map[string]string{"name": " "}, later)
		estest.ThenInvalid(t, facts, err, "name")
	})
	t.Run("other workspace, deleted or unknown is not found", func(t *testing.T) {
		facts, err := estest.Given[contact.Contact](created()).Update("ws-2", map[string]string{"city": "Paris"}, later)
		estest.ThenError(t, facts, err, contact.ErrNotFound)
		facts, err = estest.Given[contact.Contact](created(), &contact.Deleted{DeletedAt: t0}).Update(ws, map[string]string{"city": "Paris"}, later)
		estest.ThenError(t, facts, err, contact.ErrNotFound)
		facts, err = estest.Given[contact.Contact]().Update(ws, map[string]string{"city": "Paris"}, later)
		estest.ThenError(t, facts, err, contact.ErrNotFound)
	})
}

func TestDelete(t *testing.T) {
	later := t0.Add(time.Hour)
	facts, err := estest.Given[contact.Contact](created()).Delete(ws, later)
	estest.ThenFacts(t, facts, err, &contact.Deleted{DeletedAt: later})

	facts, err = estest.Given[contact.Contact](created()).Delete("ws-2", later)
	estest.ThenError(t, facts, err, contact.ErrNotFound)
	facts, err = estest.Given[contact.Contact](created(), &contact.Deleted{DeletedAt: t0}).Delete(ws, later)
	estest.ThenError(t, facts, err, contact.ErrNotFound)
	facts, err = estest.Given[contact.Contact]().Delete(ws, later)
	estest.ThenError(t, facts, err, contact.ErrNotFound)
}

func TestApply(t *testing.T) {
	f := ada
	f.City = "Paris"
	c := estest.Given[contact.Contact](created(), &contact.Updated{Fields: f, Changed: []string{"city"}, UpdatedAt: t0}, &contact.Deleted{DeletedAt: t0})
	if want := (contact.Contact{ID: "c-1", WorkspaceID: ws, Fields: f, Deleted: true}); !reflect.DeepEqual(*c, want) {
		t.Fatalf("state = %+v", *c)
	}
	if contact.Stream("c-1") != "contact-c-1" {
		t.Fatal("Stream")
	}
}

package tools

import (
	"encoding/json"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/domain/contact"
	"github.com/sois-ai/chat-agent-gateway/projections/contacts"
)

// The model reads contacts as flat objects, blank fields left out, the
// same whether they come from the facts or from the read model.
func TestContactsReachTheModelFlat(t *testing.T) {
	want := `{"id":"c-1","name":"Ada Lovelace","company":"Analytical Engines","city":"London"}`
	fromFacts := contactFromDomain(contact.Contact{ID: "c-1",
		Fields: contact.Fields{Name: "Ada Lovelace", Company: "Analytical Engines", City: "London"}})
	fromView := contactFromView(contacts.View{ID: "c-1", WorkspaceID: "w-1", Name: "Ada Lovelace",
		Company: "Analytical Engines", City: "London", Version: 3})
	for name, c := range map[string]ContactOut{"facts": fromFacts, "view": fromView} {
		got, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("from the %s: %s\nwant %s", name, got, want)
		}
	}
}

package conversation

import (
	"encoding/json"
	"testing"
	"time"
)

// A resend under one Idempotency-Key must be the same request: equal as
// JSON values (key order, spacing and an empty context do not matter),
// and any difference in person, key, message, hints or metadata counts.
func TestSameRequest(t *testing.T) {
	base := OpenParams{ConversationID: "c", WorkspaceID: "w", UserID: "u", APIKeyID: "k", Message: "List my tasks",
		Context: &Context{EntityType: "task"}, Metadata: json.RawMessage(`{"a":1,"b":[1,2]}`), Now: time.Unix(0, 0)}
	facts, err := Open(base)
	if err != nil {
		t.Fatal(err)
	}
	var c Conversation
	for _, f := range facts {
		c.Apply(f)
	}
	same := base
	same.Metadata = json.RawMessage(`{ "b": [1, 2], "a": 1.0 }`)
	if !c.SameRequest(same) {
		t.Errorf("reordered metadata counts as a different request")
	}
	for name, change := range map[string]func(p *OpenParams){
		"message":        func(p *OpenParams) { p.Message = "List my contacts" },
		"user":           func(p *OpenParams) { p.UserID = "v" },
		"api key":        func(p *OpenParams) { p.APIKeyID = "l" },
		"context":        func(p *OpenParams) { p.Context = &Context{EntityType: "contact"} },
		"no context":     func(p *OpenParams) { p.Context = nil },
		"metadata":       func(p *OpenParams) { p.Metadata = json.RawMessage(`{"a":2,"b":[1,2]}`) },
		"array order":    func(p *OpenParams) { p.Metadata = json.RawMessage(`{"a":1,"b":[2,1]}`) },
		"no metadata":    func(p *OpenParams) { p.Metadata = nil },
		"extra metadata": func(p *OpenParams) { p.Metadata = json.RawMessage(`{"a":1,"b":[1,2],"c":null}`) },
	} {
		p := base
		change(&p)
		if c.SameRequest(p) {
			t.Errorf("%s: a different request counts as the same", name)
		}
	}
	// Without context or metadata, an empty context and a JSON null match.
	bare := OpenParams{ConversationID: "c", UserID: "u", APIKeyID: "k", Message: "Hi", Now: time.Unix(0, 0)}
	facts, _ = Open(bare)
	var b Conversation
	for _, f := range facts {
		b.Apply(f)
	}
	bare.Context, bare.Metadata = &Context{}, json.RawMessage(`null`)
	if !b.SameRequest(bare) {
		t.Errorf("an empty context and null metadata differ from none")
	}
}

package offline

import (
	"encoding/json"
	"strings"
)

// contactRecord is a contact as the contact tools return it. Decoding is
// tolerant (see recordString) because the model must never fail on a result
// shaped slightly differently from the contract.
type contactRecord struct {
	ID string
	contactFields
}

// taskRecord is a task as the task tools return it.
type taskRecord struct {
	ID, Title, Description, Status, DueDate string
}

// decodeObject parses a tool result that should be a JSON object.
func decodeObject(raw string) (map[string]any, bool) {
	var obj map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(raw)), &obj); err != nil || obj == nil {
		return nil, false
	}
	return obj, true
}

// toolError returns the failure sentence of a `{"error": ...}` result. The
// error may be a plain string or an object with a message.
func toolError(raw string) (string, bool) {
	obj, ok := decodeObject(raw)
	if !ok {
		return "", false
	}
	v, present := obj["error"]
	if !present || v == nil || v == false {
		return "", false
	}
	switch e := v.(type) {
	case string:
		if strings.TrimSpace(e) == "" {
			return "", false
		}
		return strings.TrimSpace(e), true
	case map[string]any:
		if msg := strings.TrimSpace(scalarString(e["message"])); msg != "" {
			return msg, true
		}
	}
	text, _ := json.Marshal(v)
	return string(text), true
}

// recordString reads one field of a decoded record as text, accepting
// numbers and booleans as well as strings.
func recordString(obj map[string]any, key string) string {
	return strings.TrimSpace(scalarString(obj[key]))
}

// contactFrom reads a contact object; it needs at least an id or a name.
func contactFrom(v any) (contactRecord, bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		return contactRecord{}, false
	}
	c := contactRecord{ID: recordString(obj, "id")}
	for _, key := range contactFieldNames {
		c.set(key, recordString(obj, key))
	}
	return c, c.ID != "" || c.Name != ""
}

// taskFrom reads a task object; it needs at least an id or a title.
func taskFrom(v any) (taskRecord, bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		return taskRecord{}, false
	}
	t := taskRecord{
		ID:          recordString(obj, "id"),
		Title:       recordString(obj, "title"),
		Description: recordString(obj, "description"),
		Status:      recordString(obj, "status"),
		DueDate:     recordString(obj, "due_date"),
	}
	return t, t.ID != "" || t.Title != ""
}

// contactResult reads `{"contact": {...}}` (get, create, update, delete).
func contactResult(raw string) (contactRecord, bool) {
	obj, ok := decodeObject(raw)
	if !ok {
		return contactRecord{}, false
	}
	return contactFrom(obj["contact"])
}

// taskResult reads `{"task": {...}}` (create, complete).
func taskResult(raw string) (taskRecord, bool) {
	obj, ok := decodeObject(raw)
	if !ok {
		return taskRecord{}, false
	}
	return taskFrom(obj["task"])
}

// contactListResult reads `{"count": n, "contacts": [...]}`.
func contactListResult(raw string) ([]contactRecord, int, bool) {
	return listResult(raw, "contacts", contactFrom)
}

// taskListResult reads `{"count": n, "tasks": [...]}`.
func taskListResult(raw string) ([]taskRecord, int, bool) {
	return listResult(raw, "tasks", taskFrom)
}

// listResult reads `{"count": n, key: [...]}`, each item with from. The
// total is the larger of count and the number of items listed, so a tool
// that truncates its list still reports how many matched.
func listResult[R any](raw, key string, from func(any) (R, bool)) (out []R, total int, ok bool) {
	obj, ok := decodeObject(raw)
	if !ok {
		return nil, 0, false
	}
	items, ok := obj[key].([]any)
	if !ok && obj[key] != nil {
		return nil, 0, false
	}
	if !ok && obj["count"] == nil {
		return nil, 0, false
	}
	for _, item := range items {
		if r, ok := from(item); ok {
			out = append(out, r)
		}
	}
	return out, max(countField(obj), len(out)), true
}

// countField reads a non-negative integer "count", or 0.
func countField(obj map[string]any) int {
	n, ok := obj["count"].(float64)
	if !ok || n < 0 || n > 1e9 {
		return 0
	}
	return int(n)
}

// deletedFlag reads the "deleted" flag; a result without one counts as
// deleted only if it still names the contact, as the contract promises.
func deletedFlag(raw string) (deleted bool, known bool) {
	obj, ok := decodeObject(raw)
	if !ok {
		return false, false
	}
	if d, ok := obj["deleted"].(bool); ok {
		return d, true
	}
	_, hasContact := contactFrom(obj["contact"])
	return hasContact, hasContact
}

// documentRecord is a document as the document tools return it.
type documentRecord struct {
	ID, Title, Folder, Body, Snippet string
}

func documentFrom(v any) (documentRecord, bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		return documentRecord{}, false
	}
	d := documentRecord{ID: recordString(obj, "id"), Title: recordString(obj, "title"), Folder: recordString(obj, "folder"),
		Body: recordString(obj, "body"), Snippet: recordString(obj, "snippet")}
	return d, d.ID != "" || d.Title != ""
}

// documentResult reads `{"document": {...}}` (read, move, create).
func documentResult(raw string) (documentRecord, bool) {
	obj, ok := decodeObject(raw)
	if !ok {
		return documentRecord{}, false
	}
	return documentFrom(obj["document"])
}

// documentListResult reads `{"count": n, "documents": [...]}`.
func documentListResult(raw string) ([]documentRecord, int, bool) {
	return listResult(raw, "documents", documentFrom)
}

// memberRecord is a person of the workspace.
type memberRecord struct {
	UserID, Email, Role string
}

func memberFrom(v any) (memberRecord, bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		return memberRecord{}, false
	}
	m := memberRecord{UserID: recordString(obj, "user_id"), Email: recordString(obj, "email"), Role: recordString(obj, "role")}
	return m, m.UserID != "" || m.Email != ""
}

// memberListResult reads `{"count": n, "members": [...]}`.
func memberListResult(raw string) ([]memberRecord, int, bool) {
	return listResult(raw, "members", memberFrom)
}

// teamRecord is a team with its members.
type teamRecord struct {
	ID, Name, Department string
	Members              []memberRecord
}

func teamFrom(v any) (teamRecord, bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		return teamRecord{}, false
	}
	t := teamRecord{ID: recordString(obj, "id"), Name: recordString(obj, "name"), Department: recordString(obj, "department")}
	if ms, ok := obj["members"].([]any); ok {
		for _, m := range ms {
			if r, ok := memberFrom(m); ok {
				t.Members = append(t.Members, r)
			}
		}
	}
	return t, t.ID != "" || t.Name != ""
}

// teamListResult reads `{"count": n, "teams": [...]}`.
func teamListResult(raw string) ([]teamRecord, int, bool) {
	return listResult(raw, "teams", teamFrom)
}

// departmentListResult reads `{"count": n, "departments": [...]}`; a
// department is shown by its name.
func departmentListResult(raw string) ([]string, int, bool) {
	return listResult(raw, "departments", func(v any) (string, bool) {
		obj, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		name := recordString(obj, "name")
		return name, name != ""
	})
}

// folderListResult reads `{"folders": [...]}`: paths, or objects with one.
func folderListResult(raw string) ([]string, bool) {
	obj, ok := decodeObject(raw)
	if !ok {
		return nil, false
	}
	items, ok := obj["folders"].([]any)
	if !ok {
		return nil, obj["folders"] == nil && obj["count"] != nil
	}
	var out []string
	for _, it := range items {
		switch f := it.(type) {
		case string:
			out = append(out, f)
		case map[string]any:
			name := recordString(f, "path")
			if name == "" {
				name = recordString(f, "folder")
			}
			if n := recordString(f, "documents"); name != "" && n != "" {
				name += " (" + n + ")"
			}
			if name != "" {
				out = append(out, name)
			}
		}
	}
	return out, true
}

// emailRecord is a sent (or queued) email.
type emailRecord struct {
	ID, Subject, Status string
	To                  []string
}

// emailResult reads `{"email": {...}}`.
func emailResult(raw string) (emailRecord, bool) {
	obj, ok := decodeObject(raw)
	if !ok {
		return emailRecord{}, false
	}
	e, ok := obj["email"].(map[string]any)
	if !ok {
		return emailRecord{}, false
	}
	r := emailRecord{ID: recordString(e, "id"), Subject: recordString(e, "subject"), Status: recordString(e, "status")}
	if to, ok := e["to"].([]any); ok {
		for _, a := range to {
			if s, ok := a.(string); ok {
				r.To = append(r.To, s)
			}
		}
	}
	return r, r.ID != "" || len(r.To) > 0
}

// stringArg reads one string argument of a call, or "".
func stringArg(args []byte, key string) string {
	var obj map[string]any
	if json.Unmarshal(args, &obj) != nil {
		return ""
	}
	s, _ := obj[key].(string)
	return s
}

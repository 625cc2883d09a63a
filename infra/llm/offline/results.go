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

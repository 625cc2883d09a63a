package offline

import (
	"fmt"
	"strings"
)

// UnsupportedReply is the whole reply to any request outside the offline
// model's rules. It is one exported sentence so the README can quote it.
const UnsupportedReply = "The offline model did not understand this request. It handles the documented kinds " +
	"(contacts, tasks with due dates and assignees, e-mails, documents, teams, and requests of several such steps); " +
	"anything else needs a language model: configure OPENAI_BASE_URL (and OPENAI_API_KEY, GATEWAY_MODEL) " +
	"to use any OpenAI-compatible endpoint."

// noRequestReply answers a transcript without any user message.
const noRequestReply = "I did not receive a request: the conversation has no message from the caller."

// maxListed caps how many contacts or tasks a reply names one by one.
const maxListed = 20

// toolPurpose says, for each tool, what the model was trying to do, so a
// failure can be reported in plain words.
var toolPurpose = map[string]string{
	toolSearchContacts: "search your contacts",
	toolGetContact:     "look up the contact",
	toolCreateContact:  "create the contact",
	toolUpdateContact:  "update the contact",
	toolDeleteContact:  "delete the contact",
	toolCreateTask:     "create the task",
	toolListTasks:      "list your tasks",
	toolCompleteTask:   "complete the task",
}

func purpose(tool string) string {
	if p, ok := toolPurpose[tool]; ok {
		return p
	}
	return "run " + tool
}

// failureReply reports a tool's `{"error": ...}` result.
func failureReply(tool, message string) string {
	return fmt.Sprintf("I couldn't %s: the %s tool reported an error: %s", purpose(tool), tool, sentence(message))
}

// missingToolReply explains that a needed tool is not offered.
func missingToolReply(tool string) string {
	return fmt.Sprintf("I can't %s because the %s tool is not available to me here, so I did nothing.", purpose(tool), tool)
}

// unreadableReply reports a result that does not follow the tool contract.
func unreadableReply(tool string) string {
	return fmt.Sprintf("I tried to %s, but the %s tool returned a result I could not read, so I can't tell you the outcome.",
		purpose(tool), tool)
}

// missingResultReply reports a tool call that never got a result.
func missingResultReply(tool string) string {
	return fmt.Sprintf("I asked the %s tool to %s but received no result, so I can't tell you the outcome.", tool, purpose(tool))
}

// noIDReply reports a match the tools returned without an id.
func noIDReply(name, verb string) string {
	return fmt.Sprintf("I found %s, but the result has no id, so I could not %s it.", quote(name), verb)
}

func noContactMatchReply(name, verb string) string {
	return fmt.Sprintf("No contact matches %s, so I did not %s anything.", quote(name), verb)
}

func noTaskMatchReply(query, verb string) string {
	return fmt.Sprintf("No open task matches %s, so I did not %s anything.", quote(query), verb)
}

// contactCreatedReply: "Contact created: John Smith, Acme Corp,
// john@acme.com, +44 7700 900000 (id 1b2c...)."
func contactCreatedReply(c contactRecord) string {
	parts := []string{orUnnamed(c.Name)}
	parts = appendNonEmpty(parts, role(c))
	if c.City != "" {
		parts = append(parts, "based in "+c.City)
	}
	parts = appendNonEmpty(parts, c.Email, c.Phone)
	return "Contact created: " + strings.Join(parts, ", ") + idSuffix(c.ID) + "."
}

// contactsFoundReply: "I found 2 contacts based in London: Ann Lee
// (Initech, ann@initech.com); Bob Roe (Globex)."
func contactsFoundReply(f contactFilter, contacts []contactRecord, total int) string {
	where := describeFilter(f)
	if total == 0 {
		return "I found no contacts" + where + "."
	}
	var items []string
	for i, c := range contacts {
		if i == maxListed {
			break
		}
		items = append(items, contactLine(c, f.City != ""))
	}
	list := strings.Join(items, "; ")
	if more := total - len(items); more > 0 {
		list += fmt.Sprintf("; and %d more", more)
	}
	return fmt.Sprintf("I found %s%s: %s.", plural(total, "contact", "contacts"), where, list)
}

// describeFilter words a search filter: " based in London at Acme Corp".
func describeFilter(f contactFilter) string {
	var parts []string
	if f.Name != "" {
		parts = append(parts, "named "+f.Name)
	}
	if f.Company != "" {
		parts = append(parts, "at "+f.Company)
	}
	if f.City != "" {
		parts = append(parts, "based in "+f.City)
	}
	if f.Email != "" {
		parts = append(parts, "with email "+f.Email)
	}
	if f.Query != "" {
		word := f.queryWord
		if word == "" {
			word = "matching"
		}
		value := f.Query
		if word == "matching" {
			value = quote(value)
		}
		parts = append(parts, word+" "+value)
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " ")
}

// contactLine: "Ann Lee (Sales Manager at Initech, London, ann@initech.com)".
func contactLine(c contactRecord, omitCity bool) string {
	details := appendNonEmpty(nil, role(c))
	if !omitCity {
		details = appendNonEmpty(details, c.City)
	}
	details = appendNonEmpty(details, c.Email)
	if len(details) == 0 {
		return orUnnamed(c.Name)
	}
	return orUnnamed(c.Name) + " (" + strings.Join(details, ", ") + ")"
}

// contactUpdatedReply: "Contact updated: John Smith's phone is now +44 7700
// 900001." plus why this contact was chosen when several matched. The new
// values are read from the tool's result, falling back to the requested ones.
func contactUpdatedReply(choice contactChoice, updated contactRecord, changes []fieldChange) string {
	name := choice.contact.Name
	if name == "" {
		name = updated.Name
	}
	var clauses []string
	for i, change := range changes {
		value := updated.get(change.Field)
		if value == "" {
			value = change.Value
		}
		clause := change.Field + " is now " + value
		if i == 0 {
			clause = possessive(orUnnamed(name)) + " " + clause
		}
		clauses = append(clauses, clause)
	}
	text := "Contact updated: " + joinAnd(clauses) + "."
	return appendSentence(text, choice.reason("updated"))
}

// contactDeletedReply: "Contact deleted: John Smith (Acme Corp)."
func contactDeletedReply(choice contactChoice, c contactRecord, deleted bool) string {
	if c.Name == "" {
		c.Name = choice.contact.Name
	}
	if !deleted {
		return fmt.Sprintf("The delete_contact tool reported that %s was not deleted.", orUnnamed(c.Name))
	}
	text := "Contact deleted: " + orUnnamed(c.Name)
	if r := role(c); r != "" {
		text += " (" + r + ")"
	}
	return appendSentence(text+".", choice.reason("deleted"))
}

// contactSummaryReply: "Summary of John Smith: CEO at Acme Corp, based in
// London. Email: john@acme.com. Phone: +44 7700 900000. No title on record."
func contactSummaryReply(choice contactChoice, c contactRecord) string {
	var b strings.Builder
	b.WriteString("Summary of " + orUnnamed(c.Name))
	var about []string
	about = appendNonEmpty(about, role(c))
	if c.City != "" {
		about = append(about, "based in "+c.City)
	}
	if len(about) > 0 {
		b.WriteString(": " + strings.Join(about, ", "))
	}
	b.WriteString(".")
	if c.Email != "" {
		b.WriteString(" Email: " + c.Email + ".")
	}
	if c.Phone != "" {
		b.WriteString(" Phone: " + c.Phone + ".")
	}
	if c.ID != "" {
		b.WriteString(" Contact id: " + c.ID + ".")
	}
	var missing []string
	for _, field := range []string{"title", "company", "email", "phone", "city"} {
		if c.get(field) == "" {
			missing = append(missing, field)
		}
	}
	if len(missing) > 0 {
		b.WriteString(" No " + joinOr(missing) + " on record.")
	}
	return appendSentence(b.String(), choice.reason("summarised"))
}

// reason explains the choice when a name search matched several contacts.
func (c contactChoice) reason(verb string) string {
	if c.matched < 2 {
		return ""
	}
	matched := fmt.Sprintf("%d contacts matched %s", c.matched, quote(c.query))
	switch {
	case c.chosen:
		return fmt.Sprintf("%s; I %s the one you chose, %s.", matched, verb, contactLine(c.contact, false))
	case c.exact == 1:
		return fmt.Sprintf("%s; I %s %s because the name matches exactly.", matched, verb, c.contact.Name)
	case c.exact > 1:
		return fmt.Sprintf("%s and %d of them are named exactly %s; I %s the first of those (id %s).",
			matched, c.exact, c.query, verb, c.contact.ID)
	}
	return fmt.Sprintf("%s and none has exactly that name; I %s the first match, %s.", matched, verb, contactLine(c.contact, false))
}

// taskCreatedReply: "Task created: Research competitor pricing, due
// 2026-12-01 (id 7f...)."
func taskCreatedReply(t taskRecord) string {
	text := "Task created: " + orUntitled(t.Title)
	if t.DueDate != "" {
		text += ", due " + t.DueDate
	}
	return text + idSuffix(t.ID) + "."
}

// tasksListedReply: "You have 2 open tasks: Research competitor pricing
// (open, due 2026-12-01); Call Ann (open)."
func tasksListedReply(status, query string, tasks []taskRecord, total int) string {
	kind := map[string][2]string{
		"open": {"open task", "open tasks"},
		"done": {"completed task", "completed tasks"},
	}[status]
	if kind[0] == "" {
		kind = [2]string{"task", "tasks"}
	}
	matching := ""
	if query != "" {
		matching = " matching " + quote(query)
	}
	if total == 0 {
		return "You have no " + kind[1] + matching + "."
	}
	var items []string
	for i, t := range tasks {
		if i == maxListed {
			break
		}
		items = append(items, taskLine(t))
	}
	list := strings.Join(items, "; ")
	if more := total - len(items); more > 0 {
		list += fmt.Sprintf("; and %d more", more)
	}
	counted := fmt.Sprintf("%d %s", total, kind[1])
	if total == 1 {
		counted = "1 " + kind[0]
	}
	return fmt.Sprintf("You have %s%s: %s.", counted, matching, list)
}

// taskLine: "Call Ann (open, due 2026-12-01)".
func taskLine(t taskRecord) string {
	status := t.Status
	if status == "" {
		status = "status unknown"
	}
	details := []string{status}
	if t.DueDate != "" {
		details = append(details, "due "+t.DueDate)
	}
	return orUntitled(t.Title) + " (" + strings.Join(details, ", ") + ")"
}

// taskCompletedReply: "Task completed: Research competitor pricing for Q1
// 2026." The status is checked so a tool that did not close the task is
// not reported as having done so.
func taskCompletedReply(choice taskChoice, t taskRecord) string {
	if t.Title == "" {
		t.Title = choice.task.Title
	}
	status := strings.ToLower(t.Status)
	if status != "" && status != "done" && status != "completed" && status != "complete" {
		return fmt.Sprintf("The complete_task tool returned %s with status %s, so it may not be completed.",
			quote(orUntitled(t.Title)), quote(t.Status))
	}
	text := "Task completed: " + orUntitled(t.Title) + "."
	if choice.matched < 2 {
		return text
	}
	matched := fmt.Sprintf("%d open tasks matched %s", choice.matched, quote(choice.query))
	switch {
	case choice.exact == 1:
		return appendSentence(text, fmt.Sprintf("%s; I completed %s because its title matches exactly.", matched, quote(t.Title)))
	case choice.exact > 1:
		return appendSentence(text, fmt.Sprintf("%s and %d have exactly that title; I completed the first of those (id %s).",
			matched, choice.exact, choice.task.ID))
	}
	return appendSentence(text, fmt.Sprintf("%s and none has exactly that title; I completed the first match, %s.",
		matched, quote(t.Title)))
}

// ---- wording helpers ------------------------------------------------------

// role: "CEO at Acme Corp", "Acme Corp" or "CEO".
func role(c contactRecord) string {
	switch {
	case c.Title != "" && c.Company != "":
		return c.Title + " at " + c.Company
	case c.Company != "":
		return c.Company
	}
	return c.Title
}

func idSuffix(id string) string {
	if id == "" {
		return ""
	}
	return " (id " + id + ")"
}

func orUnnamed(name string) string {
	if name == "" {
		return "the contact"
	}
	return name
}

func orUntitled(title string) string {
	if title == "" {
		return "the task"
	}
	return title
}

func possessive(name string) string {
	if name == "the contact" {
		return "The contact's"
	}
	return name + "'s"
}

func quote(s string) string { return "'" + s + "'" }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// sentence makes a tool's message end like a sentence.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "no details given."
	}
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "!") && !strings.HasSuffix(s, "?") {
		s += "."
	}
	return s
}

func appendSentence(text, extra string) string {
	if extra == "" {
		return text
	}
	if text == "" {
		return extra
	}
	return text + " " + extra
}

func appendNonEmpty(parts []string, values ...string) []string {
	for _, v := range values {
		if v != "" {
			parts = append(parts, v)
		}
	}
	return parts
}

func joinAnd(items []string) string { return joinWith(items, "and") }
func joinOr(items []string) string  { return joinWith(items, "or") }

func joinWith(items []string, word string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + word + " " + items[len(items)-1]
}

// ambiguousContactsReply lists the contacts a change could mean and asks
// which: "3 contacts match "Ann", so I did not update any of them: Ann
// Lee (Initech, ann@initech.com, id …); …. Which one? …".
func ambiguousContactsReply(query, verb string, contacts []contactRecord, matched int) string {
	var lines []string
	for i, c := range contacts {
		if i == 5 {
			lines = append(lines, fmt.Sprintf("and %d more", matched-5))
			break
		}
		lines = append(lines, contactLine(c, false)+idSuffix(c.ID))
	}
	return fmt.Sprintf("%d contacts match %s, so I did not %s any of them: %s. Which one do you mean? "+
		"Say so with its full name or id (in a follow-up, or in context.entity_id).", matched, quote(query), verb, strings.Join(lines, "; "))
}

// ambiguousTasksReply does the same for tasks to complete.
func ambiguousTasksReply(query string, tasks []taskRecord, matched int) string {
	var lines []string
	for i, t := range tasks {
		if i == 5 {
			lines = append(lines, fmt.Sprintf("and %d more", matched-5))
			break
		}
		lines = append(lines, orUntitled(t.Title)+idSuffix(t.ID))
	}
	return fmt.Sprintf("%d open tasks match %s, so I did not complete any of them: %s. Which one do you mean? "+
		"Say so with its full title or id.", matched, quote(query), strings.Join(lines, "; "))
}

// relatedSummary words what summarize_contact found around a contact:
// "Tasks: Call Ann (open). Documents: Q1 report. E-mails sent to them: 2."
func relatedSummary(raw string) string {
	obj, ok := decodeObject(raw)
	if !ok {
		return ""
	}
	list := func(key, field string) []string {
		items, _ := obj[key].([]any)
		var out []string
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				text := recordString(m, field)
				if st := recordString(m, "status"); key == "tasks" && st != "" {
					text += " (" + st + ")"
				}
				out = append(out, text)
			}
		}
		return out
	}
	var parts []string
	if ts := list("tasks", "title"); len(ts) > 0 {
		parts = append(parts, "Tasks: "+strings.Join(ts, ", ")+".")
	} else {
		parts = append(parts, "No tasks mention them.")
	}
	if ds := list("documents", "title"); len(ds) > 0 {
		parts = append(parts, "Documents: "+strings.Join(ds, ", ")+".")
	}
	if es := list("emails", "subject"); len(es) > 0 {
		parts = append(parts, fmt.Sprintf("E-mails sent to them: %d.", len(es)))
	}
	return strings.Join(parts, " ")
}

// quoteList quotes each part: "'a', 'b'".
func quoteList(parts []string) string {
	q := make([]string, len(parts))
	for i, p := range parts {
		q[i] = quote(p)
	}
	return strings.Join(q, ", ")
}

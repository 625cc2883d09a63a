package offline

import (
	"strings"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// Tool names of the CRM tool contract.
const (
	toolSearchContacts = "search_contacts"
	toolGetContact     = "get_contact"
	toolCreateContact  = "create_contact"
	toolUpdateContact  = "update_contact"
	toolDeleteContact  = "delete_contact"
	toolCreateTask     = "create_task"
	toolListTasks      = "list_tasks"
	toolCompleteTask   = "complete_task"
	toolSummarize      = "summarize_contact"
)

// decision is the outcome of one model step: tool calls to make, or the
// final reply.
type decision struct {
	calls []plannedCall
	reply string
}

// plannedCall is a tool call before it gets its deterministic id.
type plannedCall struct {
	name string
	args map[string]string
}

func replyWith(text string) decision { return decision{reply: text} }

// planner runs the flow of one intent against the steps already taken.
// Every flow has the same shape: if the result of its last tool is in the
// transcript, reply; otherwise work out the next call from earlier results.
// That keeps the model stateless: the transcript is the state.
type planner struct {
	t     transcript
	in    intent
	tools map[string]bool
}

// plan decides the next step for a request.
func plan(req agent.Request) decision {
	t := readTranscript(req.Messages)
	if !t.found {
		return replyWith(noRequestReply)
	}
	// A failed or unanswered call ends the run: report it rather than
	// carrying on with a flow whose premise is broken.
	for _, s := range t.steps {
		if !s.answered {
			return replyWith(missingResultReply(s.call.Name))
		}
		if msg, failed := toolError(s.result); failed {
			return replyWith(failureReply(s.call.Name, msg))
		}
	}
	text, known := t.prior.sameCompany(stripFollowUpWords(t.text))
	if !known {
		return replyWith(sameCompanyProblem)
	}
	text, rest := splitSteps(text)
	d := planFirst(req, t, text)
	if rest != "" && len(d.calls) == 0 {
		d.reply = appendSentence(d.reply, "I did not do the rest of the request ("+quote(rest)+"): the built-in model does one step at a time, so send it as a request of its own.")
	}
	return d
}

// planFirst decides the next step of the request's first step.
func planFirst(req agent.Request, t transcript, text string) decision {
	parse := newParser(text, t.context)
	parse.prior = t.prior
	p := planner{t: t, in: parse.classify(), tools: map[string]bool{}}
	for _, spec := range req.Tools {
		p.tools[spec.Name] = true
	}
	if p.in.problem != "" {
		return replyWith(p.in.problem)
	}
	switch p.in.kind {
	case intentCreateContact:
		return p.createContact()
	case intentFindContacts:
		return p.findContacts()
	case intentUpdateContact:
		return p.updateContact()
	case intentDeleteContact:
		return p.deleteContact()
	case intentSummarizeContact:
		return p.summarizeContact()
	case intentCreateTask:
		return p.createTask()
	case intentListTasks:
		return p.listTasks()
	case intentCompleteTask:
		return p.completeTask()
	}
	return replyWith(UnsupportedReply)
}

// call asks for one tool, unless the tool is not offered: then the reply
// says so and nothing is called. No flow repeats a call, because each one
// replies as soon as the result of its last tool is in the transcript.
func (p planner) call(name string, args map[string]string) decision {
	if !p.tools[name] {
		return replyWith(missingToolReply(name))
	}
	return decision{calls: []plannedCall{{name: name, args: args}}}
}

func (p planner) createContact() decision {
	if s, ok := p.t.latest(toolCreateContact); ok {
		if obj, _ := decodeObject(s.result); obj["existing"] == true {
			if c, ok := contactResult(s.result); ok {
				return replyWith("That contact already exists, so I did not create a second one: " + contactLine(c, false) + idSuffix(c.ID) + ".")
			}
		}
	}
	if d, ok := answered(p, toolCreateContact, contactResult, contactCreatedReply); ok {
		if u := p.in.contact.unread; len(u) > 0 {
			d.reply = appendSentence(d.reply, "I did not understand "+quoteList(u)+", so I left it out.")
		}
		return d
	}
	return p.call(toolCreateContact, p.in.contact.args())
}

func (p planner) findContacts() decision {
	if d, ok := answered(p, toolSearchContacts, asList(contactListResult),
		func(l listed[contactRecord]) string { return contactsFoundReply(p.in.filter, l.items, l.total) }); ok {
		return d
	}
	return p.call(toolSearchContacts, p.in.filter.args())
}

func (p planner) updateContact() decision {
	choice, next, ready := p.resolveContact("update")
	if !ready {
		return next
	}
	if d, ok := answered(p, toolUpdateContact, contactResult,
		func(c contactRecord) string { return contactUpdatedReply(choice, c, p.in.changes) }); ok {
		return d
	}
	args := map[string]string{"id": choice.contact.ID}
	for _, change := range p.in.changes {
		args[change.Field] = change.Value
	}
	return p.call(toolUpdateContact, args)
}

func (p planner) deleteContact() decision {
	choice, next, ready := p.resolveContact("delete")
	if !ready {
		return next
	}
	if s, ok := p.t.latest(toolDeleteContact); ok {
		deleted, known := deletedFlag(s.result)
		if !known {
			return replyWith(unreadableReply(toolDeleteContact))
		}
		c, ok := contactResult(s.result)
		if !ok {
			c = choice.contact
		}
		return replyWith(contactDeletedReply(choice, c, deleted))
	}
	return p.call(toolDeleteContact, map[string]string{"id": choice.contact.ID})
}

// summarizeContact fetches the contact with get_contact. When the contact
// was found by a name search and get_contact is not offered, the search
// result already holds every field, so the summary is written from it.
func (p planner) summarizeContact() decision {
	choice, next, ready := p.resolveContact("summarise")
	if !ready {
		return next
	}
	// summarize_contact brings the contact's tasks, documents and e-mails
	// too; get_contact (or the search's own result) is the fallback.
	if s, ok := p.t.latest(toolSummarize); ok {
		c, ok := contactResult(s.result)
		if !ok {
			return replyWith(unreadableReply(toolSummarize))
		}
		return replyWith(appendSentence(contactSummaryReply(choice, c), relatedSummary(s.result)))
	}
	if d, ok := answered(p, toolGetContact, contactResult,
		func(c contactRecord) string { return contactSummaryReply(choice, c) }); ok {
		return d
	}
	if p.tools[toolSummarize] {
		return p.call(toolSummarize, map[string]string{"id": choice.contact.ID})
	}
	if choice.matched > 0 && !p.tools[toolGetContact] {
		return replyWith(contactSummaryReply(choice, choice.contact))
	}
	return p.call(toolGetContact, map[string]string{"id": choice.contact.ID})
}

// contactChoice is the contact a flow acts on and how it was picked from a
// name search (matched is 0 when the id came from the context).
type contactChoice struct {
	contact contactRecord
	query   string
	matched int
	exact   int
}

// resolveContact finds the contact an update, delete or summary acts on:
// the context's id, or the best match of a name search. ready is false
// while the search is still needed or when it leaves nothing to act on;
// next then holds the search call or the reply.
func (p planner) resolveContact(verb string) (choice contactChoice, next decision, ready bool) {
	if p.in.targetID != "" {
		return contactChoice{contact: contactRecord{ID: p.in.targetID}}, decision{}, true
	}
	s, ok := p.t.latest(toolSearchContacts)
	if !ok {
		return contactChoice{}, p.call(toolSearchContacts, map[string]string{"name": p.in.targetName}), false
	}
	contacts, total, ok := contactListResult(s.result)
	if !ok {
		return contactChoice{}, replyWith(unreadableReply(toolSearchContacts)), false
	}
	if len(contacts) == 0 {
		return contactChoice{}, replyWith(noContactMatchReply(p.in.targetName, verb)), false
	}
	choice = pickContact(p.in.targetName, contacts)
	choice.matched = max(total, len(contacts))
	if verb != "summarise" && choice.matched > 1 && choice.exact != 1 {
		// A change on a guess is worse than a question: with several
		// matches and no single exact one, nothing is changed.
		return contactChoice{}, replyWith(ambiguousContactsReply(p.in.targetName, verb, contacts, choice.matched)), false
	}
	if choice.contact.ID == "" {
		return contactChoice{}, replyWith(noIDReply(choice.contact.Name, verb)), false
	}
	return choice, decision{}, true
}

// pickContact prefers a contact whose full name equals the query (case and
// spacing ignored) and otherwise takes the first match, as the tool ranks it.
func pickContact(query string, contacts []contactRecord) contactChoice {
	choice := contactChoice{query: query, contact: contacts[0]}
	found := false
	for _, c := range contacts {
		if sameWords(c.Name, query) {
			choice.exact++
			if !found {
				choice.contact, found = c, true
			}
		}
	}
	return choice
}

// answered is the reply to the latest result of tool, read by read, once
// the conversation holds one (ok false: the tool has not run yet); a
// result that cannot be read is said so.
func answered[R any](p planner, tool string, read func(string) (R, bool), reply func(R) string) (d decision, ok bool) {
	s, ok := p.t.latest(tool)
	if !ok {
		return decision{}, false
	}
	r, ok := read(s.result)
	if !ok {
		return replyWith(unreadableReply(tool)), true
	}
	return replyWith(reply(r)), true
}

// listed is a list tool's page and how many matched in all.
type listed[R any] struct {
	items []R
	total int
}

// asList adapts a list result's reader to answered.
func asList[R any](read func(string) ([]R, int, bool)) func(string) (listed[R], bool) {
	return func(raw string) (listed[R], bool) {
		items, total, ok := read(raw)
		return listed[R]{items, total}, ok
	}
}

// sameWords compares two phrases ignoring case and spacing.
func sameWords(a, b string) bool {
	return strings.EqualFold(strings.Join(strings.Fields(a), " "), strings.Join(strings.Fields(b), " "))
}

func (p planner) createTask() decision {
	if d, ok := answered(p, toolCreateTask, taskResult, taskCreatedReply); ok {
		return d
	}
	return p.call(toolCreateTask, p.in.task.args())
}

func (p planner) listTasks() decision {
	if d, ok := answered(p, toolListTasks, asList(taskListResult),
		func(l listed[taskRecord]) string {
			return tasksListedReply(p.in.status, p.in.taskQuery, l.items, l.total)
		}); ok {
		return d
	}
	args := map[string]string{"status": p.in.status}
	if p.in.taskQuery != "" {
		args["query"] = p.in.taskQuery
	}
	return p.call(toolListTasks, args)
}

// taskChoice is the task a completion acts on and how it was picked.
type taskChoice struct {
	task    taskRecord
	query   string
	matched int
	exact   int
}

func (p planner) completeTask() decision {
	choice, next, ready := p.resolveTask()
	if !ready {
		return next
	}
	if d, ok := answered(p, toolCompleteTask, taskResult,
		func(t taskRecord) string { return taskCompletedReply(choice, t) }); ok {
		return d
	}
	return p.call(toolCompleteTask, map[string]string{"id": choice.task.ID})
}

// resolveTask finds the task to complete: the context's id, or the best
// open task matching the caller's words.
func (p planner) resolveTask() (choice taskChoice, next decision, ready bool) {
	if p.in.taskID != "" {
		return taskChoice{task: taskRecord{ID: p.in.taskID}}, decision{}, true
	}
	s, ok := p.t.latest(toolListTasks)
	if !ok {
		return taskChoice{}, p.call(toolListTasks, map[string]string{"query": p.in.taskQuery, "status": "open"}), false
	}
	tasks, total, ok := taskListResult(s.result)
	if !ok {
		return taskChoice{}, replyWith(unreadableReply(toolListTasks)), false
	}
	if len(tasks) == 0 {
		return taskChoice{}, replyWith(noTaskMatchReply(p.in.taskQuery)), false
	}
	choice = taskChoice{query: p.in.taskQuery, task: tasks[0], matched: max(total, len(tasks))}
	found := false
	for _, t := range tasks {
		if sameWords(t.Title, p.in.taskQuery) {
			choice.exact++
			if !found {
				choice.task, found = t, true
			}
		}
	}
	if choice.matched > 1 && choice.exact != 1 {
		return taskChoice{}, replyWith(ambiguousTasksReply(p.in.taskQuery, tasks, choice.matched)), false
	}
	if choice.task.ID == "" {
		return taskChoice{}, replyWith(noIDReply(choice.task.Title, "complete")), false
	}
	return choice, decision{}, true
}

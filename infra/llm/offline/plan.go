package offline

import (
	"fmt"
	"regexp"
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
// final reply with its outcome (agent.Outcome*; empty: completed) and, when
// the caller must choose, the candidates.
type decision struct {
	calls      []plannedCall
	reply      string
	outcome    string
	candidates []agent.Candidate
	// summary is the text a summary step produced, for a later step to
	// send ("email the summary to …").
	summary string
	// rest are the request's steps from the one that did not finish: what
	// an answer to the reply's question carries on with.
	rest []clause
}

// plannedCall is a tool call before it gets its deterministic id.
type plannedCall struct {
	name string
	args any
}

func replyWith(text string) decision { return decision{reply: text} }

// clarify is a reply that changes nothing and asks the caller to choose
// or to say more.
func clarify(text string, candidates ...agent.Candidate) decision {
	return decision{reply: text, outcome: agent.OutcomeNeedsClarification, candidates: candidates}
}

// notUnderstood is the honest reply to words the model could not read.
func notUnderstood(text string) decision {
	return decision{reply: text, outcome: agent.OutcomeNotUnderstood}
}

// couldNot is the reply to a request understood but not carried out.
func couldNot(text string) decision {
	return decision{reply: text, outcome: agent.OutcomeCouldNotComplete}
}

// done reports whether the step's reply ends it as asked.
func (d decision) done() bool {
	return d.outcome == "" || d.outcome == agent.OutcomeCompleted
}

// planner runs the flow of one intent against the steps already taken.
// Every flow has the same shape: if the result of its last tool is in the
// transcript, reply; otherwise work out the next call from earlier results.
// That keeps the model stateless: the transcript is the state.
type planner struct {
	t     transcript
	in    intent
	tools map[string]bool
}

// plan decides the next step for a request. A request of several steps
// ("find …, summarise it, and email …") is planned one step at a time:
// the tool calls already in the transcript are handed, in order, to the
// step that asked for them, each finished step's results become what the
// next one's "it" and "him" point at, and the final reply reports every
// step. The transcript stays the only state.
func plan(req agent.Request) decision { return planTurn(req, true) }

// planTurn is plan; answers says whether the message may be the answer to
// the previous turn's question ("which one?"), which is looked at one turn
// back only.
func planTurn(req agent.Request, answers bool) decision {
	t := readTranscript(req.Messages)
	if !t.found {
		return notUnderstood(noRequestReply)
	}
	text, known := t.prior.sameCompany(stripFollowUpWords(t.text))
	if !known {
		return clarify(sameCompanyProblem)
	}
	clauses := splitClauses(text)
	if answers {
		if rest, pick, ok := answerTo(req, t, text); ok {
			// "The one at Fabrikam": the previous request goes on from the
			// step that asked, with the record the caller chose.
			clauses, t.context = rest, requestContext{EntityType: pick.Kind, EntityID: pick.ID}
		}
	}
	prior := t.prior
	var reports []string
	next := 0 // the first call of the transcript not yet handed to a step
	for i, cl := range clauses {
		if cl.ifNone && prior.searched != "" {
			// "If not, add her": she is the one searched for.
			cl.text = objectPronounRe.ReplaceAllLiteralString(cl.text, prior.searched)
			cl.text = createOneRe.ReplaceAllString(cl.text, "${1}"+strings.ReplaceAll(prior.searched, "$", ""))
		}
		if prior.narrated != "" {
			// "Ann Lee asked us to … Please delete her contact.": her is Ann Lee.
			cl.text = narratedRecordRe.ReplaceAllLiteralString(cl.text, prior.narrated)
			cl.text = objectPronounRe.ReplaceAllLiteralString(cl.text, prior.narrated)
			prior.narrated = ""
		}
		if cl.ifNone && prior.found > 0 {
			reports = append(reports, skippedReply(cl.text, prior))
			continue
		}
		if cl.ifSome && prior.found == 0 {
			reports = append(reports, "I did not "+lowerFirst(cl.text)+": nothing was found.")
			continue
		}
		prior.found = -1 // a condition reads the search of the step just before it
		sub := transcript{found: true, text: cl.text, context: t.context, prior: prior}
		d := planFirst(req, sub, cl)
		for len(d.calls) > 0 && next < len(t.steps) {
			s := t.steps[next]
			next++
			if s.call.Name != d.calls[0].name {
				d = couldNot("The conversation's earlier tool calls do not follow this request's steps, so I stopped rather than guess.")
				break
			}
			// A failed or unanswered call ends the run: report it rather
			// than carrying on with a flow whose premise is broken.
			if !s.answered {
				d = couldNot(missingResultReply(s.call.Name))
				break
			}
			if msg, failed := toolError(s.result); failed {
				d = couldNot(failureReply(s.call.Name, msg))
				break
			}
			sub.steps = append(sub.steps, s)
			d = planFirst(req, sub, cl)
		}
		if len(d.calls) > 0 {
			return d
		}
		for _, s := range sub.steps {
			prior.read(s.call.Name, s.result)
			if s.call.Name == toolSearchContacts {
				prior.searched = stringArg(s.call.Arguments, "name")
			}
		}
		if d.summary != "" {
			prior.text = d.summary
		}
		if d.outcome == agent.OutcomeNotUnderstood && i+1 < len(clauses) && len(sub.steps) == 0 {
			// A sentence that only tells what happened ("Ann Lee asked us
			// to remove her details") is the background of the next one:
			// the person it names is who "her" there means.
			if name := narratedName(cl.text); name != "" && !changeWordsRe.MatchString(cl.text) &&
				!emailRe.MatchString(cl.text) && !hasPhone(cl.text) {
				prior.narrated = name
				reports = append(reports, "I read "+quote(cl.text)+" as background: "+name+" is who the next step means.")
				continue
			}
		}
		if !d.done() {
			d.rest = clauses[i:]
		}
		if len(clauses) == 1 {
			return d
		}
		reports = append(reports, d.reply)
		if !d.done() {
			return combineSteps(reports, clauses[i+1:], d)
		}
	}
	return combineSteps(reports, nil, decision{})
}

// changeWordsRe: a sentence that tells of a change is no background: it
// asks for something the model did not understand.
var changeWordsRe = regexp.MustCompile(`(?i)\b(?:new|update|updated|change|changed|moved|joined|left|promoted|now|replace|set|add|create)\b`)

func hasPhone(s string) bool { _, _, _, ok := findPhone(s); return ok }

// narratedRecordRe: "her contact", "his record": the person's contact.
var narratedRecordRe = regexp.MustCompile(`(?i)\b(?:his|her|their)\s+(?:contact\s+)?(?:contact|record|details|entry|card|data)\b`)

// narratedName is the one person a background sentence names, or "".
func narratedName(text string) string {
	names := map[string]bool{}
	first := ""
	for _, m := range capitalNameRe.FindAllString(text, -1) {
		words := strings.Fields(m)
		for len(words) > 0 && leadWords[strings.ToLower(words[0])] {
			words = words[1:]
		}
		if name := strings.Join(words, " "); len(words) >= 2 && looksLikeName(name, false) {
			if first == "" {
				first = name
			}
			names[name] = true
		}
	}
	if len(names) != 1 {
		return ""
	}
	return first
}

// createOneRe: "create one at Central Perk", the one searched for.
var createOneRe = regexp.MustCompile(`(?i)^((?:create|add|make)\s+)(?:one|a\s+(?:new\s+)?(?:contact|record)(?:\s+for\s+(?:him|her|them))?)\b`)

// combineSteps words the reply of a request of several steps: each step's
// report, numbered, then what was not done. stopped is the step that did
// not finish (zero when all did).
func combineSteps(reports []string, rest []clause, stopped decision) decision {
	var b strings.Builder
	for i, r := range reports {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%d. %s", i+1, r)
	}
	if len(rest) > 0 {
		var left []string
		for _, c := range rest {
			left = append(left, quote(c.text))
		}
		fmt.Fprintf(&b, "\nI stopped there, so I did not do the rest: %s.", joinAnd(left))
	}
	d := decision{reply: b.String(), outcome: stopped.outcome, candidates: stopped.candidates, rest: stopped.rest}
	if !stopped.done() && len(reports) > 1 {
		d.outcome = agent.OutcomePartial
	}
	return d
}

// planFirst decides the next step of one step of the request.
func planFirst(req agent.Request, t transcript, cl clause) decision {
	parse := newParser(cl.text, t.context)
	parse.prior = t.prior
	parse.now = req.Now
	parse.conditional = cl.ifNone
	p := planner{t: t, in: parse.classify(), tools: map[string]bool{}}
	for _, spec := range req.Tools {
		p.tools[spec.Name] = true
	}
	if p.in.problem != "" {
		return clarify(p.in.problem)
	}
	d := p.run()
	if p.in.kind == intentSummarizeContact && len(d.calls) == 0 && d.done() {
		d.summary = d.reply
	}
	return d
}

// fieldAnswer is the reply to a question for one field of a contact.
func fieldAnswer(choice contactChoice, c contactRecord, field string) string {
	name := orUnnamed(firstNonEmpty(c.Name, choice.contact.Name))
	label := map[string]string{"email": "email address", "phone": "phone number"}[field]
	if label == "" {
		label = field
	}
	answer := possessive(name) + " " + label + " is " + c.get(field) + "."
	if c.get(field) == "" {
		answer = "No " + label + " is on record for " + name + idSuffix(c.ID) + "."
	}
	return appendSentence(choice.reason("took"), answer)
}

// run runs the flow of the request's intent.
func (p planner) run() decision {
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
	case intentAssignTask:
		return p.assignTask()
	case intentSetDueDate:
		return p.setDueDate()
	case intentFindDocuments:
		return p.findDocuments()
	case intentReadDocument:
		return p.readDocument()
	case intentMoveDocument:
		return p.moveDocument()
	case intentListDocuments:
		return p.listDocuments()
	case intentListFolders:
		return p.listFolders()
	case intentSendEmail:
		return p.sendEmail()
	case intentListTeams:
		return p.listTeams()
	case intentListDepartments:
		return p.listDepartments()
	case intentListMembers:
		return p.listMembers()
	}
	return notUnderstood(UnsupportedReply)
}

// call asks for one tool, unless the tool is not offered: then the reply
// says so and nothing is called. No flow repeats a call, because each one
// replies as soon as the result of its last tool is in the transcript.
func (p planner) call(name string, args any) decision {
	if !p.tools[name] {
		return couldNot(missingToolReply(name))
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
	f := p.in.filter
	if f.City != "" && f.Name == "" && f.Company == "" && f.Email == "" && f.Query == "" && p.tools[toolListTeams] {
		// "Who's in Brand?": no contact lives there, so perhaps a team is
		// meant; the team's people answer, or the empty search does.
		if s, ok := p.t.latest(toolSearchContacts); ok {
			if cs, total, ok := contactListResult(s.result); ok && max(total, len(cs)) == 0 {
				if ts, ok := p.t.latest(toolListTeams); ok {
					if teams, _, ok := teamListResult(ts.result); ok && len(teams) == 1 {
						t := teams[0]
						var emails []string
						for _, m := range t.Members {
							emails = append(emails, m.Email)
						}
						return replyWith("No contact is based in " + f.City + ", but the team " + quote(t.Name) + " is: " +
							firstNonEmpty(strings.Join(emails, ", "), "it has no members") + ".")
					}
					return replyWith(contactsFoundReply(f, nil, 0))
				}
				return p.call(toolListTeams, map[string]string{"name": f.City})
			}
		}
	}
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
			return couldNot(unreadableReply(toolDeleteContact))
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
	if f := p.in.askField; f != "" {
		// One field asked for: the search's own record answers it, or get_contact.
		if choice.matched > 0 {
			return replyWith(fieldAnswer(choice, choice.contact, f))
		}
		if d, ok := answered(p, toolGetContact, contactResult,
			func(c contactRecord) string { return fieldAnswer(choice, c, f) }); ok {
			return d
		}
		return p.call(toolGetContact, map[string]string{"id": choice.contact.ID})
	}
	// summarize_contact brings the contact's tasks, documents and e-mails
	// too; get_contact (or the search's own result) is the fallback.
	if s, ok := p.t.latest(toolSummarize); ok {
		c, ok := contactResult(s.result)
		if !ok {
			return couldNot(unreadableReply(toolSummarize))
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
	// chosen: the caller picked it (context.entity_id, or an answer to
	// the question "which one?").
	chosen bool
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
		if addr := emailRe.FindString(p.in.targetName); addr != "" {
			return contactChoice{}, p.call(toolSearchContacts, map[string]string{"email": addr}), false
		}
		return contactChoice{}, p.call(toolSearchContacts, map[string]string{"name": p.in.targetName}), false
	}
	contacts, total, ok := contactListResult(s.result)
	if !ok {
		return contactChoice{}, couldNot(unreadableReply(toolSearchContacts)), false
	}
	if len(contacts) == 0 {
		if verb == "summarise" {
			return contactChoice{}, replyWith(noContactMatchReply(p.in.targetName, verb)), false
		}
		return contactChoice{}, clarify(noContactMatchReply(p.in.targetName, verb)), false
	}
	choice = pickContact(p.in.targetName, contacts)
	choice.matched = max(total, len(contacts))
	if c, ok := p.chosenContact(contacts); ok && choice.matched > 1 {
		choice.contact, choice.chosen = c, true
	}
	if verb != "summarise" && choice.matched > 1 && choice.exact != 1 && !choice.chosen {
		// A change on a guess is worse than a question: with several
		// matches and no single exact one, nothing is changed.
		return contactChoice{}, clarify(ambiguousContactsReply(p.in.targetName, verb, contacts, choice.matched), contactCandidates(contacts)...), false
	}
	if choice.contact.ID == "" {
		return contactChoice{}, couldNot(noIDReply(choice.contact.Name, verb)), false
	}
	return choice, decision{}, true
}

// chosenContact is the one of several matches the caller chose, by its
// id in the context (or by answering which one they meant).
func (p planner) chosenContact(contacts []contactRecord) (contactRecord, bool) {
	if !p.t.context.isContact() {
		return contactRecord{}, false
	}
	for _, c := range contacts {
		if c.ID == p.t.context.EntityID {
			return c, true
		}
	}
	return contactRecord{}, false
}

// pickContact prefers a contact whose full name equals the query (case and
// spacing ignored) and otherwise takes the first match, as the tool ranks it.
func pickContact(query string, contacts []contactRecord) contactChoice {
	choice := contactChoice{query: query, contact: contacts[0]}
	found := false
	for _, c := range contacts {
		if sameWords(c.Name, query) || emailRe.MatchString(query) && strings.EqualFold(c.Email, query) {
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
		return couldNot(unreadableReply(tool)), true
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

// hasAllWords reports whether text holds every word of query (case and
// order ignored).
func hasAllWords(text, query string) bool {
	words := strings.Fields(strings.ToLower(text))
	for _, q := range strings.Fields(strings.ToLower(query)) {
		found := false
		for _, w := range words {
			if stem(w) == stem(q) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// stem takes the commonest English endings off a word, so "researching"
// finds "research" and "quotes" finds "quote".
func stem(w string) string {
	w = strings.Trim(w, ".,;:!?'\"()")
	for _, suffix := range []string{"ing", "ed", "es", "s"} {
		if len(w) > len(suffix)+3 && strings.HasSuffix(w, suffix) {
			return w[:len(w)-len(suffix)]
		}
	}
	return w
}

// sameWords compares two phrases ignoring case and spacing.
func sameWords(a, b string) bool {
	return strings.EqualFold(strings.Join(strings.Fields(a), " "), strings.Join(strings.Fields(b), " "))
}

func (p planner) listTasks() decision {
	if d, ok := answered(p, toolListTasks, asList(taskListResult),
		func(l listed[taskRecord]) string {
			if p.in.taskWords != "" {
				// "Have we booked the venue yet?": the tasks holding those words.
				var hits []taskRecord
				for _, t := range l.items {
					if hasAllWords(t.Title+" "+t.Description, p.in.taskWords) {
						hits = append(hits, t)
					}
				}
				if len(hits) == 0 {
					return "No task matches " + quote(p.in.taskWords) + ", so I cannot tell."
				}
				return tasksListedReply("all", p.in.taskWords, hits, len(hits))
			}
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
	verb := map[intentKind]string{intentAssignTask: "assign", intentSetDueDate: "change"}[p.in.kind]
	if verb == "" {
		verb = "complete"
	}
	s, ok := p.t.nth(toolListTasks, 0)
	if !ok {
		return taskChoice{}, p.call(toolListTasks, map[string]string{"query": p.in.taskQuery, "status": "open"}), false
	}
	tasks, total, ok := taskListResult(s.result)
	if !ok {
		return taskChoice{}, couldNot(unreadableReply(toolListTasks)), false
	}
	if len(tasks) == 0 && len(strings.Fields(p.in.taskQuery)) > 1 {
		// "the pricing research task": the words, in any order, of an
		// open task's title.
		s, ok := p.t.nth(toolListTasks, 1)
		if !ok {
			return taskChoice{}, p.call(toolListTasks, map[string]string{"status": "open"}), false
		}
		all, _, ok := taskListResult(s.result)
		if !ok {
			return taskChoice{}, couldNot(unreadableReply(toolListTasks)), false
		}
		for _, t := range all {
			if hasAllWords(t.Title+" "+t.Description, p.in.taskQuery) {
				tasks = append(tasks, t)
			}
		}
		total = len(tasks)
	}
	if len(tasks) == 0 {
		return taskChoice{}, clarify(noTaskMatchReply(p.in.taskQuery, verb)), false
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
	if p.t.context.isTask() && choice.matched > 1 {
		for _, t := range tasks {
			if t.ID == p.t.context.EntityID {
				choice.task, choice.exact = t, 1
			}
		}
	}
	if choice.matched > 1 && choice.exact != 1 {
		return taskChoice{}, clarify(ambiguousTasksReply(p.in.taskQuery, tasks, choice.matched), taskCandidates(tasks)...), false
	}
	if choice.task.ID == "" {
		return taskChoice{}, couldNot(noIDReply(choice.task.Title, "complete")), false
	}
	return choice, decision{}, true
}

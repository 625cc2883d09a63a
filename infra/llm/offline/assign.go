package offline

import (
	"regexp"
	"strings"
)

const (
	toolAssignTask  = "assign_task"
	toolSetDueDate  = "set_task_due_date"
	toolListMembers = "list_members"
)

var (
	// assignRe: "Assign the pricing task to dana@acme.com", "Delegate it
	// to Dana", "Give this task to Ann".
	assignRe = regexp.MustCompile(`(?i)^(assign|reassign|delegate|give|hand(?:\s+over)?|pass)\s+(.+?)\s+(?:over\s+)?to\s+(.+)$`)
	// quotedAssignRe: a quoted title.
	quotedAssignRe = regexp.MustCompile(`(?i)^(assign|reassign|delegate|give|hand(?:\s+over)?|pass)\s+(?:the\s+)?(?:task\s+)?"([^"]+)"\s+(?:over\s+)?to\s+(.+)$`)
	// letHandleRe: "Let Eva handle the Initech quote task", "Have Marco take over it".
	letHandleRe = regexp.MustCompile(`(?i)^(?:let|have|get|can|could)\s+(\S+(?:\s+\S+)?)\s+(?:handle|take(?:\s+over)?|own|do|deal\s+with|look\s+after|pick\s+up|work\s+on)\s+(.+)$`)
	// deadlineIsRe: "The deadline for X is now Friday".
	deadlineIsRe = regexp.MustCompile(`(?i)^(?:the\s+)?(?:due\s+date|deadline)\s+(?:for|of|on)\s+(.+?)\s+(?:is|should\s+be)\s+(?:now\s+)?(?:moved\s+to\s+)?(.+)$`)
	// taskRefRe: a reference to the task in context or an earlier step.
	taskRefRe = regexp.MustCompile(`(?i)^(?:it|this|that|this\s+one|(?:this|that|the)\s+(?:task|to-?do)|the\s+new\s+task)$`)

	// dueOfRe: "Set the due date of X to Friday", "Change the deadline for X to …".
	dueOfRe = regexp.MustCompile(`(?i)^(?:set|change|move|push|update|make)\s+(?:the\s+)?(?:due\s+date|deadline)\s+(?:of|for|on)\s+(.+)\s+(?:to|for|as)\s+(.+)$`)
	// deadlineOfForRe: "Set a deadline of 20 December for Research competitor pricing".
	deadlineOfForRe = regexp.MustCompile(`(?i)^(?:set|put|give\s+it|add)\s+(?:a\s+|the\s+)?(?:due\s+date|deadline)\s+(?:of|for|to|as|on)\s+(.+?)\s+(?:for|on|to)\s+(?:the\s+task\s+)?(.+)$`)
	// dueOwnRe: "Set its due date to next Monday".
	dueOwnRe = regexp.MustCompile(`(?i)^(?:set|change|move|push|update|make)\s+(?:its|the\s+task's|this\s+task's|the)\s+(?:due\s+date|deadline)\s+(?:to|for|as)\s+(.+)$`)
	// dueMakeRe: "Make it due Friday", "Set the task X due next Monday".
	dueMakeRe = regexp.MustCompile(`(?i)^(?:make|set|mark)\s+(.+?)\s+(?:as\s+)?due\s+(.+)$`)
	// dueIsRe: "It is due tomorrow", "The task X is now due on Friday".
	dueIsRe = regexp.MustCompile(`(?i)^(.+?)\s+(?:is|should\s+be)\s+(?:now\s+)?due\s+(.+)$`)
	// postponeRe: "Push the task X to next week", "Postpone it until Friday".
	postponeRe = regexp.MustCompile(`(?i)^(?:push|move|postpone|delay|reschedule|defer)\s+(.+?)\s+(?:back\s+)?(?:to|until|till)\s+(.+)$`)
)

// assignTask reads "assign the task X to Y".
func (p parser) assignTask() (intent, bool) {
	m := assignRe.FindStringSubmatch(p.text)
	if q := quotedAssignRe.FindStringSubmatch(p.text); q != nil {
		// "Give the task 'Send the Q3 deck to Dana' to Marco": the quotes
		// hold the title, whatever words it has.
		m = []string{q[0], q[1], q[2], q[3]}
	}
	if lm := letHandleRe.FindStringSubmatch(p.text); m == nil && lm != nil {
		// "Let Eva handle the renewal quote task": who, then what.
		m = []string{lm[0], "assign", lm[2], lm[1]}
	}
	if m == nil {
		return intent{}, false
	}
	what, who := cleanValue(m[2]), cleanValue(m[3])
	if strings.HasPrefix(m[0], m[1]) && quotedAssignRe.MatchString(p.text) {
		what = "the task " + what
	}
	isRef := taskRefRe.MatchString(what)
	verb := strings.ToLower(m[1])
	if !isRef && !taskWordRe.MatchString(what) && verb != "assign" && verb != "reassign" && verb != "delegate" {
		return intent{}, false
	}
	in := intent{kind: intentAssignTask, assignee: strings.TrimRight(who, ".")}
	return p.pickTask(in, what, "assign"), true
}

// setDueDate reads "set the due date of X to Friday" and its variants.
func (p parser) setDueDate() (intent, bool) {
	var what, when string
	switch {
	case dueOfRe.MatchString(p.text):
		m := dueOfRe.FindStringSubmatch(p.text)
		what, when = m[1], m[2]
	case dueOwnRe.MatchString(p.text):
		what, when = "it", dueOwnRe.FindStringSubmatch(p.text)[1]
	case deadlineOfForRe.MatchString(p.text):
		m := deadlineOfForRe.FindStringSubmatch(p.text)
		what, when = m[2], m[1]
	case deadlineIsRe.MatchString(p.text):
		m := deadlineIsRe.FindStringSubmatch(p.text)
		what, when = m[1], m[2]
	case dueMakeRe.MatchString(p.text):
		m := dueMakeRe.FindStringSubmatch(p.text)
		what, when = m[1], m[2]
	case dueIsRe.MatchString(p.text):
		m := dueIsRe.FindStringSubmatch(p.text)
		what, when = m[1], m[2]
		if !taskRefRe.MatchString(cleanValue(what)) && !taskWordRe.MatchString(what) {
			return intent{}, false
		}
	case postponeRe.MatchString(p.text):
		m := postponeRe.FindStringSubmatch(p.text)
		what, when = m[1], m[2]
		if !taskRefRe.MatchString(cleanValue(what)) && !taskWordRe.MatchString(what) {
			return intent{}, false
		}
	default:
		return intent{}, false
	}
	what = cleanValue(what)
	date, _, problem := findDueDate("by "+cleanValue(when), p.now)
	in := intent{kind: intentSetDueDate, dueDate: date, problem: problem}
	if problem == "" && date == "" {
		in.problem = "I could not read the due date " + quote(cleanValue(when)) + `; please give it as YYYY-MM-DD or as "Friday", "in 3 days", "end of month".`
	}
	return p.pickTask(in, what, "change"), true
}

// pickTask sets the task an assignment or due date acts on: the task in
// context or of an earlier step for "it", otherwise the task by title.
func (p parser) pickTask(in intent, what, verb string) intent {
	if taskRefRe.MatchString(what) {
		switch {
		case p.ctx.isTask():
			in.taskID = p.ctx.EntityID
		case p.prior.task != nil:
			in.taskID = p.prior.task.ID
		default:
			in.problem = "Which task should I " + verb + "? No task is selected, so please give its title."
		}
		return in
	}
	in.taskQuery = cleanValue(taskWordPrefixRe.ReplaceAllString(what, ""))
	in.taskQuery = cleanValue(strings.TrimSuffix(strings.TrimSuffix(in.taskQuery, " task"), " todo"))
	if in.taskQuery == "" {
		in.problem = "Which task should I " + verb + "? Please give its title."
	}
	return in
}

// createTask creates the task, then assigns it when the request names
// someone.
func (p planner) createTask() decision {
	s, ok := p.t.latest(toolCreateTask)
	if !ok {
		return p.call(toolCreateTask, p.in.task.args())
	}
	t, ok := taskResult(s.result)
	if !ok {
		return couldNot(unreadableReply(toolCreateTask))
	}
	if p.in.task.Assignee == "" {
		return replyWith(taskCreatedReply(t))
	}
	return p.assignTo(t, p.in.task.Assignee, taskCreatedReply(t))
}

func (p planner) assignTask() decision {
	choice, next, ready := p.resolveTask()
	if !ready {
		return next
	}
	return p.assignTo(choice.task, p.in.assignee, "")
}

// assignTo assigns task t to who (an e-mail, or a member found by name);
// said is the reply so far.
func (p planner) assignTo(t taskRecord, who, said string) decision {
	if s, ok := p.t.latest(toolAssignTask); ok {
		done, ok := taskResult(s.result)
		if !ok {
			done = t
		}
		return replyWith(appendSentence(said, "I assigned the task "+quote(orUntitled(firstNonEmpty(done.Title, t.Title)))+
			idSuffix(t.ID)+" to "+stringArg(s.call.Arguments, "assignee")+"."))
	}
	email, next, ready := p.resolveMember(who)
	if !ready {
		if len(next.calls) == 0 {
			next.reply = appendSentence(said, next.reply)
			if said != "" && !next.done() {
				next.outcome = "partially_completed"
			}
		}
		return next
	}
	return p.call(toolAssignTask, map[string]string{"id": t.ID, "assignee": email})
}

// resolveMember finds the member a task goes to: an e-mail is taken as
// given; a name must match exactly one member's address.
func (p planner) resolveMember(who string) (email string, next decision, ready bool) {
	if addr := emailRe.FindString(who); addr != "" {
		return addr, decision{}, true
	}
	if personRefRe.MatchString(who) {
		// "to that person": the one member of the team an earlier step listed.
		if t := p.t.prior.team; t != nil && len(t.Members) == 1 {
			return t.Members[0].Email, decision{}, true
		}
		return "", clarify("Who is " + quote(who) + "? I cannot tell one person from the earlier steps, so I did not assign the task; please give their e-mail address."), false
	}
	s, ok := p.t.latest(toolListMembers)
	if !ok {
		return "", p.call(toolListMembers, map[string]string{}), false
	}
	members, _, ok := memberListResult(s.result)
	if !ok {
		return "", couldNot(unreadableReply(toolListMembers)), false
	}
	var matches []memberRecord
	for _, m := range members {
		if memberMatches(m, who) {
			matches = append(matches, m)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0].Email, decision{}, true
	case 0:
		return "", clarify("No member of the workspace matches " + quote(who) + ", so I did not assign the task; please give their e-mail address."), false
	}
	var emails []string
	for _, m := range matches {
		emails = append(emails, m.Email)
	}
	return "", clarify("Several members match " + quote(who) + " (" + joinAnd(emails) + "), so I did not assign the task; which one do you mean?"), false
}

// personRefRe: a reference to a person found before.
var personRefRe = regexp.MustCompile(`(?i)^(?:that|this|the)\s+(?:person|member|colleague|one)$|^(?:him|her|them)$`)

// memberMatches compares a name with a member's address: "Dana" matches
// dana@…, "Dana Scully" matches dana.scully@… (members carry no names).
func memberMatches(m memberRecord, name string) bool {
	local, _, _ := strings.Cut(strings.ToLower(m.Email), "@")
	parts := strings.FieldsFunc(local, func(r rune) bool { return r == '.' || r == '_' || r == '-' || r == '+' })
	words := strings.Fields(strings.ToLower(name))
	if len(words) == 0 || len(parts) == 0 {
		return false
	}
	for _, w := range words {
		found := false
		for _, part := range parts {
			if part == w {
				found = true
			}
		}
		if !found {
			return len(words) > 1 && local == strings.Join(words, "")
		}
	}
	return true
}

func (p planner) setDueDate() decision {
	choice, next, ready := p.resolveTask()
	if !ready {
		return next
	}
	if s, ok := p.t.latest(toolSetDueDate); ok {
		t, ok := taskResult(s.result)
		if !ok {
			t = choice.task
		}
		return replyWith("The task " + quote(orUntitled(firstNonEmpty(t.Title, choice.task.Title))) + idSuffix(choice.task.ID) +
			" is now due " + p.in.dueDate + ".")
	}
	return p.call(toolSetDueDate, map[string]string{"id": choice.task.ID, "due_date": p.in.dueDate})
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

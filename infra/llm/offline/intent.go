package offline

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// intentKind is what the caller asked for.
type intentKind int

const (
	intentUnknown intentKind = iota
	intentCreateContact
	intentFindContacts
	intentUpdateContact
	intentDeleteContact
	intentSummarizeContact
	intentCreateTask
	intentListTasks
	intentCompleteTask
	intentAssignTask
	intentSetDueDate
	intentFindDocuments
	intentReadDocument
	intentMoveDocument
	intentListDocuments
	intentListFolders
	intentSendEmail
	intentListTeams
	intentListDepartments
	intentListMembers
)

// intent is a classified request with everything its flow needs.
type intent struct {
	kind intentKind
	// problem, when set, is an honest reply for a request that was
	// understood but cannot be acted on (no name given, nothing selected).
	problem string

	// contact holds the details of a new contact.
	contact contactFields
	// changes are the field updates of intentUpdateContact.
	changes []fieldChange
	// targetID (from the context line) or targetName (searched by name)
	// picks the contact to update, delete or summarise.
	targetID, targetName string
	// filter narrows intentFindContacts.
	filter contactFilter

	// task holds a new task; taskQuery or taskID picks the task to
	// complete; status filters intentListTasks.
	task      taskFields
	taskQuery string
	taskID    string
	status    string
	// assignee is who a task goes to (an e-mail, or a name to find among
	// the members); dueDate a task's new due date.
	assignee string
	dueDate  string
	// taskWords: the content words of a question about a task's status.
	taskWords string
	// askField is the one contact field a question asks for.
	askField string

	// doc picks a document: docID (an earlier step's) or docQuery;
	// summarise asks for its gist rather than its text; folder is where a
	// move puts it or which folder a listing shows.
	docID     string
	docQuery  string
	docTopic  string // "what does it say about discounts"
	summarise bool
	folder    string

	// email is a message to send; teamQuery names a team to list.
	email     emailSpec
	teamQuery string
	// member: "which team is X on"; role: "who are the admins".
	member string
	role   string
}

// contactFilter are the search_contacts arguments of a find request.
// queryWord is how the caller introduced the free-text query ("from",
// "matching"), kept so the reply can echo it.
type contactFilter struct {
	Name, Company, City, Email, Query string
	queryWord                         string
}

func (f contactFilter) args() map[string]string {
	args := map[string]string{}
	for key, value := range map[string]string{
		"name": f.Name, "company": f.Company, "city": f.City, "email": f.Email, "query": f.Query,
	} {
		if value != "" {
			args[key] = value
		}
	}
	return args
}

// parser classifies one request. lower records that the caller typed in
// lower case (a capital first letter aside), which relaxes the
// capitalisation test for names: "Look up john smith" still finds John.
type parser struct {
	text  string
	lower bool
	ctx   requestContext
	// prior is what earlier turns of the conversation acted on.
	prior referents
	// now is when the message arrived ("by Friday" is read from it);
	// conditional marks a step that runs because a search found nothing.
	now         time.Time
	conditional bool
}

func newParser(text string, ctx requestContext) parser {
	text = normalize(text)
	_, first := utf8.DecodeRuneInString(text)
	rest := text[first:]
	return parser{text: text, lower: rest == strings.ToLower(rest), ctx: ctx}
}

// classify tries each request shape in turn. Task shapes come first because
// their verbs ("complete", "add", "list") overlap with contact requests,
// and the context hint comes last so explicit words always win.
func (p parser) classify() intent {
	for _, parse := range []func() (intent, bool){
		p.sendEmail,
		p.createTask, p.completeTask, p.assignTask, p.moveDocument, p.setDueDate, p.listTasks, p.taskStatusQuestion,
		p.readDocument, p.listFolders, p.listDocuments, p.findDocuments,
		p.teamMembers, p.listTeams, p.listDepartments, p.listMembers,
		p.createContact, p.conditionalCreate, p.deleteContact, p.updateContact, p.summarizeContact, p.findContacts,
		p.slotUpdate, p.contextHint,
	} {
		if in, ok := parse(); ok {
			return in
		}
	}
	return intent{kind: intentUnknown}
}

// ---- tasks ----------------------------------------------------------------

var (
	// markDoneRe: "Mark the task Research competitor pricing as done".
	markDoneRe = regexp.MustCompile(`(?i)^(?:mark|set|flag)\s+(.+?)\s+(?:as\s+)?(?:done|complete|completed|finished|closed)$`)
	// completeTaskRe: "Complete task X", "Finish the task: X", "Close the todo X".
	completeTaskRe = regexp.MustCompile(`(?i)^(?:complete|finish|close|tick\s+off|check\s+off|resolve)\s+(?:the\s+|my\s+)?(?:task|to-?do)\b[\s:]*(.*)$`)
	// completeNamedTaskRe: "Complete the pricing research task".
	completeNamedTaskRe = regexp.MustCompile(`(?i)^(?:complete|finish|close)\s+(?:the\s+|my\s+)?(.+?)\s+(?:task|to-?do)$`)
	// finishedTaskRe: "I finished the task X", "The task X is done".
	finishedTaskRe = regexp.MustCompile(`(?i)^(?:i(?:'ve|\s+have)?\s+(?:finished|completed|done\s+with)\s+(?:the\s+)?(?:task|to-?do)\b[\s:]*(.+)|(?:the\s+)?(?:task|to-?do)\s+(.+?)\s+is\s+(?:now\s+)?(?:done|complete|completed|finished))$`)
	// doneWithRe: "I've finally finished researching competitor pricing,
	// you can tick that one off", "the initech quote is done, pls close the
	// task": the work named, and a word that says to close its task.
	doneWithRe = regexp.MustCompile(`(?i)^(?:(?:(?:i|we)(?:'ve|\s+have|'m|\s+am|'re|\s+are)?\s+)?(?:finally\s+|just\s+)?(?:finished|completed|done(?:\s+with)?|wrapped\s+up)\s+(.+?)|(?:the\s+)?(.+?)\s+(?:is|are)\s+(?:now\s+|finally\s+)?(?:done|finished|complete|completed|sorted))[\s,;.\-]+(?:(?:so\s+)?you\s+can\s+|please\s+|pls\s+|so\s+)?(?:tick|check|cross|mark|close|complete)\b.*$`)
	// tickOffRe: "Tick off 'Prepare the renewal quote'", "Complete \"X\"".
	tickOffRe = regexp.MustCompile(`(?i)^(?:(?:tick|check|cross|strike)\s+off|(?:complete|finish|close)\s+(?:the\s+)?(?:task\s+)?(?:["']))\s*["']?(.+?)["']?$`)
	// taskWordPrefixRe strips "the task" in front of a task title.
	taskWordPrefixRe = regexp.MustCompile(`(?i)^(?:the\s+|my\s+)?(?:task|to-?do)?\b[\s:]*`)
	// thisTaskRe: references to the task selected in the context.
	thisTaskRe = regexp.MustCompile(`(?i)^(?:as|this|it|this\s+one|this\s+task|the\s+task|that\s+task|current\s+task)?$`)

	// createTaskRe: "Create a task: X", "Add a task to call Ann", "New todo X".
	createTaskRe = regexp.MustCompile(`(?i)^(?:create|add|new|make|set\s+up|open|log|schedule|put|pop|stick|raise|file)\s+(?:a\s+|an\s+|the\s+|another\s+)?(?:new\s+)?(?:task|to-?do)(?:\s+item)?\b(?:\s+(?:in|down|on\s+the\s+list))?(?:\s+for\s+(?:me|us|myself))?\s*(?:[:\-]|to\b|for\b|called\b|named\b|titled\b|saying\b)?\s*(.*)$`)
	// remindMeRe: "Remind me to call Ann tomorrow" becomes a task.
	remindMeRe = regexp.MustCompile(`(?i)^remind\s+me\s+to\s+(.+)$`)
	// remindMeWhenRe: "Remind me in 2 weeks to check on the renewal".
	remindMeWhenRe = regexp.MustCompile(`(?i)^remind\s+me\s+(.+?)\s+to\s+(.+)$`)
	// todoLabelRe: "todo: chase Initech for the signed PO by thursday".
	todoLabelRe = regexp.MustCompile(`(?i)^(?:to-?do|task|reminder|action\s+item)\s*[:\-]\s*(.+)$`)

	// listTasksRe: a question or listing verb followed somewhere by "tasks".
	listTasksRe = regexp.MustCompile(`(?i)^(?:(?:list|show|display|get|give\s+me|fetch|see|view|what|which|whats|do\s+i\s+have|are\s+there|is\s+there|how\s+many|any)\b.*\b(?:tasks?|to-?dos?)\b|` +
		`what(?:'s|\s+is)\s+(?:on\s+my\s+plate|left|outstanding|pending|on\s+my\s+list)|what\s+do\s+i\s+(?:have\s+on|still\s+have\s+to\s+do))`)
	// bareTasksRe: "my tasks", "open tasks".
	bareTasksRe = regexp.MustCompile(`(?i)^(?:(?:my|all|open|pending|done|completed|finished)\s+)*(?:tasks|to-?dos)$`)
	// openStatusRe / doneStatusRe / allStatusRe pick the list_tasks status;
	// negated forms ("not done") are tested first.
	openStatusRe = regexp.MustCompile(`(?i)\b(?:not\s+(?:yet\s+)?(?:done|finished|completed|complete)|unfinished|incomplete|outstanding|open|pending|remaining|left|still|to\s+do|todo)\b`)
	doneStatusRe = regexp.MustCompile(`(?i)\b(?:done|completed|complete|finished|closed)\b`)
	// taskQueryRe: "tasks about pricing".
	taskQueryRe = regexp.MustCompile(`(?i)\b(?:about|matching|containing|mentioning|related\s+to|regarding)\s+(.+)$`)
)

// completeTask reads "mark ... as done" and "complete task ..." requests.
func (p parser) completeTask() (intent, bool) {
	var query string
	switch {
	case markDoneRe.MatchString(p.text):
		query = markDoneRe.FindStringSubmatch(p.text)[1]
	case completeTaskRe.MatchString(p.text):
		query = completeTaskRe.FindStringSubmatch(p.text)[1]
	case completeNamedTaskRe.MatchString(p.text):
		query = completeNamedTaskRe.FindStringSubmatch(p.text)[1]
	case finishedTaskRe.MatchString(p.text):
		m := finishedTaskRe.FindStringSubmatch(p.text)
		query = m[1] + m[2]
	case tickOffRe.MatchString(p.text):
		query = tickOffRe.FindStringSubmatch(p.text)[1]
	case doneWithRe.MatchString(p.text):
		m := doneWithRe.FindStringSubmatch(p.text)
		query = m[1] + m[2]
	default:
		return intent{}, false
	}
	query = cleanValue(taskWordPrefixRe.ReplaceAllString(cleanValue(query), ""))
	query = cleanValue(strings.TrimSuffix(strings.TrimSuffix(query, " task"), " to-do"))
	in := intent{kind: intentCompleteTask, taskQuery: query}
	if thisTaskRe.MatchString(query) {
		in = p.pickTask(intent{kind: intentCompleteTask}, "it", "mark as done")
		if in.problem != "" {
			in.problem = "Which task should I mark as done? No task is selected, so please give its title, " +
				`for example "Mark the task Research competitor pricing as done".`
		}
	}
	return in, true
}

// unresolvedRefRe: a title that points at words elsewhere ("the
// follow-up they mention", "what it says").
var unresolvedRefRe = regexp.MustCompile(`(?i)\b(?:(?:they|it|he|she)\s+(?:mentions?|mentioned|says?|said|describes?|described|lists?|listed|suggests?|suggested|asks?\s+for|asked\s+for)|` +
	`the\s+(?:notes?|document|doc|report|e-?mail|mail|call|meeting|file|minutes)\s+(?:mentions|mentioned|says|said|describes|described|lists|listed|suggests|suggested))\b`)

// createTask reads "create a task ..." and "remind me to ..." requests.
func (p parser) createTask() (intent, bool) {
	var details string
	switch {
	case createTaskRe.MatchString(p.text):
		details = createTaskRe.FindStringSubmatch(p.text)[1]
	case remindMeRe.MatchString(p.text):
		details = remindMeRe.FindStringSubmatch(p.text)[1]
	case remindMeWhenRe.MatchString(p.text):
		m := remindMeWhenRe.FindStringSubmatch(p.text)
		details = m[2] + " " + m[1]
	case todoLabelRe.MatchString(p.text):
		details = todoLabelRe.FindStringSubmatch(p.text)[1]
	default:
		return intent{}, false
	}
	task, problem := parseTaskDetails(details, p.now)
	task.Title = p.prior.namePronouns(task.Title)
	if m := unresolvedRefRe.FindString(task.Title); m != "" && problem == "" {
		// "a task for the follow-up they mention": the built-in model
		// cannot read what "they" say, and a title must stand on its own.
		problem = "I cannot tell what " + quote(m) + " refers to, so I created no task; please give the task's title in your own words."
	}
	in := intent{kind: intentCreateTask, task: task, problem: problem}
	if problem == "" && task.Title == "" {
		in.problem = `What should the task say? Please give it a title, for example "Create a task: Research competitor pricing".`
	}
	return in, true
}

// possessiveTasksRe: "his tasks", "her open to-dos".
var possessiveTasksRe = regexp.MustCompile(`(?i)\b(?:his|her|their)\s+(?:\w+\s+)?(?:tasks?|to-?dos?)\b`)

// taskStatusRe: "Have we booked the venue for the offsite yet?".
var taskStatusRe = regexp.MustCompile(`(?i)^(?:(?:have|has|did)\s+(?:we|i|you|they|someone|anyone|anybody)\s+(?:already\s+)?(\w+)\s+(.+?)|(?:is|are|has|have)\s+(?:the\s+)?()(.+?)\s+(?:been\s+)?(?:done|finished|completed|complete|booked|sorted|handled))(?:\s+(?:yet|already))?\??$`)

// taskStatusQuestion reads a question about whether something was done
// as a look at the tasks: the words that matter, stop words left out.
func (p parser) taskStatusQuestion() (intent, bool) {
	m := taskStatusRe.FindStringSubmatch(p.text)
	if m == nil {
		return intent{}, false
	}
	var words []string
	for _, w := range strings.Fields(m[1] + " " + m[2] + " " + m[3] + " " + m[4]) {
		if !stopWords[strings.ToLower(w)] {
			words = append(words, w)
		}
	}
	if len(words) < 2 {
		return intent{}, false
	}
	return intent{kind: intentListTasks, status: "all", taskWords: strings.Join(words, " ")}, true
}

// stopWords carry no meaning when matching a question to a task's title.
var stopWords = wordSet("the a an for to of on in at with and or our my your their his her its this that these those we us")

// listTasks reads "list my tasks", "show open tasks", "what tasks are done".
func (p parser) listTasks() (intent, bool) {
	if !listTasksRe.MatchString(p.text) && !bareTasksRe.MatchString(p.text) {
		return intent{}, false
	}
	text := p.text
	in := intent{kind: intentListTasks, status: "all"}
	if m := taskQueryRe.FindStringSubmatchIndex(text); m != nil {
		in.taskQuery = cleanValue(text[m[2]:m[3]])
		text = text[:m[0]]
	}
	if possessiveTasksRe.MatchString(text) && p.prior.contact != nil && p.prior.contact.Name != "" {
		// "his tasks": the tasks that mention the contact found before.
		in.taskQuery = p.prior.contact.Name
	}
	switch {
	case openStatusRe.MatchString(text):
		in.status = "open"
	case doneStatusRe.MatchString(text):
		in.status = "done"
	}
	return in, true
}

// ---- contacts -------------------------------------------------------------

var (
	// createContactRe: "Create a contact for ...", "Add a new contact: ...",
	// "New contact: ...".
	createContactRe = regexp.MustCompile(`(?i)^(?:create|add|new|make|save|register|insert|store)\s+(?:a\s+|an\s+|the\s+|another\s+)?(?:new\s+)?(?:contact|lead|customer|client|prospect)\b(?:\s+record)?\s*(?:for\b|:|called\b|named\b|with\b|-)?\s*(.*)$`)
	// formRe: a web form's or CRM template's new lead: a header, then labelled fields.
	formRe = regexp.MustCompile(`(?i)^(?:new\s+)?(?:[\w-]+\s+){0,3}?(?:form\s+(?:submission|entry|fill)|submission|lead|sign-?up|enquiry|inquiry|registration)\b[^,:]*?[\s,:;\-]+(.*)$`)
	// nameLabelRe: the form names the person.
	nameLabelRe = regexp.MustCompile(`(?i)\b(?:(?:full|first)\s+)?name\s*[:=]`)
	// firstLastRe joins "First name: Aisha, Last name: Bello".
	firstLastRe = regexp.MustCompile(`(?i)first\s+name\s*[:=]\s*([^,;]+?)\s*[,;]\s*(?:last\s+name|surname|family\s+name)\s*[:=]\s*([^,;]+)`)
	// addDetailsRe: "Add Carter Hughes, VP of Sales at Lone Star Logistics, …".
	addDetailsRe = regexp.MustCompile(`(?i)^(?:add|save|store|enter|record)\s+(\p{Lu}[\p{L}'\-]+(?:\s+\p{Lu}[\p{L}'\-]+){1,2})\s*,\s*(.+)$`)
	// addToContactsRe: "Add Kwame Mensah from Accra Fintech to our contacts".
	addToContactsRe = regexp.MustCompile(`(?i)^(?:add|put|save|store|enter)\s+(.+?)\s+(?:to|in|into)\s+(?:my\s+|our\s+|the\s+)?(?:contacts|crm|address\s+book|contact\s+list|database)\b[\s,:;\-]*(.*)$`)
	// addAsContactRe: "Add John Smith as a contact, Acme Corp, ...".
	addAsContactRe = regexp.MustCompile(`(?i)^(?:add|save|create|store)\s+(.+?)\s+as\s+(?:a\s+|an\s+)?(?:new\s+)?contact\b[\s,:;\-]*(.*)$`)

	// deleteContactRe: "Delete the contact John Smith", "Remove contact Ann
	// Lee", "Delete John Smith from contacts".
	deleteContactRe = regexp.MustCompile(`(?i)^(?:delete|remove|erase|drop|get\s+rid\s+of)\s+(?:the\s+)?(contact\b\s*(?:for\s+|named\s+|called\s+)?)?(.*?)(\s+from\s+(?:my\s+|the\s+|our\s+)?(?:contacts?|crm|address\s+book|contact\s+list)(?:\s+list)?)?$`)

	// thisContactRe: references to the contact selected in the context.
	thisContactRe = regexp.MustCompile(`(?i)^(?:this|it|him|her|them|he|she|they|this\s+one|this\s+(?:contact|person|customer|client|lead)|the\s+(?:contact|person)|that\s+(?:contact|person)|current\s+contact|selected\s+contact)?$`)
	// possessiveRefRe: "his", "her", "their", "this contact's" in front of
	// a field name.
	possessiveRefRe = `(?:his|her|their|its|this\s+contact's|this\s+person's|the\s+contact's)`

	// updateVerb starts an update request.
	updateVerb = `(?:update|change|set|edit|modify|correct|fix)`
	// updatePossessiveRe: "Update John Smith's phone to +44 7700 900001".
	updatePossessiveRe = regexp.MustCompile(`(?i)^` + updateVerb + `\s+(?:the\s+)?(?:contact\s+)?(.+?)'s?\s+((?:` + fieldWords + `)\b.*)$`)
	// updateFieldOfRe: "Change the email of John Smith to js@acme.com".
	updateFieldOfRe = regexp.MustCompile(`(?i)^` + updateVerb + `\s+(?:the\s+)?(?:new\s+)?(` + fieldWords + `)\s+(?:of|for|on)\s+(?:the\s+)?(?:contact\s+)?(.+?)\s+(?:to|as|=|into)\s+(.+)$`)
	// updatePronounRe: "Change his phone to ..." (the contact in context).
	updatePronounRe = regexp.MustCompile(`(?i)^` + updateVerb + `\s+` + possessiveRefRe + `\s+((?:` + fieldWords + `)\b.*)$`)
	// updateListRe: "Update John Smith: phone +44 ..., city Paris",
	// "Update John Smith with email js@acme.com", "Update this contact, ...".
	updateListRe = regexp.MustCompile(`(?i)^(?:update|edit|modify|change)\s+(?:the\s+)?(?:contact\s+)?(.+?)(?:\s*[:,]|\s+-|\s+with|\s+so\s+that)\s+(.+)$`)
	// newValueRe: "John Smith's new phone is +44 ...".
	newValueRe = regexp.MustCompile(`(?i)^(.+?)'s?\s+((?:new\s+)?(?:` + fieldWords + `)\s+is\s+.+)$`)
	// movedToCompanyRe: "John Smith moved to Globex", "... now works at ...",
	// "... joined Globex".
	movedToCompanyRe = regexp.MustCompile(`(?i)^(.+?)\s+(?:has\s+)?(?:moved\s+to|switched\s+to|joined|now\s+works\s+(?:at|for)|is\s+now\s+(?:working\s+)?(?:at|with))\s+(.+)$`)
	// addFieldToRe: "Add the phone number +44 ... to that contact", "Put
	// ann@acme.com as the email on Ann Lee".
	addFieldToRe = regexp.MustCompile(`(?i)^(?:add|attach|put|include|save|store|record|enter)\s+(?:the\s+|a\s+|an\s+|this\s+|` +
		possessiveRefRe + `\s+)?(?:new\s+)?(` + fieldWords + `)\s*(?::|=|of)?\s*(.+?)\s+(?:to|for|on|onto|into|in)\s+(?:the\s+)?(?:contact\s+)?(.+?)(?:'s?\s+(?:record|contact|details|entry|card))?$`)
	// addPossessiveRe: "Add her phone number: +44 ...", "Save his email as ...".
	addPossessiveRe = regexp.MustCompile(`(?i)^(?:add|attach|include|save|store|record|enter|put\s+in)\s+` + possessiveRefRe +
		`\s+(?:new\s+)?(` + fieldWords + `)\s*(?::|=|,|is|as|to)?\s*(.+)$`)
	// valueAsFieldRe: "Put 07700 900461 as the mobile on this contact".
	valueAsFieldRe = regexp.MustCompile(`(?i)^(?:add|put|save|store|record|enter|set)\s+(.+?)\s+as\s+(?:the\s+|a\s+|an\s+|` + possessiveRefRe +
		`\s+)?(?:new\s+)?(` + fieldWords + `)\s+(?:to|for|on|onto|into|in|of)\s+(?:the\s+)?(?:contact\s+)?(.+)$`)
	// pronounValueRe: "Her email is ann@acme.com".
	pronounValueRe = regexp.MustCompile(`(?i)^(?:his|her|their|its)\s+(?:new\s+)?(` + fieldWords + `)\s+(?:is|are)\s+(?:now\s+)?(.+)$`)
	// relocatedRe: "Ann Lee relocated to Paris", "... is now based in Paris".
	relocatedRe = regexp.MustCompile(`(?i)^(.+?)\s+(?:has\s+)?(?:relocated\s+to|now\s+lives\s+in|is\s+now\s+based\s+in|is\s+now\s+living\s+in|now\s+based\s+in)\s+(.+)$`)

	// fieldQuestionRe: "What's Ann Lee's email?", "What is the phone
	// number of John Smith?".
	fieldQuestionRe = regexp.MustCompile(`(?i)^(?:what(?:'s|\s+is|\s+are)|tell\s+me|give\s+me|get\s+me|do\s+we\s+have)\s+(?:(.+?)'s?\s+(` + fieldWords + `)|the\s+(` + fieldWords + `)\s+(?:of|for)\s+(?:the\s+contact\s+)?(.+?))\??$`)
	// fieldForColonRe: "Update the mobile number for Seán O'Connor: 087 123 4567".
	fieldForColonRe = regexp.MustCompile(`(?i)^` + updateVerb + `\s+(?:the\s+)?(?:new\s+)?(` + fieldWords + `)\s+(?:of|for|on)\s+(?:the\s+)?(?:contact\s+)?(.+?)\s*[:=]\s*(.+)$`)
	// hasNewFieldRe: "John Smith has a new email address: j.smith@acme.co.uk".
	hasNewFieldRe = regexp.MustCompile(`(?i)^(.+?)\s+has\s+(?:a\s+)?new\s+(` + fieldWords + `)\s*(?::|=|,|-|\bis\b|\bof\b)?\s*(.+)$`)
	// hasNewAddressRe: "Ann Lee has a new address, ann.lee@initech.co.uk".
	hasNewAddressRe = regexp.MustCompile(`(?i)^(.+?)\s+has\s+(?:a\s+)?new\s+address\s*[:,=-]?\s*(\S+@\S+)`)
	// joinedAsRe: "Priya Raman left Northwind - she joined Contoso as COO".
	joinedAsRe = regexp.MustCompile(`(?i)^(.+?)\s+(?:has\s+)?(?:left\s+.+?\s*(?:[-,;]|\band\b)\s*(?:(?:she|he|they)\s+)?(?:has\s+)?)?(?:joined|moved\s+to|went\s+to|started\s+at)\s+(.+?)(?:\s+as\s+(?:an?\s+|the\s+)?(.+))?$`)
	// nowTrailingRe: "Ann Lee got promoted, she's Head of Procurement now".
	nowTrailingRe = regexp.MustCompile(`(?i)^(.+?)(?:\s*[,;-]\s*|\s+)(?:she|he|they)(?:'s|\s+is|\s+are)\s+(.+?)\s+now$`)
	// promotedRe: "Priya just got promoted to Sales Director".
	promotedRe = regexp.MustCompile(`(?i)^(.+?)\s+(?:has\s+)?(?:just\s+)?(?:been\s+|got\s+|was\s+)?(?:promoted|moved\s+up|stepped\s+up)\s+to\s+(?:the\s+role\s+of\s+|be\s+)?(?:the\s+|a\s+|an\s+)?(.+)$`)
	// nowIsRe: "Ann Lee got promoted - she's now Director of Procurement",
	// "Priya Raman is now at Globex".
	nowIsRe = regexp.MustCompile(`(?i)^(.+?)(?:'s|\s+is|\s+are|\s+(?:she|he|they)(?:'s|\s+is|\s+are))\s+now\s+(.+)$`)
	// summaryRe: words asking for an overview of a contact.
	summaryRe = regexp.MustCompile(`(?i)\b(?:summary|summari[sz]e|overview|profile|details|everything|info|information|tell\s+me\s+about|who\s+is|describe|what\s+do\s+we\s+know\s+about|what\s+have\s+we\s+got\s+on)\b`)
	// summaryTargetRe: what the summary is about ("... of John Smith").
	summaryTargetRe = regexp.MustCompile(`(?i)(?:\b(?:of|for|on|about)\s+|^(?:summari[sz]e|describe|who\s+is)\s+)(?:the\s+contact\s+|contact\s+)?(.*)$`)

	// findVerbRe: verbs that open a contact search.
	findVerbRe = regexp.MustCompile(`(?i)^(?:find|search(?:\s+for)?|look\s*up|look\s+for|list|show(?:\s+me)?|display|get|give\s+me|fetch|pull\s+up|who|which|do\s+we\s+have|have\s+we\s+got|is\s+there|are\s+there|` +
		`check\s+(?:if|whether)\s+(?:we\s+have|there(?:'s|\s+is)|we've\s+got))\b\s*`)
	// contactNounRe: "(all) contacts", "people", "everyone" after the verb.
	contactNounRe = regexp.MustCompile(`(?i)^(?:(?:all|every|any|the|my|our|a|an)\s+)*(?:contacts?|people|persons?|everyone|everybody|anyone|anybody|someone|customers|clients|leads)\b\s*`)
	// findClauseRe marks each filter clause of a search; longer phrases are
	// listed first so "working at" wins over "at".
	findClauseRe = regexp.MustCompile(`(?i)(?:^|\s)(based\s+in|located\s+in|living\s+in|(?:who|that)\s+lives?\s+in|lives?\s+in|` +
		`(?:who|that)\s+(?:is\s+|are\s+)?(?:working|works?|employed)\s+(?:at|for|by)|working\s+(?:at|for)|works?\s+(?:at|for)|employed\s+(?:at|by)|` +
		`whose\s+(?:full\s+)?name\s+(?:contains|includes|has|starts\s+with|is)|named|called|with\s+(?:the\s+)?name|with\s+e-?mail|matching|containing|about|in|at|from|for)\s+`)
	// fillerRe: words between a verb and a clause that mean nothing ("who are").
	fillerRe = regexp.MustCompile(`(?i)(?:\b(?:who|that|which|are|is|do\s+we\s+(?:have|know)|have\s+we\s+got|we\s+(?:have|know)|anyone|anybody|someone|somebody|our\s+contacts?|(?:over|out)(?:\s+there)?)\b|'s\b)`)
)

// createContact reads "create a contact ..." requests.
func (p parser) createContact() (intent, bool) {
	var f contactFields
	switch {
	case addAsContactRe.MatchString(p.text):
		m := addAsContactRe.FindStringSubmatch(p.text)
		// The name comes first, so the details read as "Name, details".
		f = parseContactDetails(m[1] + ", " + m[2])
	case createContactRe.MatchString(p.text):
		f = parseContactDetails(createContactRe.FindStringSubmatch(p.text)[1])
	case formRe.MatchString(p.text) && nameLabelRe.MatchString(p.text):
		// "New HubSpot form submission, First name: Aisha, Last name: …"
		details := formRe.FindStringSubmatch(p.text)[1]
		details = firstLastRe.ReplaceAllString(details, "Name: $1 $2")
		f = parseContactDetails(details)
	case addDetailsRe.MatchString(p.text):
		// "Please add Carter Hughes, VP of Sales at …, (512) 555-0187":
		// a name, then details with a phone or an address.
		m := addDetailsRe.FindStringSubmatch(p.text)
		if _, _, _, phone := findPhone(m[2]); !phone && !emailRe.MatchString(m[2]) {
			return intent{}, false
		}
		f = parseContactDetails(m[1] + ", " + m[2])
	case addToContactsRe.MatchString(p.text):
		m := addToContactsRe.FindStringSubmatch(p.text)
		f = parseContactDetails(m[1] + ", " + m[2])
		if !looksLikeName(f.Name, p.lower) {
			return intent{}, false
		}
	default:
		return intent{}, false
	}
	in := intent{kind: intentCreateContact, contact: f}
	if f.Name == "" || !looksLikeName(f.Name, p.lower) && !looksLikeName(capitalizeWords(f.Name), false) {
		in.problem = "To create a contact I need at least a name, for example " +
			`"Create a contact for John Smith at Acme Corp, john@acme.com".`
	}
	return in, true
}

// deleteContact reads "delete the contact ..." requests. Without the word
// "contact" the target must look like a person's name, so "Delete the Q1
// report" is not taken for a contact.
func (p parser) deleteContact() (intent, bool) {
	m := deleteContactRe.FindStringSubmatch(p.text)
	if m == nil || taskWordRe.MatchString(p.text) {
		return intent{}, false
	}
	name := cleanValue(reasonRe.ReplaceAllString(m[2], ""))
	if i := strings.IndexAny(name, ",;"); i > 0 && looksLikeName(cleanValue(name[:i]), p.lower) {
		// "Delete Ann Lee, we no longer work with her".
		name = cleanValue(name[:i])
	}
	if addr := emailRe.FindString(name); addr != "" {
		// "the contact whose email is …": found by its address.
		name = addr
	}
	mentionsContact := m[1] != "" || m[3] != ""
	if !mentionsContact && !looksLikeName(name, p.lower) && !thisContactRe.MatchString(name) && !emailRe.MatchString(name) {
		return intent{}, false
	}
	return p.targetContact(intent{kind: intentDeleteContact}, name, "delete"), true
}

// crmSuffixRe: "in the CRM", "in our contacts": where to look, no filter.
var crmSuffixRe = regexp.MustCompile(`(?i)\s+(?:in|on|from)\s+(?:the|our|my)\s+(?:crm|contacts|contact\s+list|system|database|address\s+book|records)\??$`)

// whoseEmailRe: "Whose email is sean@globex.ie?", "Who has ann@initech.com?".
var whoseEmailRe = regexp.MustCompile(`(?i)^(?:whose\s+(?:e-?mail(?:\s+address)?|address)\s+is|who(?:'s|\s+is|\s+has|\s+owns|\s+uses)(?:\s+the\s+(?:e-?mail|address))?)\s+(\S+@\S+?)\??$`)

// inContactsRe: "Is Hugo Weaving in our contacts?", "Do we have Ann Lee in the CRM?".
var inContactsRe = regexp.MustCompile(`(?i)^(?:(?:check|see|find\s+out)\s+(?:if|whether)\s+)?(?:is|are|do\s+we\s+have|have\s+we\s+got|we\s+have)?\s*(.+?)(?:\s+(?:is|are))?\s+(?:in|among|on)\s+(?:our|my|the)\s+(?:contacts|crm|contact\s+list|address\s+book|system|database)\??$`)

// bareContactsRe: "london contacts", "Acme people".
var bareContactsRe = regexp.MustCompile(`(?i)^(?:(?:all|our|my|the)\s+)?(\S+(?:\s+\S+)?)\s+(?:contacts|people|customers|clients|leads)$`)

// reasonRe: why the caller wants it, which changes nothing ("because …").
var reasonRe = regexp.MustCompile(`(?i)\s+(?:because|since|as\s+(?:we|they|he|she))\b.*$`)

// taskWordRe spots requests about tasks, which contact parsers leave alone.
var taskWordRe = regexp.MustCompile(`(?i)\b(?:tasks?|to-?dos?)\b`)

// updateContact reads the update phrasings; each yields a target and a
// list of field changes.
func (p parser) updateContact() (intent, bool) {
	target, changes, ok := p.updateParts()
	if !ok || len(changes) == 0 {
		return intent{}, false
	}
	return p.targetContact(intent{kind: intentUpdateContact, changes: changes}, target, "update"), true
}

// updateParts tries the update shapes from most to least specific.
func (p parser) updateParts() (target string, changes []fieldChange, ok bool) {
	if m := updateFieldOfRe.FindStringSubmatch(p.text); m != nil {
		field := canonicalField(m[1])
		value, more := splitFirstValue(m[3])
		changes = []fieldChange{{Field: field, Value: cleanFieldValue(field, value)}}
		// "... to js@acme.com and phone to +44 ..." carries more fields.
		changes = append(changes, parseAssignments(more)...)
		return cleanValue(m[2]), validChanges(changes), true
	}
	if m := updatePronounRe.FindStringSubmatch(p.text); m != nil {
		return "this contact", parseAssignments(m[1]), true
	}
	for _, re := range []*regexp.Regexp{addPossessiveRe, pronounValueRe} {
		if m := re.FindStringSubmatch(p.text); m != nil {
			return "this contact", plausibleChanges(m[1], m[2]), true
		}
	}
	if m := addFieldToRe.FindStringSubmatch(p.text); m != nil && p.isNameOrRef(m[3]) {
		return cleanValue(m[3]), plausibleChanges(m[1], m[2]), true
	}
	if m := valueAsFieldRe.FindStringSubmatch(p.text); m != nil && p.isNameOrRef(m[3]) {
		return cleanValue(m[3]), plausibleChanges(m[2], m[1]), true
	}
	if m := updatePossessiveRe.FindStringSubmatch(p.text); m != nil {
		if changes := parseAssignments(m[2]); len(changes) > 0 {
			return cleanValue(m[1]), changes, true
		}
	}
	if m := updateListRe.FindStringSubmatch(p.text); m != nil {
		if changes := parseAssignments(m[2]); len(changes) > 0 {
			return cleanValue(m[1]), changes, true
		}
	}
	if m := newValueRe.FindStringSubmatch(p.text); m != nil && p.isNameOrRef(m[1]) {
		return cleanValue(m[1]), parseAssignments(m[2]), true
	}
	if m := movedToCompanyRe.FindStringSubmatch(p.text); m != nil && p.isNameOrRef(m[1]) {
		return cleanValue(m[1]), []fieldChange{{Field: "company", Value: cleanValue(m[2])}}, true
	}
	if m := relocatedRe.FindStringSubmatch(p.text); m != nil && p.isNameOrRef(m[1]) && looksLikePlace(cleanValue(m[2])) {
		return cleanValue(m[1]), []fieldChange{{Field: "city", Value: cleanValue(m[2])}}, true
	}
	if m := fieldForColonRe.FindStringSubmatch(p.text); m != nil && p.isNameOrRef(m[2]) {
		return cleanValue(m[2]), plausibleChanges(m[1], m[3]), true
	}
	if m := hasNewFieldRe.FindStringSubmatch(p.text); m != nil && p.isNameOrRef(m[1]) {
		return cleanValue(m[1]), plausibleChanges(m[2], m[3]), true
	}
	if m := hasNewAddressRe.FindStringSubmatch(p.text); m != nil && p.isNameOrRef(m[1]) {
		return cleanValue(m[1]), plausibleChanges("email", m[2]), true
	}
	if m := promotedRe.FindStringSubmatch(p.text); m != nil {
		if name := leadingName(m[1], p.lower); name != "" && looksLikeTitle(cleanValue(m[2])) {
			return name, []fieldChange{{Field: "title", Value: cleanValue(m[2])}}, true
		}
	}
	if m := joinedAsRe.FindStringSubmatch(p.text); m != nil {
		if name := leadingName(m[1], p.lower); name != "" && looksLikeWords(cleanValue(m[2])) {
			changes := []fieldChange{{Field: "company", Value: cleanValue(m[2])}}
			if t := cleanValue(m[3]); t != "" && looksLikeTitle(t) {
				changes = append(changes, fieldChange{Field: "title", Value: t})
			}
			return name, changes, true
		}
	}
	if m := nowTrailingRe.FindStringSubmatch(p.text); m != nil {
		if name := leadingName(m[1], p.lower); name != "" {
			if c := nowChange(cleanValue(m[2])); c != nil {
				return name, c, true
			}
		}
	}
	if m := nowIsRe.FindStringSubmatch(p.text); m != nil {
		if name := leadingName(m[1], p.lower); name != "" {
			if c := nowChange(cleanValue(m[2])); c != nil {
				return name, c, true
			}
		}
	}
	return "", nil, false
}

// plausibleChanges reads one "field value" pair whose value looks like
// that field (a phone number has digits, an email an @): "Add the number
// 5 to the list" is not an update.
func plausibleChanges(fieldWord, value string) []fieldChange {
	field := canonicalField(fieldWord)
	value = cleanFieldValue(field, value)
	switch field {
	case "phone":
		phone, _, _, ok := findPhone(value)
		if !ok {
			return nil
		}
		value = phone
	case "email":
		if !emailRe.MatchString(value) {
			return nil
		}
	}
	return validChanges([]fieldChange{{Field: field, Value: value}})
}

// splitFirstValue splits "X and phone to Y" into the first value X and the
// further assignments "and phone to Y" (empty when there are none).
func splitFirstValue(s string) (value, more string) {
	if loc := assignmentSplitRe.FindStringIndex(s); loc != nil && loc[0] > 0 {
		return s[:loc[0]], s[loc[0]:]
	}
	return s, ""
}

// validChanges drops changes without a field or a value.
func validChanges(changes []fieldChange) []fieldChange {
	var valid []fieldChange
	for _, c := range changes {
		if c.Field != "" && c.Value != "" {
			valid = append(valid, c)
		}
	}
	return valid
}

// isNameOrRef accepts a person's name or a reference to the selected contact.
func (p parser) isNameOrRef(s string) bool {
	s = cleanValue(s)
	if s != "" && s == strings.ToLower(s) && len(strings.Fields(s)) <= 3 && looksLikeName(capitalizeWords(s), false) {
		// "john smith has moved to Initech": a name typed in lower case
		// among capitalised words; the search by name decides.
		return true
	}
	return looksLikeName(s, p.lower) || (s != "" && thisContactRe.MatchString(s))
}

// summarizeContact reads "give me a summary of this contact", "tell me about
// John Smith", "who is Ann Lee". A summary of something that is neither the
// selected contact nor a person's name ("the Q1 report") is not ours.
func (p parser) summarizeContact() (intent, bool) {
	if m := fieldQuestionRe.FindStringSubmatch(p.text); m != nil {
		// "What's Ann Lee's email address?": a summary that answers one field.
		name, field := cleanValue(m[1]+m[4]), canonicalField(m[2]+m[3])
		if field != "" && (looksLikeName(name, p.lower) || thisContactRe.MatchString(name)) {
			in := p.targetContact(intent{kind: intentSummarizeContact, askField: field}, name, "look up")
			return in, true
		}
	}
	if !summaryRe.MatchString(p.text) || taskWordRe.MatchString(p.text) {
		return intent{}, false
	}
	target := ""
	if m := summaryTargetRe.FindStringSubmatch(p.text); m != nil {
		target = cleanValue(m[1])
	}
	in := intent{kind: intentSummarizeContact}
	switch {
	case thisContactRe.MatchString(target):
		if target == "" && !p.ctx.isContact() {
			return intent{}, false
		}
		return p.targetContact(in, target, "summarise"), true
	case looksLikeName(target, p.lower):
		in.targetName = target
		return in, true
	}
	return intent{}, false
}

// targetContact sets the contact an update, delete or summary acts on: the
// selected contact for "this contact", otherwise the named one.
func (p parser) targetContact(in intent, name, verb string) intent {
	if thisContactRe.MatchString(name) {
		switch {
		case p.ctx.isContact():
			in.targetID = p.ctx.EntityID
		case p.prior.contact != nil:
			// The contact an earlier turn of the conversation acted on.
			in.targetID = p.prior.contact.ID
		default:
			in.problem = p.prior.contactProblem(verb)
		}
		return in
	}
	in.targetName = name
	return in
}

// findContacts reads contact searches: a verb, optionally "contacts", then
// filter clauses ("in London", "at Acme Corp", "from London", "named John")
// or a bare name ("Find John Smith").
func (p parser) findContacts() (intent, bool) {
	if m := whoseEmailRe.FindStringSubmatch(p.text); m != nil {
		// "Whose email is sean@globex.ie?"
		return intent{kind: intentFindContacts, filter: contactFilter{Email: m[1]}}, true
	}
	if m := inContactsRe.FindStringSubmatch(p.text); m != nil && looksLikeName(cleanValue(m[1]), p.lower) {
		// "Is Hugo Weaving in our contacts?"
		return intent{kind: intentFindContacts, filter: contactFilter{Name: cleanValue(m[1])}}, true
	}
	if m := bareContactsRe.FindStringSubmatch(p.text); m != nil && !findVerbRe.MatchString(p.text) && !taskWordRe.MatchString(p.text) && looksLikeWords(m[1]) {
		// "london contacts": the words before are what to look for.
		return intent{kind: intentFindContacts, filter: contactFilter{Query: cleanValue(m[1]), queryWord: "matching"}}, true
	}
	loc := findVerbRe.FindStringIndex(p.text)
	if loc == nil && contactNounRe.MatchString(p.text) && findClauseRe.MatchString(p.text) {
		// "Contacts whose name contains Priya": no verb, a filter.
		loc = []int{0, 0}
	}
	if loc == nil || taskWordRe.MatchString(p.text) {
		return intent{}, false
	}
	rest := crmSuffixRe.ReplaceAllString(p.text[loc[1]:], "")
	mentionsContacts := strings.HasPrefix(strings.ToLower(p.text), "who")
	if n := contactNounRe.FindStringIndex(rest); n != nil {
		mentionsContacts = true
		rest = rest[n[1]:]
	}
	filter, lead, ok := parseFindClauses(rest)
	if !ok {
		return intent{}, false
	}
	lead = cleanValue(strings.Join(strings.Fields(fillerRe.ReplaceAllString(lead, "")), " "))
	switch {
	case lead == "":
	case emailRe.MatchString(lead) && filter.Email == "":
		// "Find john@acme.com": an address identifies the contact.
		filter.Email = emailRe.FindString(lead)
	case looksLikeName(lead, p.lower) && filter.Name == "":
		filter.Name = lead
	case mentionsContacts && filter.Query == "":
		filter.Query, filter.queryWord = lead, "matching"
	default:
		return intent{}, false
	}
	if filter == (contactFilter{}) && !mentionsContacts {
		return intent{}, false
	}
	return intent{kind: intentFindContacts, filter: filter}, true
}

// parseFindClauses splits "at Acme Corp in London" into filter fields. lead
// is the text before the first clause (a name, or filler words).
func parseFindClauses(s string) (filter contactFilter, lead string, ok bool) {
	marks := findClauseRe.FindAllStringSubmatchIndex(s, -1)
	if len(marks) == 0 {
		return filter, s, true
	}
	lead = s[:marks[0][0]]
	for i, m := range marks {
		end := len(s)
		if i+1 < len(marks) {
			end = marks[i+1][0]
		}
		value := cleanValue(s[m[1]:end])
		if value == "" {
			return filter, "", false
		}
		keyword := strings.ToLower(strings.Join(strings.Fields(s[m[2]:m[3]]), " "))
		switch {
		case strings.HasSuffix(keyword, " in") || keyword == "in":
			filter.City = value
		case strings.HasSuffix(keyword, " at") || strings.HasSuffix(keyword, " for") ||
			strings.HasSuffix(keyword, " by") || keyword == "at":
			filter.Company = value
		case keyword == "named" || keyword == "called" || strings.HasSuffix(keyword, "name") || strings.HasPrefix(keyword, "whose"):
			filter.Name = value
		case strings.HasSuffix(keyword, "mail"):
			filter.Email = value
		default: // from, for, matching, containing, about
			filter.Query, filter.queryWord = value, keyword
			if keyword == "for" || keyword == "containing" || keyword == "about" {
				filter.queryWord = "matching"
			}
		}
	}
	return filter, lead, true
}

// ---- context hints --------------------------------------------------------

// readActions are context actions that ask to look at an entity. Only such
// read-only actions, and "create", are taken from the context alone: a
// destructive action needs the caller's own words.
var readActions = wordSet("summarize summarise summary view show get read open details describe inspect")

// contextHint handles requests whose words matched nothing but whose
// context line says what the caller was doing.
func (p parser) contextHint() (intent, bool) {
	entity := strings.ToLower(p.ctx.EntityType)
	switch {
	case p.ctx.isContact() && (readActions[p.ctx.Action] || p.text == ""):
		return intent{kind: intentSummarizeContact, targetID: p.ctx.EntityID}, true
	case strings.HasPrefix(entity, "contact") && p.ctx.Action == "create" && p.text != "":
		f := parseContactDetails(p.text)
		if looksLikeName(f.Name, p.lower) {
			return intent{kind: intentCreateContact, contact: f}, true
		}
	case strings.HasPrefix(entity, "contact") && (p.ctx.Action == "search" || p.ctx.Action == "find" || p.ctx.Action == "list") && p.text != "":
		return intent{kind: intentFindContacts, filter: contactFilter{Query: p.text, queryWord: "matching"}}, true
	case strings.HasPrefix(entity, "task") && p.ctx.Action == "create" && p.text != "":
		task, problem := parseTaskDetails(p.text, p.now)
		return intent{kind: intentCreateTask, task: task, problem: problem}, task.Title != "" || problem != ""
	case strings.HasPrefix(entity, "task") && p.ctx.Action == "list":
		return intent{kind: intentListTasks, status: "all"}, true
	}
	return intent{}, false
}

var (
	asContactRe      = regexp.MustCompile(`(?i),\s*as\s+(?:a\s+)?(?:new\s+)?contact\b[\s,]*`)
	leadingArticleRe = regexp.MustCompile(`(?i)^(?:the|a|an|our|their)\s+`)
)

// conditionalCreateRe: "add her at Initech" in a step that runs because
// the search before it found nobody ("if not, add her").
var conditionalCreateRe = regexp.MustCompile(`(?i)^(?:add|create|save|register|make)\s+(?:a\s+(?:new\s+)?contact\s+for\s+)?(.+)$`)

// conditionalCreate reads the create of an "if not, add her" step, whose
// pronoun the plan has already replaced by the name searched for.
func (p parser) conditionalCreate() (intent, bool) {
	if !p.conditional || p.prior.searched == "" {
		return intent{}, false
	}
	m := conditionalCreateRe.FindStringSubmatch(p.text)
	if m == nil || !strings.HasPrefix(strings.ToLower(m[1]), strings.ToLower(p.prior.searched)) {
		return intent{}, false
	}
	details := p.prior.searched + ", " + strings.TrimLeft(m[1][len(p.prior.searched):], " ,")
	details = asContactRe.ReplaceAllString(details, ", ")
	f := parseContactDetails(strings.TrimRight(details, ", "))
	return intent{kind: intentCreateContact, contact: f}, f.Name != ""
}

// leadingName takes the name a sentence starts with ("Ann Lee got
// promoted - she" gives "Ann Lee"): the first words that read as a name.
func leadingName(s string, lower bool) string {
	words := strings.Fields(s)
	for n := min(len(words), 4); n >= 1; n-- {
		if name := strings.Join(words[:n], " "); looksLikeName(name, lower) {
			return name
		}
	}
	return ""
}

// nowChange reads what someone "is now": at a company, in a city, or a
// title; anything else is not a change the model can make.
func nowChange(v string) []fieldChange {
	v = strings.TrimSpace(v)
	low := strings.ToLower(v)
	for _, p := range []struct{ prefix, field string }{
		{"working at ", "company"}, {"working for ", "company"}, {"at ", "company"}, {"with ", "company"},
		{"based in ", "city"}, {"living in ", "city"}, {"in ", "city"},
	} {
		if strings.HasPrefix(low, p.prefix) {
			value := cleanValue(v[len(p.prefix):])
			if p.field == "city" && !looksLikePlace(value) || !looksLikeWords(value) {
				return nil
			}
			return []fieldChange{{Field: p.field, Value: value}}
		}
	}
	v = cleanValue(leadingArticleRe.ReplaceAllString(v, ""))
	if looksLikeTitle(v) && looksLikeWords(v) {
		return []fieldChange{{Field: "title", Value: v}}
	}
	return nil
}

// capitalizeWords writes each word with a capital: a name typed in lower
// case still reads as a name.
func capitalizeWords(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		words[i] = capitalize(w)
	}
	return strings.Join(words, " ")
}

var (
	// slotVerbRe: a word that asks for a change.
	slotVerbRe = regexp.MustCompile(`(?i)\b(?:change|update|correct|fix|replace|new)\b`)
	// slotFieldRe: the typed fields a loose change request can name.
	slotFieldRe = regexp.MustCompile(`(?i)\b(e-?mail|phone|mobile|cell|telephone)\b`)
	// capitalNameRe: two or three capitalised words, a person's name.
	capitalNameRe = regexp.MustCompile(`\b\p{Lu}[\p{L}'\-]+(?:\s+\p{Lu}[\p{L}'\-]+){1,2}`)
	// leadWords open a sentence and are no part of a name.
	leadWords = wordSet("for please could can would will the hey hi hello dear update change")
)

// slotUpdate reads a change told loosely, in any order ("For John Smith
// at Acme, could you change his e-mail address? The new one is
// j.smith@acme.com"): a word asking for a change, one typed field (an
// e-mail or a phone), exactly one value of that type, and a name. The
// typed value keeps the guess narrow; the search by name still decides
// which contact, and asks when several match.
func (p parser) slotUpdate() (intent, bool) {
	if !slotVerbRe.MatchString(p.text) {
		return intent{}, false
	}
	fields := slotFieldRe.FindAllString(p.text, -1)
	if len(fields) == 0 {
		return intent{}, false
	}
	field := canonicalField(fields[0])
	for _, f := range fields[1:] {
		if canonicalField(f) != field {
			return intent{}, false
		}
	}
	var value string
	switch field {
	case "email":
		all := emailRe.FindAllString(p.text, -1)
		if len(all) != 1 {
			return intent{}, false
		}
		value = all[0]
	case "phone":
		phone, _, _, ok := findPhone(p.text)
		if !ok {
			return intent{}, false
		}
		value = phone
	default:
		return intent{}, false
	}
	name := ""
	for _, m := range capitalNameRe.FindAllString(p.text, -1) {
		words := strings.Fields(m)
		for len(words) > 0 && leadWords[strings.ToLower(words[0])] {
			words = words[1:]
		}
		if len(words) >= 2 && looksLikeName(strings.Join(words, " "), false) {
			name = strings.Join(words, " ")
			break
		}
	}
	if name == "" {
		return intent{}, false
	}
	return intent{kind: intentUpdateContact, targetName: name, changes: []fieldChange{{Field: field, Value: value}}}, true
}

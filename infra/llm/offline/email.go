package offline

import (
	"regexp"
	"slices"
	"strings"
)

const (
	toolSendEmail = "send_email"
	toolListTeams = "list_teams"
)

// emailSpec is an e-mail to send: who gets it, and what it says, given by
// the caller or composed from what the request is about.
type emailSpec struct {
	addresses []string
	// names are contacts to find by name; contactID is the contact the
	// request points at ("email him"); team a team found by name.
	names     []string
	contactID string
	greetName string
	team      string
	teamID    string
	// department: every member of the department's teams gets the mail.
	department string

	subject, body string
	// purposeWord ("introducing", "about", …) and purpose are what the
	// mail is about, for the template.
	purposeWord, purpose string
	// docQuery or docID names a document whose text the mail carries;
	// useSummary sends the summary an earlier step wrote.
	docQuery   string
	docID      string
	useSummary bool
	// unknown holds recipients that are neither an address, a contact
	// nor a team.
	unknown []string
}

// purposeWords are the words that start what a mail is about.
const purposeWords = `about|regarding|re:?|concerning|introducing|to\s+introduce|announcing|to\s+announce|` +
	`to\s+say|saying|telling\s+(?:them|him|her|everyone|everybody|all|people|the\s+team|us)|to\s+tell\s+(?:them|him|her|everyone|everybody|all|people|the\s+team|us)|that|with\s+(?:the\s+)?subject|subject\b|` +
	`inviting\s+(?:them|him|her|everyone|everybody|all|people|the\s+team|us)?\s*to|to\s+invite\s+(?:them|him|her|everyone|everybody|all|people|the\s+team|us)\s+to|thanking\s+(?:them|him|her|everyone|everybody|all|people|the\s+team|us)?\s*for|to\s+thank\s+(?:them|him|her|everyone|everybody|all|people|the\s+team|us)\s+for|` +
	`reminding\s+(?:them|him|her|everyone|everybody|all|people|the\s+team|us)?\s*(?:about|of|to|that)|to\s+remind\s+(?:them|him|her|everyone|everybody|all|people|the\s+team|us)\s+(?:about|of|to)|` +
	`asking\s+(?:them|him|her|everyone|everybody|all|people|the\s+team|us)?\s*(?:to|for|about|if|whether)|to\s+ask\s+(?:them|him|her|everyone|everybody|all|people|the\s+team|us)?\s*(?:to|for|about|if|whether)|` +
	`to\s+let\s+(?:them|him|her|everyone|everybody|all|people|the\s+team|us)\s+know|letting\s+(?:them|him|her|everyone|everybody|all|people|the\s+team|us)\s+know|to\s+confirm|confirming|to\s+follow\s+up\s+on|following\s+up\s+on|` +
	`and\s+thank\s+(?:them|him|her|everyone|everybody|all|people|the\s+team|us)\s+for|and\s+congratulate\s+(?:them|him|her)\s+on|` +
	`and\s+ask\s+(?:them|him|her)\s+(?:if|whether|to|about|for)|welcoming(?:\s+(?:them|him|her))?|congratulating\s+(?:them|him|her)\s+(?:on|for)|` +
	`with|attaching|including|body\b|:`

var (
	// emailNoun is the word for the message itself.
	emailNoun = `(?:e-?mail|mail|message|note|line|reminder|invite|invitation|update|heads-?up|thank-?you(?:\s+note)?)`
	// sendEmailToRe: "Send an email to Ann Lee introducing …".
	sendEmailToRe = regexp.MustCompile(`(?i)^(?:send|write|compose|draft|shoot|drop|fire\s+off)\s+(?:out\s+)?(?:an?\s+|the\s+)?((?:[\w-]+\s+){0,2}?` + emailNoun + `)\s+(?:e-?mail\s+)?(?:to\s+)?(.+)$`)
	// sendPersonEmailRe: "Send Ann Lee an email about …".
	sendPersonEmailRe = regexp.MustCompile(`(?i)^(?:send|write|drop|shoot)\s+(.+?)\s+(?:an?\s+)((?:[\w-]+\s+){0,2}?` + emailNoun + `)\b[\s,:]*(.*)$`)
	// sendPersonThingRe: "Send Priya the pricing deck".
	sendPersonThingRe = regexp.MustCompile(`(?i)^(?:send|forward|e-?mail|mail)\s+(.+?)\s+((?:the|our|this|that|my)\s+.+)$`)
	// shareWithRe: "Share the onboarding checklist with the Support team (by email)".
	shareWithRe = regexp.MustCompile(`(?i)^(?:share|send)\s+(.+?)\s+with\s+(.+?)(?:\s+(?:by|via|over)\s+e-?mail)?$`)
	// tellColonRe: "Tell the Support team: maintenance tonight from 22:00".
	tellColonRe = regexp.MustCompile(`(?i)^(?:tell|inform|notify|message)\s+([^:]+?)\s*:\s*(.+)$`)
	// remindByEmailRe: "Remind John Smith by email about the invoice".
	remindByEmailRe = regexp.MustCompile(`(?i)^remind\s+(.+?)\s+(?:by|via|in\s+an?)\s+e-?mail\s+(about|of|to|that)\s+(.+)$`)
	// selfRe: the caller, who is no recipient ("tell me about …").
	selfRe = regexp.MustCompile(`(?i)^(?:me|us|myself)$`)
	// sendThingToRe: "Email the summary to the sales team", "Forward the
	// Q1 report to ann@initech.com", "Send it to John Smith".
	sendThingToRe = regexp.MustCompile(`(?i)^(?:send|forward|share|e-?mail|mail)\s+(.+?)\s+(?:over\s+)?to\s+(.+)$`)
	// emailVerbRe: "Email john@acme.com about …", "Notify the support team that …".
	emailVerbRe = regexp.MustCompile(`(?i)^(?:e-?mail|mail|message|ping|notify|write\s+to|reach\s+out\s+to|get\s+in\s+touch\s+with)\s+(.+)$`)
	// letKnowRe: "Let the sales team know that …".
	letKnowRe = regexp.MustCompile(`(?i)^let\s+(.+?)\s+know\s+(?:that\s+|about\s+)?(.+)$`)
	// tellRe: "Tell Ann Lee (by email) that …".
	tellRe = regexp.MustCompile(`(?i)^tell\s+(.+?)\s+(?:by\s+e-?mail\s+|via\s+e-?mail\s+|in\s+an\s+e-?mail\s+)?(that|about)\s+(.+)$`)

	// purposeRe marks where the recipients end and what the mail is about
	// begins.
	purposeRe = regexp.MustCompile(`(?i)(?:\s*[:\-–—]\s*|\s+)(` + purposeWords + `)(?:\s*:)?(?:\s+|$)`)
	// purposeStartRe reads the marker at the start of what follows the
	// recipients.
	purposeStartRe  = regexp.MustCompile(`(?i)^(?:[:\-–—]\s*)?(` + purposeWords + `)(?:\s*:)?(?:\s+|$)`)
	subjectQuotedRe = regexp.MustCompile(`(?i)subject\s*(?:line\s*)?(?::|=|of|as)?\s*"([^"]+)"`)
	subjectPlainRe  = regexp.MustCompile(`(?i)subject\s*(?:line\s*)?(?::|=)\s*([^";]+?)\s*(?:[;,.\-]?\s*(?:and\s+)?(?:the\s+)?(?:body|text|message)\b|[.;]?$)`)
	bodyQuotedRe    = regexp.MustCompile(`(?i)(?:body|text|message|saying|says|:)\s*(?::|=)?\s*"([^"]+)"`)
	bodyPlainRe     = regexp.MustCompile(`(?i)(?:body|text|message)\s*(?::|=)\s*(.+)$`)
	// teamItemRe / everyoneInRe read a team as a recipient.
	teamItemRe   = regexp.MustCompile(`(?i)^(?:the\s+)?(?:whole\s+|entire\s+)?(.+?)\s+(?:team|group|squad)$`)
	deptItemRe   = regexp.MustCompile(`(?i)^(?:everyone\s+in\s+|all\s+of\s+)?(?:the\s+)?(?:whole\s+|entire\s+)?(.+?)\s+(?:department|dept\.?)$`)
	everyoneInRe = regexp.MustCompile(`(?i)^(?:everyone|everybody|all(?:\s+the)?(?:\s+members)?|the\s+members|(?:all\s+)?members)\s+(?:in|on|of|at)\s+(?:the\s+)?(.+?)(?:\s+(?:team|department))?$`)
	// recipientRefRe: the contact an earlier step or the context names.
	recipientRefRe = regexp.MustCompile(`(?i)^(?:him|her|them|this\s+contact|that\s+contact|this\s+person|that\s+person|the\s+contact)$`)
	// summaryRefRe: the summary an earlier step wrote.
	summaryRefRe = regexp.MustCompile(`(?i)^(?:the|this|that|my|your)\s+(?:summary|gist|recap|overview)$`)
)

func normalizeQuotes(s string) string {
	return strings.NewReplacer("“", `"`, "”", `"`, "„", `"`).Replace(s)
}

// noEmailTextProblem answers an e-mail request that says nothing of
// what the mail should say.
const noEmailTextProblem = "What should the email say? I sent nothing; please say what it is about, for example " +
	`"Email Ann Lee about the renewal", or give its text in quotes.`

// sendEmail reads the e-mail phrasings.
func (p parser) sendEmail() (intent, bool) {
	text := normalizeQuotes(p.text)
	var e emailSpec
	recipients, rest, ok := p.emailShape(&e, text)
	if !ok {
		return intent{}, false
	}
	p.readRecipients(&e, recipients)
	p.readContent(&e, rest)
	in := intent{kind: intentSendEmail, email: e}
	switch {
	case len(e.unknown) > 0:
		in.problem = "I could not tell who should get the email (" + quoteList(e.unknown) + "), so I sent nothing. " +
			"Please give an e-mail address, a contact's name or a team."
	case len(e.addresses) == 0 && len(e.names) == 0 && e.contactID == "" && e.team == "" && e.department == "":
		in.problem = "Who should get the email? I sent nothing; please give an e-mail address, a contact's name or a team."
	case e.body == "" && e.purpose == "" && e.docQuery == "" && e.docID == "" && !e.useSummary && !saysItself(e.purposeWord):
		in.problem = noEmailTextProblem
	case e.useSummary && p.prior.text == "":
		in.problem = "Which summary should I send? No earlier step wrote one, so I sent nothing."
	}
	return in, true
}

// colonSingleQuoteRe: recipients, a colon, then the text in single quotes.
var colonSingleQuoteRe = regexp.MustCompile(`^(.+?)\s*:\s*'(.+)'[.!]?$`)

// determiners start what an e-mail carries after its recipients.
var determiners = wordSet("the a an our my this these those your")

// emailShape tries the e-mail phrasings in turn; a shape whose parts do
// not read (the "thing" of "send X to Y" is no document or summary) gives
// way to the next.
func (p parser) emailShape(e *emailSpec, text string) (recipients, rest string, ok bool) {
	if m := sendEmailToRe.FindStringSubmatch(text); m != nil && !pronounWordRe.MatchString(m[1]) {
		recipients, rest = splitPurpose(m[2])
		if rest == "" {
			rest = nounPurpose(m[1])
		} else if w := nounPurpose(m[1]); w != "" && !purposeStartRe.MatchString(rest) {
			rest = w + " " + rest
		}
		return recipients, rest, true
	}
	if m := sendPersonEmailRe.FindStringSubmatch(text); m != nil {
		recipients, rest = m[1], m[3]
		if r, purpose := splitPurpose("x " + rest); r == "x" {
			rest = purpose
		}
		if w := nounPurpose(m[2]); w != "" && !purposeStartRe.MatchString(rest) {
			rest = w + " " + strings.TrimPrefix(strings.TrimSpace(rest), "to ")
		}
		return recipients, rest, true
	}
	if m := sendThingToRe.FindStringSubmatch(text); m != nil && p.readThing(e, cleanValue(m[1])) {
		recipients, rest = splitPurpose(m[2])
		return recipients, rest, true
	}
	if m := sendPersonThingRe.FindStringSubmatch(text); m != nil && !purposeRe.MatchString(" "+m[2]) && !purposeRe.MatchString(" "+m[1]+" ") {
		var probe emailSpec
		if p.readThing(&probe, cleanValue(m[2])) && (looksLikeName(cleanValue(m[1]), p.lower) || recipientRefRe.MatchString(m[1])) {
			*e = probe
			return m[1], "", true
		}
	}
	if m := shareWithRe.FindStringSubmatch(text); m != nil && p.readThing(e, cleanValue(m[1])) {
		return m[2], "", true
	}
	if m := letKnowRe.FindStringSubmatch(text); m != nil {
		return m[1], "that " + m[2], true
	}
	if m := tellColonRe.FindStringSubmatch(text); m != nil && !selfRe.MatchString(m[1]) {
		return m[1], `"` + m[2] + `"`, true
	}
	if m := tellRe.FindStringSubmatch(text); m != nil && !selfRe.MatchString(m[1]) {
		return m[1], m[2] + " " + m[3], true
	}
	if m := remindByEmailRe.FindStringSubmatch(text); m != nil && !selfRe.MatchString(m[1]) {
		return m[1], "reminding " + m[2] + " " + m[3], true
	}
	if m := emailVerbRe.FindStringSubmatch(text); m != nil {
		recipients, rest = splitPurpose(m[1])
		return recipients, rest, true
	}
	return "", "", false
}

// saysItself: a welcome or a congratulation needs no more words.
func saysItself(word string) bool {
	return strings.Contains(word, "welcom") || strings.Contains(word, "congratulat") || strings.Contains(word, "thank")
}

var (
	recipientSplitRe    = regexp.MustCompile(`\s*,\s*(?:and\s+)?|\s+and\s+|\s*;\s*`)
	leadingQuoteRe      = regexp.MustCompile(`^"([^"]+)"`)
	congratulationsRe   = regexp.MustCompile(`(?i)^congratulations?(?:\s+(?:on|for)\s+(.+))?$`)
	possessivePronounRe = regexp.MustCompile(`(?i)\b(?:their|his)\b`)
	objectPronounYouRe  = regexp.MustCompile(`(?i)\b(?:them|him)\b`)
)

// pronounWordRe: a person in what should be the kind of message ("send
// them an invite" names the recipient first).
var pronounWordRe = regexp.MustCompile(`(?i)\b(?:them|him|her|us|me|you)\b`)

// nounPurpose reads what the kind of message says it is for: an invite
// invites, a reminder reminds.
func nounPurpose(noun string) string {
	n := strings.ToLower(noun)
	switch {
	case strings.Contains(n, "welcome"):
		return "welcoming them"
	case strings.Contains(n, "congratulat"):
		return "congratulating them on"
	case strings.Contains(n, "invit"):
		return "inviting them to"
	case strings.Contains(n, "reminder"):
		return "reminding them about"
	case strings.Contains(n, "thank"):
		return "thanking them for"
	}
	return ""
}

// splitPurpose cuts "Ann Lee about the renewal" into the recipients and
// what follows them. Without a marker, an address or a team at the start
// is taken as the recipients and the rest as what to send.
func splitPurpose(s string) (recipients, rest string) {
	s = strings.TrimSpace(s)
	if m := colonSingleQuoteRe.FindStringSubmatch(s); m != nil {
		// "the Sales team: 'Pipeline review moved to 3pm.'"
		return strings.TrimSpace(m[1]), `"` + m[2] + `"`
	}
	if i := strings.Index(s, `"`); i > 0 {
		// `Ann Lee: "Thanks for today."`: the quote is the text.
		if head := strings.TrimRight(strings.TrimSpace(s[:i]), ":,-–— "); !purposeRe.MatchString(head) {
			return head, s[i:]
		}
	}
	if m := purposeRe.FindStringIndex(s); m != nil && m[0] > 0 {
		return strings.TrimSpace(s[:m[0]]), strings.TrimSpace(s[m[0]:])
	}
	fields := strings.Fields(s)
	if len(fields) > 1 && recipientRefRe.MatchString(fields[0]) {
		// "her the onboarding checklist".
		return fields[0], strings.Join(fields[1:], " ")
	}
	for k := 1; k < len(fields); k++ {
		// "Ann Lee the meeting notes": a name, then what to send.
		if determiners[strings.ToLower(fields[k])] && !emailRe.MatchString(fields[0]) {
			return strings.Join(fields[:k], " "), strings.Join(fields[k:], " ")
		}
	}
	n := 0
	for n < len(fields) && (emailRe.MatchString(fields[n]) || strings.EqualFold(fields[n], "and") || fields[n] == ",") {
		n++
	}
	if n > 0 && n < len(fields) {
		return strings.Join(fields[:n], " "), strings.Join(fields[n:], " ")
	}
	return s, ""
}

// readThing reads what "send X to …" sends: an earlier summary, an
// earlier document, or a document by name.
func (p parser) readThing(e *emailSpec, what string) bool {
	switch {
	case summaryRefRe.MatchString(what):
		e.useSummary = true
		return true
	case docRefRe.MatchString(what) || strings.EqualFold(what, "it"):
		if p.prior.last == "document" && p.prior.document != nil {
			e.docID = p.prior.document.ID
			return true
		}
		if p.prior.text != "" {
			e.useSummary = true
			return true
		}
		return false
	}
	if _, q, ok := p.docTarget(what); ok && q != "" {
		e.docQuery = q
		return true
	}
	return false
}

// readRecipients sorts the recipients into addresses, contacts by name,
// the earlier contact and a team.
func (p parser) readRecipients(e *emailSpec, s string) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "to "))
	for _, item := range recipientSplitRe.Split(s, -1) {
		item = cleanValue(item)
		switch {
		case item == "":
		case emailRe.MatchString(item):
			e.addresses = append(e.addresses, emailRe.FindString(item))
		case recipientRefRe.MatchString(item):
			switch {
			case p.ctx.isContact():
				e.contactID = p.ctx.EntityID
			case p.prior.contact != nil && p.prior.contact.ID != "":
				e.contactID, e.greetName = p.prior.contact.ID, p.prior.contact.Name
			case p.prior.team != nil && strings.EqualFold(item, "them"):
				e.team, e.teamID = p.prior.team.Name, p.prior.team.ID
			default:
				e.unknown = append(e.unknown, item)
			}
		case deptItemRe.MatchString(item):
			e.department = cleanValue(deptItemRe.FindStringSubmatch(item)[1])
		case everyoneInRe.MatchString(item):
			e.team = cleanValue(everyoneInRe.FindStringSubmatch(item)[1])
		case teamItemRe.MatchString(item):
			e.team = cleanValue(teamItemRe.FindStringSubmatch(item)[1])
		case looksLikeName(item, p.lower) || item == strings.ToLower(item) && len(strings.Fields(item)) <= 3 && looksLikeName(capitalizeWords(item), false):
			e.names = append(e.names, item)
		default:
			e.unknown = append(e.unknown, item)
		}
	}
}

// readContent reads what the mail says: a quoted subject and body, a
// document or summary to carry, or what it is about.
func (p parser) readContent(e *emailSpec, s string) {
	// "Subject: … | Body: …": a bar separates labelled parts.
	s = strings.TrimSpace(strings.ReplaceAll(s, "|", ";"))
	if m := subjectQuotedRe.FindStringSubmatchIndex(s); m != nil {
		e.subject = strings.TrimSpace(s[m[2]:m[3]])
		// What follows the subject ("… saying lunch is at 1pm") is the body.
		s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s[:m[0]]+" "+s[m[1]:]), "with the "))
	} else if m := subjectPlainRe.FindStringSubmatch(s); m != nil {
		e.subject = cleanValue(m[1])
	}
	if m := leadingQuoteRe.FindStringSubmatch(s); m != nil {
		e.body = strings.TrimSpace(m[1])
	} else if m := bodyQuotedRe.FindStringSubmatch(s); m != nil && m[1] != e.subject {
		e.body = strings.TrimSpace(m[1])
	} else if m := bodyPlainRe.FindStringSubmatch(s); m != nil {
		e.body = cleanValue(m[1])
	}
	if e.body != "" {
		return
	}
	if e.subject != "" {
		if m := purposeStartRe.FindStringSubmatchIndex(s); m == nil || strings.TrimSpace(s[m[1]:]) == "" {
			e.body = e.subject
			return
		}
	}
	word, rest := "", s
	if m := purposeStartRe.FindStringSubmatchIndex(s); m != nil {
		word, rest = strings.ToLower(strings.Join(strings.Fields(s[m[2]:m[3]]), " ")), strings.TrimSpace(s[m[1]:])
	}
	rest = cleanValue(rest)
	if m := congratulationsRe.FindStringSubmatch(rest); m != nil && word == "" {
		e.purposeWord, e.purpose = "congratulating them on", cleanValue(m[1])
		return
	}
	switch {
	case word == "with" || word == "attaching" || word == "including" || word == "":
		if rest == "" {
			return
		}
		if p.readThing(e, rest) {
			return
		}
		if word == "" && looksLikeWords(rest) {
			// "Email Ann the meeting notes": what to send, not a document.
			e.purposeWord, e.purpose = "about", rest
			return
		}
		e.purposeWord, e.purpose = "about", rest
	default:
		e.purposeWord, e.purpose = word, rest
	}
}

// compose writes the subject and body of the mail from the spec.
func (e emailSpec) compose(greetName, docTitle, docText, summary string, team bool) (subject, body string) {
	subject = e.subject
	purpose := youForm(e.purpose)
	w := e.purposeWord
	var line string
	switch {
	case strings.Contains(w, "introduc"):
		subject, line = "Introducing "+purpose, "I'm writing to introduce "+purpose+"."
	case strings.Contains(w, "announc"):
		subject, line = "Announcing "+purpose, "I'm pleased to announce "+purpose+"."
	case strings.Contains(w, "invit"):
		subject, line = "Invitation: "+purpose, "I'd like to invite you to "+purpose+"."
	case strings.Contains(w, "thank"):
		subject, line = "Thank you", "Thank you for "+purpose+"."
	case strings.Contains(w, "welcom"):
		subject, line = "Welcome", "Welcome! We're glad to have you with us."
		if purpose != "" {
			line = "Welcome! " + capitalize(strings.TrimRight(purpose, ".!")) + "."
		}
	case strings.Contains(w, "congratulat"):
		subject, line = "Congratulations", "Congratulations!"
		if purpose != "" {
			subject, line = "Congratulations on "+purpose, "Congratulations on "+purpose+"!"
		}
	case strings.Contains(w, "remind"):
		joiner := "about "
		if strings.HasSuffix(w, " to") {
			joiner = "to "
		}
		subject, line = "Reminder: "+purpose, "A quick reminder "+joiner+purpose+"."
	case strings.Contains(w, "ask"):
		subject, line = "Request: "+purpose, "Could you please let me know about "+purpose+"?"
		switch {
		case strings.HasSuffix(w, " to"):
			line = "Could you please " + purpose + "?"
		case strings.HasSuffix(w, " if") || strings.HasSuffix(w, " whether"):
			subject, line = "Question: "+firstWords(purpose, 8), "Could you let me know if "+purpose+"?"
		}
	case strings.Contains(w, "confirm"):
		subject, line = "Confirming "+purpose, "I'm writing to confirm "+purpose+"."
	case strings.Contains(w, "follow"):
		subject, line = "Following up on "+purpose, "I'm following up on "+purpose+"."
	case w == "that" || strings.Contains(w, "say") || strings.Contains(w, "tell") || strings.Contains(w, "know"):
		subject, line = firstWords(purpose, 8), capitalize(strings.TrimRight(purpose, ".!"))+"."
	case purpose != "":
		subject, line = capitalize(purpose), "I'm writing about "+purpose+"."
	}
	if e.subject != "" {
		subject = e.subject
	}
	if subject == "" {
		switch {
		case docTitle != "":
			subject = docTitle
		case summary != "":
			subject, _, _ = strings.Cut(summary, ":")
		}
	}
	if e.body != "" {
		return capitalize(subject), e.body
	}
	greeting := "Hello,"
	switch {
	case greetName != "":
		greeting = "Hello " + strings.Fields(greetName)[0] + ","
	case team:
		greeting = "Hello everyone,"
	}
	parts := []string{greeting}
	if line != "" {
		parts = append(parts, line)
	}
	switch {
	case docText != "":
		parts = append(parts, "Here is "+quote(docTitle)+":", docText)
	case summary != "":
		parts = append(parts, summary)
	}
	parts = append(parts, "Best regards")
	return capitalize(subject), strings.Join(parts, "\n\n")
}

// youForm speaks to the reader: "their renewal" becomes "your renewal".
func youForm(s string) string {
	return possessivePronounRe.ReplaceAllString(objectPronounYouRe.ReplaceAllString(s, "you"), "your")
}

func firstWords(s string, n int) string {
	words := strings.Fields(strings.TrimRight(s, ".!"))
	if len(words) > n {
		return capitalize(strings.Join(words[:n], " ")) + "…"
	}
	return capitalize(strings.Join(words, " "))
}

// memberAddress finds a workspace member by name, for a recipient who is
// no contact: ok false means the list is still to be fetched (d asks
// for it) or could not be read; addr "" means no single member matches.
func (p planner) memberAddress(name string) (addr string, d decision, ok bool) {
	if !p.tools[toolListMembers] {
		return "", decision{}, true
	}
	s, found := p.t.latest(toolListMembers)
	if !found {
		return "", p.call(toolListMembers, map[string]string{}), false
	}
	members, _, readable := memberListResult(s.result)
	if !readable {
		return "", couldNot(unreadableReply(toolListMembers)), false
	}
	var match []memberRecord
	for _, m := range members {
		if memberMatches(m, name) {
			match = append(match, m)
		}
	}
	switch len(match) {
	case 1:
		return match[0].Email, decision{}, true
	case 0:
		return "", decision{}, true
	}
	var emails []string
	for _, m := range match {
		emails = append(emails, m.Email)
	}
	return "", clarify("Several members of the workspace match " + quote(name) + " (" + joinAnd(emails) + "), so I sent nothing. Which one do you mean?"), false
}

// sendEmail finds each recipient, the document to carry, then sends. A
// name that matches several contacts sends nothing: it asks which.
func (p planner) sendEmail() decision {
	e := p.in.email
	var contactIDs, extra []string
	greet := e.greetName
	for i, name := range e.names {
		s, ok := p.t.nth(toolSearchContacts, i)
		if !ok {
			return p.call(toolSearchContacts, map[string]string{"name": name})
		}
		contacts, total, ok := contactListResult(s.result)
		if !ok {
			return couldNot(unreadableReply(toolSearchContacts))
		}
		if len(contacts) == 0 {
			// Not a contact: perhaps a colleague, a member of the workspace.
			if addr, d, ok := p.memberAddress(name); !ok {
				return d
			} else if addr != "" {
				extra = append(extra, addr)
				if len(e.names) == 1 && len(e.addresses) == 0 {
					greet = name
				}
				continue
			}
			return clarify("I found no contact or member named " + quote(name) + ", so I sent nothing. Please check the name or give an e-mail address.")
		}
		choice := pickContact(name, contacts)
		if c, ok := p.chosenContact(contacts); ok {
			choice.contact, choice.exact = c, 1
		}
		if max(total, len(contacts)) > 1 && choice.exact != 1 {
			return clarify(ambiguousContactsReply(name, "email", contacts, max(total, len(contacts))), contactCandidates(contacts)...)
		}
		if choice.contact.Email == "" {
			return couldNot(orUnnamed(choice.contact.Name) + " has no e-mail address, so I sent nothing.")
		}
		contactIDs = append(contactIDs, choice.contact.ID)
		if len(e.names) == 1 && len(e.addresses) == 0 {
			greet = choice.contact.Name
		}
	}
	if e.contactID != "" {
		if c := p.t.prior.contact; c != nil && c.ID == e.contactID && c.Email == "" && c.Name != "" {
			return couldNot(c.Name + " has no e-mail address, so I sent nothing.")
		}
		contactIDs = append(contactIDs, e.contactID)
	}
	addresses := append(slices.Clone(e.addresses), extra...)
	if e.department != "" {
		s, ok := p.t.nth(toolListTeams, 0)
		if !ok {
			return p.call(toolListTeams, map[string]string{"name": e.department})
		}
		teams, _, ok := teamListResult(s.result)
		if !ok {
			return couldNot(unreadableReply(toolListTeams))
		}
		seen := map[string]bool{}
		for _, a := range addresses {
			seen[strings.ToLower(a)] = true
		}
		found := false
		for _, t := range teams {
			if !sameWords(t.Department, e.department) {
				continue
			}
			found = true
			for _, m := range t.Members {
				if m.Email != "" && !seen[strings.ToLower(m.Email)] {
					seen[strings.ToLower(m.Email)] = true
					addresses = append(addresses, m.Email)
				}
			}
		}
		if !found {
			return clarify("I found no department named " + quote(e.department) + " with teams, so I sent nothing.")
		}
		if len(addresses) == 0 {
			return couldNot("The " + e.department + " department's teams have no members, so I sent nothing.")
		}
	}
	teamID := e.teamID
	if e.team != "" && teamID == "" {
		nth := 0
		if e.department != "" {
			nth = 1
		}
		s, ok := p.t.nth(toolListTeams, nth)
		if !ok {
			return p.call(toolListTeams, map[string]string{"name": e.team})
		}
		teams, _, ok := teamListResult(s.result)
		if !ok {
			return couldNot(unreadableReply(toolListTeams))
		}
		switch {
		case len(teams) == 0:
			return clarify("I found no team matching " + quote(e.team) + ", so I sent nothing.")
		case len(teams) > 1 && strings.EqualFold(p.t.context.EntityType, "team"):
			for _, t := range teams {
				if t.ID == p.t.context.EntityID {
					teamID = t.ID
				}
			}
			if teamID == "" {
				return clarify("Several teams match "+quote(e.team)+", so I sent nothing. Which one do you mean?", teamCandidates(teams)...)
			}
		case len(teams) > 1:
			exact := -1
			for i, t := range teams {
				if sameWords(t.Name, e.team) || sameWords(t.Name, e.team+" team") {
					if exact >= 0 {
						exact = -2
						break
					}
					exact = i
				}
			}
			if exact < 0 {
				var names []string
				for _, t := range teams {
					names = append(names, quote(t.Name)+idSuffix(t.ID))
				}
				return clarify("Several teams match "+quote(e.team)+" ("+joinAnd(names)+"), so I sent nothing. Which one do you mean?", teamCandidates(teams)...)
			}
			teamID = teams[exact].ID
		default:
			teamID = teams[0].ID
		}
	}
	var docTitle, docText string
	if e.docQuery != "" || e.docID != "" {
		docID := e.docID
		if docID == "" {
			s, ok := p.t.latest(toolSearchDocuments)
			if !ok {
				return p.call(toolSearchDocuments, map[string]string{"query": e.docQuery})
			}
			docs, _, ok := documentListResult(s.result)
			if !ok {
				return couldNot(unreadableReply(toolSearchDocuments))
			}
			if len(docs) == 0 {
				return clarify("I found no document matching " + quote(e.docQuery) + ", so I sent nothing.")
			}
			docID = docs[0].ID
		}
		s, ok := p.t.latest(toolReadDocument)
		if !ok {
			return p.call(toolReadDocument, map[string]string{"id": docID})
		}
		doc, ok := documentResult(s.result)
		if !ok {
			return couldNot(unreadableReply(toolReadDocument))
		}
		docTitle, docText = doc.Title, clip(doc.Body, 4000)
	}
	summary := ""
	if e.useSummary {
		summary = p.t.prior.text
	}
	if s, ok := p.t.latest(toolSendEmail); ok {
		sent, ok := emailResult(s.result)
		if !ok {
			return couldNot(unreadableReply(toolSendEmail))
		}
		to := joinAnd(sent.To)
		if to == "" {
			to = "its recipients"
		}
		subject := quote(firstNonEmpty(sent.Subject, stringArg(s.call.Arguments, "subject")))
		switch sent.Status {
		case "outbox":
			// No mail server is set: the gateway keeps the mail instead.
			return replyWith("I wrote the email " + subject + " to " + to + "; it is kept in the outbox, as no mail server is set up" + idSuffix(sent.ID) + ".")
		case "sandbox":
			// A test key's mail: recorded, never handed to a mail server.
			return replyWith("I wrote the email " + subject + " to " + to + "; this is a test key, so it is recorded and was not sent" + idSuffix(sent.ID) + ".")
		case "queued":
			return replyWith("I queued the email " + subject + " to " + to + idSuffix(sent.ID) + ".")
		case "failed":
			return couldNot("The email " + subject + " to " + to + " could not be sent" + idSuffix(sent.ID) + ".")
		}
		return replyWith("I sent the email " + subject + " to " + to + idSuffix(sent.ID) + ".")
	}
	subject, body := e.compose(greet, docTitle, docText, summary, teamID != "" || e.department != "")
	args := map[string]any{"subject": subject, "body": body}
	if len(addresses) > 0 {
		args["to"] = addresses
	}
	if len(contactIDs) > 0 {
		args["contact_ids"] = contactIDs
	}
	if teamID != "" {
		args["team_id"] = teamID
	}
	return p.call(toolSendEmail, args)
}

package offline

import (
	"regexp"
	"strings"
	"time"
	"unicode"
)

// contactFields are the attributes of a contact named in a request. Only the
// fields the caller gave are set.
type contactFields struct {
	Name, Company, Title, Email, Phone, City string
	// unread are parts of the request that fit no field: they are left out
	// of the contact and the reply says so, rather than fill a field with
	// words that do not belong there.
	unread []string
}

// args renders the fields as tool arguments, leaving out empty ones so the
// tool never receives blank values the caller did not ask for.
func (f contactFields) args() map[string]string {
	args := map[string]string{}
	for _, key := range contactFieldNames {
		if value := f.get(key); value != "" {
			args[key] = value
		}
	}
	return args
}

// contactFieldNames are the canonical fields, as the tools name them.
var contactFieldNames = []string{"name", "company", "title", "email", "phone", "city"}

// field is the canonical field of that name, nil for any other name: the
// one place that ties the tools' names to the struct.
func (f *contactFields) field(name string) *string {
	switch name {
	case "name":
		return &f.Name
	case "company":
		return &f.Company
	case "title":
		return &f.Title
	case "email":
		return &f.Email
	case "phone":
		return &f.Phone
	case "city":
		return &f.City
	}
	return nil
}

// set assigns one canonical field; unknown fields are ignored.
func (f *contactFields) set(field, value string) {
	if p := f.field(field); p != nil {
		*p = value
	}
}

// get reads one canonical field ("" for any other name).
func (f contactFields) get(field string) string {
	if p := f.field(field); p != nil {
		return *p
	}
	return ""
}

// fieldChange is one "field becomes value" of an update, kept in the order
// the caller wrote them so the reply reads back the same way.
type fieldChange struct {
	Field, Value string
}

// fieldWords is every way a request names a contact field; canonicalField
// maps each to the tool's argument name.
const fieldWords = `(?:full\s+)?name|company(?:\s+name)?|employer|organi[sz]ation|job\s+title|title|role|position|` +
	`e-?mail(?:\s+address)?|phone(?:\s+number)?|mobile(?:\s+(?:phone|number))?|telephone(?:\s+number)?|` +
	`cell(?:\s+phone)?|number|city|location|town`

// canonicalField maps a field word from fieldWords to a tool argument name.
func canonicalField(word string) string {
	w := strings.ToLower(strings.Join(strings.Fields(word), " "))
	switch {
	case strings.HasSuffix(w, "name") && !strings.HasPrefix(w, "company"):
		return "name"
	case strings.HasPrefix(w, "company"), w == "employer", strings.HasPrefix(w, "organi"):
		return "company"
	case strings.HasSuffix(w, "title"), w == "role", w == "position":
		return "title"
	case strings.HasPrefix(w, "e"):
		return "email"
	case strings.HasPrefix(w, "phone"), strings.HasPrefix(w, "mobile"), strings.HasPrefix(w, "telephone"),
		strings.HasPrefix(w, "cell"), w == "number":
		return "phone"
	case w == "city", w == "location", w == "town":
		return "city"
	}
	return ""
}

var (
	// emailRe finds a plain email address such as john@acme.com.
	emailRe = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)

	// labeledEmailRe finds an email together with a label in front of it
	// ("with email john@acme.com") so both can be cut out of the details.
	labeledEmailRe = regexp.MustCompile(`(?i)(?:\b(?:with\s+|and\s+)?e-?mail(?:\s+address)?\s*(?:is\s+|:\s*|=\s*)?)?` + emailRe.String())

	// labeledPhoneRe finds a phone number (checked for 7+ digits by
	// findPhone) with an optional label in front of it.
	labeledPhoneRe = regexp.MustCompile(`(?i)(?:\b(?:with\s+|and\s+)?(?:phone|tel|telephone|mobile|cell|number)(?:\s+number)?\s*(?:is\s+|:\s*|=\s*)?)?(\+?\(?\d[\d\s().\-/]{5,}\d)`)

	// markdownMailtoRe and angleEmailRe unwrap emails that chat clients turn
	// into links: [john@acme.com](mailto:john@acme.com) and <john@acme.com>.
	markdownMailtoRe = regexp.MustCompile(`(?i)\[[^\]]*\]\(mailto:([^)\s]+)\)`)
	angleEmailRe     = regexp.MustCompile(`(?i)<(?:mailto:)?([^<>\s@]+@[^<>\s]+)>`)
	bareMailtoRe     = regexp.MustCompile(`(?i)\bmailto:`)

	// politePrefixRe and politeSuffixRe strip courtesy words that carry no
	// meaning for the rules ("please", "could you", "thanks").
	// Each matches a whole run of such words at once, so a long run costs
	// one pass rather than one pass per word.
	// tagPrefixRe: "[Helpdesk] Ticket #4411:", "[Zapier] Action:": where a
	// request came from, not what it asks.
	tagPrefixRe    = regexp.MustCompile(`(?i)^(?:\[[^\]]{1,40}\]\s*)+(?:(?:ticket|case|issue|request)\s*#?\s*\d+\s*[:\-]\s*)?(?:action\s*:\s*)?`)
	politePrefixRe = regexp.MustCompile(`(?i)^(?:(?:hi there|hello there|hey there|please to|please|pls|kindly|hey|hi|hello|ok|okay|so|now|can you|could you|would you|will you|` +
		`i want to|i'd like to|i would like to|i need to|i need you to|go ahead and|help me|let's|lets|` +
		`fyi|btw|by the way|heads up|just so you know|quick update|note that|hi there|hello there|hey there|` +
		`morning|good morning|afternoon|good afternoon|evening|when you get a (?:sec|second|chance|minute|moment)|if you (?:can|could)|` +
		`can u|could u|would u|u)\b[\s,:!.\-]*)+`)
	politeSuffixRe = regexp.MustCompile(`(?i)(?:[\s,]+(?:please|pls|plz|thanks|thank you|thx|cheers|for me)[\s.!?;,]*)+$`)
	// trailingAskRe: ", can you update her record", "- please update the
	// CRM": the request already said what to change.
	trailingAskRe = regexp.MustCompile(`(?i)[\s,;.\-]+(?:(?:can|could|would|will)\s+you\s+)?(?:please\s+)?(?:update|change|fix|correct|edit|record|note|amend)\s+(?:(?:his|her|their|the|this|that)\s+)?(?:record|contact|entry|details|card|crm|it|that|this|title|job\s+title|role|company|city|phone(?:\s+number)?|mobile(?:\s+number)?|e-?mail(?:\s+address)?|number|address)\b[\s.!?]*$`)

	// descriptionRe finds an explicit task description after the title.
	descriptionRe = regexp.MustCompile(`(?i)[\s,;.]+(?:with\s+)?(?:description|details|notes?)\s*[:\-]\s*(.+)$`)
)

// normalize turns a request into one clean line: email links unwrapped,
// typographic quotes straightened, spaces collapsed, courtesy words and
// closing punctuation removed. Case is kept because names and companies are
// copied into tool arguments as the caller wrote them.
func normalize(s string) string {
	s = markdownMailtoRe.ReplaceAllString(s, "$1")
	s = angleEmailRe.ReplaceAllString(s, "$1")
	s = bareMailtoRe.ReplaceAllString(s, "")
	s = strings.NewReplacer("’", "'", "‘", "'", "“", `"`, "”", `"`, "–", "-", "—", "-").Replace(s)
	s = emoticonRe.ReplaceAllString(s, "")
	s = contractionRe.ReplaceAllStringFunc(s, fixContraction)
	s = singleQuotedRe.ReplaceAllString(s, `$1"$2"$3`)
	s = strings.Join(strings.Fields(s), " ")
	s = tagPrefixRe.ReplaceAllString(s, "")
	s = politePrefixRe.ReplaceAllString(s, "")
	s = trailingAskRe.ReplaceAllString(s, "")
	s = politeSuffixRe.ReplaceAllString(strings.TrimRight(s, ".!?; "), "")
	return strings.TrimSpace(strings.TrimRight(s, ".!?; "))
}

var (
	// emoticonRe: ":)", ";-)", ":D" carry no request.
	emoticonRe = regexp.MustCompile(`(?:^|\s)[:;]-?[)(DPp](?:\s|$)`)
	// contractionRe: contractions typed without their apostrophe.
	contractionRe = regexp.MustCompile(`(?i)\b(?:whats|thats|wheres|whos|hows|dont|doesnt|cant|wont|isnt|arent|ive|youre|theres)\b`)
	// singleQuotedRe: 'text' in single quotes reads as "text"; an
	// apostrophe inside a word (O'Connor, it's) opens nothing.
	singleQuotedRe = regexp.MustCompile(`(^|[\s:(])'([^'"]+)'($|[\s.,;:!?)])`)
)

// fixContraction puts the apostrophe back: "whats" reads "what's".
func fixContraction(w string) string {
	low := strings.ToLower(w)
	fixed := map[string]string{"whats": "what's", "thats": "that's", "wheres": "where's", "whos": "who's", "hows": "how's",
		"dont": "don't", "doesnt": "doesn't", "cant": "can't", "wont": "won't", "isnt": "isn't", "arent": "aren't",
		"ive": "I've", "youre": "you're", "theres": "there's"}[low]
	if w[:1] != low[:1] {
		return strings.ToUpper(fixed[:1]) + fixed[1:]
	}
	return fixed
}

// cleanValue trims what surrounds a captured value: spaces, closing
// punctuation and quotes.
func cleanValue(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimRight(s, ".,;:!? ")
	s = strings.Trim(s, `"'`+"`")
	return strings.TrimSpace(s)
}

// nameParticles may appear in lower case inside a capitalised name.
var nameParticles = wordSet("de da del della der den van von la le du dos das di bin al y")

// notNameWords rule a phrase out as a person's name: determiners, pronouns,
// prepositions and the nouns of requests the offline model does not handle
// ("Find the Q1 report").
var notNameWords = wordSet("the a an my our your their his her its this that these those all any every everyone " +
	"everybody anyone anybody someone somebody nobody me us them him i we you they he she it in at from of for " +
	"with on to by about based is are was who what which and or not report reports document documents file files " +
	"email emails message messages meeting meetings invoice invoices deal deals note notes calendar event events " +
	"task tasks contact contacts people person list details summary figures data numbers")

// looksLikeName reports whether a phrase can be a person's name: one to five
// words of letters (plus ' - .), none of them a function word, and
// capitalised unless the caller typed the whole request in lower case.
func looksLikeName(s string, lowerCaseRequest bool) bool {
	words := strings.Fields(s)
	if len(words) == 0 || len(words) > 5 {
		return false
	}
	for i, w := range words {
		if notNameWords[strings.ToLower(w)] {
			return false
		}
		runes := []rune(w)
		if !unicode.IsLetter(runes[0]) {
			return false
		}
		for _, r := range runes {
			if !unicode.IsLetter(r) && r != '\'' && r != '-' && r != '.' {
				return false
			}
		}
		if !lowerCaseRequest && !unicode.IsUpper(runes[0]) && (i == 0 || !nameParticles[strings.ToLower(w)]) {
			return false
		}
	}
	return true
}

// findPhone returns the first phone number with at least seven digits and
// the span it occupies including its label.
func findPhone(s string) (phone string, start, end int, ok bool) {
	for _, m := range labeledPhoneRe.FindAllStringSubmatchIndex(s, -1) {
		candidate := strings.TrimSpace(s[m[2]:m[3]])
		if countDigits(candidate) >= 7 {
			return candidate, m[0], m[1], true
		}
	}
	return "", 0, 0, false
}

func countDigits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

// Title words. A phrase is a job title when it starts with a titleStarts
// word ("Senior ...", "Head of ...") or ends with a titleEnds word
// ("... Manager"); "Acme Marketing" is neither, so it stays a company.
var (
	titleStarts = wordSet("ceo cto cfo coo cmo cio cpo vp svp evp head chief senior sr junior jr lead principal " +
		"director manager president founder co-founder cofounder owner partner managing general vice")
	titleEnds = wordSet("ceo cto cfo coo cmo cio cpo vp manager director engineer developer founder co-founder " +
		"cofounder officer president owner partner consultant analyst designer lead head architect administrator " +
		"coordinator intern recruiter accountant lawyer attorney assistant associate specialist executive " +
		"representative rep advisor adviser chairman chairwoman chair secretary treasurer buyer supervisor " +
		"scientist researcher editor writer producer")
	// ofCompanyTitles are titles that, followed by "of X", name the company
	// X ("CEO of Acme Corp"), unlike "Head of Sales" where X is a department.
	ofCompanyTitles = wordSet("ceo cto cfo coo cmo cio cpo founder co-founder cofounder owner president chairman " +
		"chairwoman partner employee member")
)

// looksLikeTitle reports whether a phrase reads as a job title.
func looksLikeTitle(s string) bool {
	words := strings.Fields(strings.ToLower(s))
	if len(words) == 0 {
		return false
	}
	return titleStarts[words[0]] || titleEnds[words[len(words)-1]]
}

var (
	// sentenceBreakRe, possessiveFieldRe and pronounIsRe turn sentences
	// about a new contact into details: ". His email is x" reads "email: x",
	// "she's the COO of Acme" reads "COO of Acme".
	sentenceBreakRe   = regexp.MustCompile(`(\S*)[.!?]\s+\p{L}`)
	possessiveFieldRe = regexp.MustCompile(`(?i)\b(?:his|her|their)\s+(` + fieldWords + `)\s+(?:is|=)\b`)
	pronounIsRe       = regexp.MustCompile(`(?i)\b(?:she|he|they)(?:'s|\s+is|\s+are)\s+(?:now\s+)?(?:the\s+|a\s+|an\s+)?`)
	// labeledFieldRe reads "company: Acme" or "city is London" segments.
	labeledFieldRe = regexp.MustCompile(`(?i)^(` + fieldWords + `)\s*(?::|=|\bis\b)\s*(.+)$|^(city|company|title|role|phone|mobile)\s+(\S.*)$`)
	// cityClauseRe finds "... based in London" / "... in London".
	cityClauseRe = regexp.MustCompile(`(?i)(?:^|\s+)(?:(?:who\s+)?(?:is\s+)?(?:based|located|living|lives)\s+)?in\s+(.+)$`)
	// worksAtRe finds "... who works at Acme" / "... working for Acme".
	worksAtRe = regexp.MustCompile(`(?i)^(.*?)\s*\b(?:who\s+)?(?:works|working|is\s+working|employed)\s+(?:at|for|by)\s+(.+)$`)
	// nameAtCompanyRe splits the first segment "John Smith at Acme Corp".
	nameAtCompanyRe = regexp.MustCompile(`(?i)^(.+?)\s+(?:at|from|of|with|@)\s+(.+)$`)
	// companyPrefixRe reads a later segment "at Acme Corp".
	companyPrefixRe = regexp.MustCompile(`(?i)^(?:at|from|of|with|@)\s+(.+)$`)
	// asTitleRe reads "as CEO" / "as a Sales Manager".
	asTitleRe = regexp.MustCompile(`(?i)^as\s+(?:an?\s+|the\s+)?(.+)$`)
	// leadingJoinerRe drops "and"/"with"/"who is" at the start of a segment.
	leadingJoinerRe = regexp.MustCompile(`(?i)^(?:and|with|who\s+is|the)\s+`)
	// labelOnlyRe matches segments that are only a leftover label.
	labelOnlyRe = regexp.MustCompile(`(?i)^(?:` + fieldWords + `|tel|and|with)?$`)
)

// parseContactDetails reads the details of a new contact, e.g.
// "John Smith at Acme Corp, john@acme.com, +44 7700 900000",
// "Jane Doe, CEO of Acme Corp, jane@acme.com" or
// "Ann Lee at Initech in London". The email and phone are cut out first
// (they contain commas and digits), then the comma-separated segments are
// read: the first holds the name, later ones a title, company or city.
func parseContactDetails(details string) contactFields {
	var f contactFields
	// "… to contacts. His email is …; she's the COO of …": sentences and
	// the pronouns that start them join the list of details.
	details = breakSentences(details)
	details = possessiveFieldRe.ReplaceAllString(details, "$1:")
	details = pronounIsRe.ReplaceAllString(details, "")
	if m := emailRe.FindString(details); m != "" {
		f.Email = m
		details = labeledEmailRe.ReplaceAllString(details, ", ")
	}
	if phone, start, end, ok := findPhone(details); ok {
		f.Phone = phone
		details = details[:start] + ", " + details[end:]
	}
	details = strings.NewReplacer("(", ",", ")", ",", " - ", ",", ";", ",", "|", ",").Replace(details)

	first := true
	for _, segment := range strings.Split(details, ",") {
		segment = cleanValue(leadingJoinerRe.ReplaceAllString(cleanValue(segment), ""))
		if labelOnlyRe.MatchString(segment) {
			continue
		}
		if m := labeledFieldRe.FindStringSubmatch(segment); m != nil && !(first && m[1] == "") {
			// A "city Leeds" without a mark is a label only after the name.
			label, value := m[1]+m[3], m[2]+m[4]
			field := canonicalField(label)
			if field == "name" {
				first = false
			}
			f.set(field, cleanValue(value))
			continue
		}
		if first {
			readNameSegment(&f, segment)
			first = false
			continue
		}
		readDetailSegment(&f, segment)
	}
	return f
}

// readNameSegment reads the first segment: a name, optionally followed by
// "at/from Company", "who works at Company" and "in/based in City".
func readNameSegment(f *contactFields, segment string) {
	segment = takeCity(f, segment)
	if m := worksAtRe.FindStringSubmatch(segment); m != nil && cleanValue(m[1]) != "" {
		f.Name, f.Company = cleanValue(m[1]), cleanValue(m[2])
		return
	}
	if m := nameAtCompanyRe.FindStringSubmatch(segment); m != nil {
		f.Name, f.Company = cleanValue(m[1]), cleanValue(m[2])
		return
	}
	f.Name = cleanValue(segment)
}

// readDetailSegment reads a later segment: "CEO of Acme Corp", "at Acme",
// "based in London", "as CEO", or a bare title or company.
func readDetailSegment(f *contactFields, segment string) {
	segment = takeCity(f, segment)
	if segment == "" {
		return
	}
	if m := worksAtRe.FindStringSubmatch(segment); m != nil {
		if t := cleanValue(m[1]); t != "" {
			f.Title = t
		}
		f.Company = cleanValue(m[2])
		return
	}
	if m := companyPrefixRe.FindStringSubmatch(segment); m != nil {
		f.Company = cleanValue(m[1])
		return
	}
	if m := asTitleRe.FindStringSubmatch(segment); m != nil {
		segment = m[1]
		if title, company, ok := splitTitleCompany(segment); ok {
			f.Title, f.Company = title, company
		} else {
			f.Title = cleanValue(segment)
		}
		return
	}
	if title, company, ok := splitTitleCompany(segment); ok {
		f.Title, f.Company = title, company
		return
	}
	switch {
	case courtesyRe.MatchString(segment):
		// "thanks so much": no detail of the contact.
	case !looksLikeWords(segment):
		f.unread = append(f.unread, segment)
	case looksLikeTitle(segment) && f.Title == "":
		f.Title = segment
	case f.City == "" && isKnownCity(segment):
		f.City = segment
	case f.Company == "":
		f.Company = segment
	case f.City == "" && looksLikePlace(segment):
		f.City = segment
	default:
		f.unread = append(f.unread, segment)
	}
}

// courtesyRe: thanks and sign-offs, which are no detail of a contact.
var courtesyRe = regexp.MustCompile(`(?i)^(?:(?:please\s+)?(?:create|add|save|make)\s+(?:a\s+|the\s+|this\s+)?(?:new\s+)?(?:contact|lead|record)(?:\s+record)?(?:\s+for\s+(?:me|us|them|this))?|(?:many\s+)?thanks?(?:\s+(?:so|very)\s+much)?|thank\s+you(?:\s+(?:so|very)\s+much)?|thx|ta|cheers|best|regards|kind\s+regards|best\s+regards|much\s+appreciated)\W*$`)

// looksLikeWords accepts what a name, company or title is written with:
// letters, digits, spaces and the punctuation of names ("O'Brien & Co.",
// "Smith-Jones Ltd"), not brackets or addresses ("[email protected]").
func looksLikeWords(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r) && !strings.ContainsRune("'’&.-/()+", r) {
			return false
		}
	}
	return strings.IndexFunc(s, unicode.IsLetter) >= 0
}

// looksLikePlace accepts a city: a few words of letters ("São Paulo",
// "Stoke-on-Trent", "St. Albans").
func looksLikePlace(s string) bool {
	if len(strings.Fields(s)) > 4 {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsSpace(r) && !strings.ContainsRune("'’.-", r) {
			return false
		}
	}
	return true
}

// takeCity moves a trailing "in London" / "based in London" clause of a
// segment into City and returns the rest.
func takeCity(f *contactFields, segment string) string {
	loc := cityClauseRe.FindStringSubmatchIndex(segment)
	if loc == nil {
		return segment
	}
	f.City = cleanValue(segment[loc[2]:loc[3]])
	return cleanValue(segment[:loc[0]])
}

// splitTitleCompany splits "CEO at Acme", "Head of Sales at Acme",
// "Engineer for Globex" and "CEO of Acme Corp" into title and company.
func splitTitleCompany(segment string) (title, company string, ok bool) {
	lower := strings.ToLower(segment)
	for _, sep := range []string{" at ", " @ ", " for "} {
		if i := strings.Index(lower, sep); i > 0 {
			return cleanValue(segment[:i]), cleanValue(segment[i+len(sep):]), true
		}
	}
	if i := strings.Index(lower, " of "); i > 0 && ofCompanyTitles[strings.TrimSpace(lower[:i])] {
		return cleanValue(segment[:i]), cleanValue(segment[i+len(" of "):]), true
	}
	return "", "", false
}

var (
	// assignmentSplitRe separates "phone to X and email to Y" into parts
	// at each new field word.
	assignmentSplitRe = regexp.MustCompile(`(?i)(?:\s*[,;]\s*|\s+and\s+)(?:(?:his|her|their|its|the)\s+)?(?:` + fieldWords + `)\b`)
	// assignmentRe reads one "field to value" / "field: value" /
	// "field value" part.
	assignmentRe = regexp.MustCompile(`(?i)^(?:(?:his|her|their|its|the)\s+)?(?:new\s+)?(` + fieldWords + `)\b\s*(?:to\s+|=\s*|:\s*|is\s+(?:now\s+)?|as\s+|should\s+be\s+)?(.+)$`)
)

// parseAssignments reads a list of field changes such as
// "phone to +44 7700 900001 and email to js@acme.com" or
// "phone +44 7700 900001, city Paris". It returns nil unless every part
// names a known field with a value.
func parseAssignments(s string) []fieldChange {
	var parts []string
	last := 0
	for _, loc := range assignmentSplitRe.FindAllStringIndex(s, -1) {
		if loc[0] == 0 {
			continue
		}
		parts = append(parts, s[last:loc[0]])
		last = loc[0]
	}
	parts = append(parts, s[last:])

	var changes []fieldChange
	for _, part := range parts {
		part = strings.TrimLeft(strings.TrimSpace(part), ",;")
		part = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(part), "and "))
		m := assignmentRe.FindStringSubmatch(part)
		if m == nil {
			return nil
		}
		field, value := canonicalField(m[1]), cleanFieldValue(canonicalField(m[1]), m[2])
		if field == "" || value == "" {
			return nil
		}
		changes = append(changes, fieldChange{Field: field, Value: value})
	}
	return changes
}

// cleanFieldValue tidies a new field value; an email value is reduced to
// the address itself.
func cleanFieldValue(field, value string) string {
	value = cleanValue(value)
	if field == "email" {
		if m := emailRe.FindString(value); m != "" {
			return m
		}
	}
	return value
}

// taskFields are the arguments of create_task.
type taskFields struct {
	Title, Description, DueDate string
	// Assignee is not a create_task argument: the task is assigned once
	// it exists.
	Assignee string
}

func (t taskFields) args() map[string]string {
	args := map[string]string{"title": t.Title}
	if t.Description != "" {
		args["description"] = t.Description
	}
	if t.DueDate != "" {
		args["due_date"] = t.DueDate
	}
	return args
}

// assignedToRe: "…, assigned to dana@acme.com", "… and assign it to Dana".
var assignedToRe = regexp.MustCompile(`(?i)(?:\s*,\s*|\s+)(?:and\s+)?(?:assign(?:ed)?|give\s+it|hand\s+it)\s+(?:it\s+)?to\s+(\S+@\S+|\p{Lu}[\p{L}'\-]*(?:\s+\p{Lu}[\p{L}'\-]*)?)\s*\.?$`)

// parseTaskDetails reads "Research competitor pricing by Friday, assigned
// to dana@acme.com" into a title, an optional due date (see dates.go),
// an optional assignee and an optional description. problem is set when
// the request gives a date that cannot be read.
func parseTaskDetails(s string, now time.Time) (task taskFields, problem string) {
	if m := assignedToRe.FindStringSubmatchIndex(s); m != nil {
		task.Assignee = strings.TrimRight(s[m[2]:m[3]], ".")
		s = s[:m[0]]
	}
	if m := descriptionRe.FindStringSubmatchIndex(s); m != nil {
		task.Description = cleanValue(s[m[2]:m[3]])
		s = s[:m[0]]
	}
	date, rest, problem := findDueDate(s, now)
	if problem != "" {
		return taskFields{}, problem
	}
	task.DueDate, s = date, rest
	if m := descriptionRe.FindStringSubmatchIndex(s); m != nil {
		task.Description = cleanValue(s[m[2]:m[3]])
		s = s[:m[0]]
	}
	task.Title = capitalize(cleanValue(strings.TrimLeft(strings.Join(strings.Fields(s), " "), ":-, ")))
	return task, ""
}

// capitalize upper-cases the first letter: "call Ann" becomes "Call Ann".
func capitalize(s string) string {
	for i, r := range s {
		return string(unicode.ToUpper(r)) + s[i+len(string(r)):]
	}
	return s
}

func wordSet(words string) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.Fields(words) {
		set[w] = true
	}
	return set
}

// abbreviations end with a dot that ends no sentence: "Dr. Jane Doe",
// "Acme Corp. Ltd", "St. Albans".
var abbreviations = wordSet("dr mr mrs ms mx st jr sr prof inc ltd co corp no mt messrs")

// breakSentences turns the sentence breaks of a contact's details into
// commas, except after an abbreviation.
func breakSentences(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range sentenceBreakRe.FindAllStringSubmatchIndex(s, -1) {
		word := strings.ToLower(s[m[2]:m[3]])
		if abbreviations[word] {
			continue
		}
		b.WriteString(s[last:m[3]])
		b.WriteString(", ")
		last = m[1] - len(string([]rune(s[m[0]:m[1]])[len([]rune(s[m[0]:m[1]]))-1:]))
	}
	b.WriteString(s[last:])
	return b.String()
}

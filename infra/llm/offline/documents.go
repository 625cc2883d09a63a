package offline

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

const (
	toolSearchDocuments = "search_documents"
	toolReadDocument    = "read_document"
	toolMoveDocument    = "move_document"
	toolListDocuments   = "list_documents"
	toolListFolders     = "list_folders"
)

// docNouns are the words that make a phrase a document: "the Q1 report",
// "our pricing deck", "the onboarding notes".
const docNouns = `(?:report|reports|document|documents|doc|docs|file|files|memo|proposal|contract|deck|slides|presentation|notes|minutes|` +
	`brief|plan|policy|agreement|invoice|spec|specification|whitepaper|handbook|guide|playbook|analysis|review|roadmap|checklist|agenda|letter|quote|quotation|offer|pdf|write-?up)`

var (
	docNounRe = regexp.MustCompile(`(?i)\b` + docNouns + `\b`)
	// dueWordRe: a due date or deadline is a task's, not a document's.
	dueWordRe = regexp.MustCompile(`(?i)\b(?:due\s+date|deadline)\b`)
	// personWordRe: a phrase about a contact is not a document.
	personWordRe = regexp.MustCompile(`(?i)\b(?:contacts?|person|people|customers?|clients?|leads?)\b`)
	// docRefRe: the document an earlier step found.
	docRefRe = regexp.MustCompile(`(?i)^(?:it|this|that|this\s+one|that\s+one|(?:the|this|that)\s+(?:document|doc|file|report))$`)
	// findDocRe: "Find the Q1 report", "Search for documents about pricing".
	findDocRe = regexp.MustCompile(`(?i)^(?:find|search(?:\s+for)?|look\s+(?:up|for)|locate|get|fetch|pull\s+up|where\s+is|where's|do\s+we\s+have|is\s+there|have\s+we\s+got|` +
		`where\s+(?:did|do)\s+(?:we|i|you)\s+(?:put|save|store|keep|file)|where\s+(?:is|are)\s+(?:we|they)\s+keeping)\s+(.+?)\??$`)
	// writtenAboutRe: "Do we have anything written down about discounts?".
	writtenAboutRe = regexp.MustCompile(`(?i)^(?:do\s+we\s+have|is\s+there|have\s+we\s+got|find|search\s+for)\s+(?:anything|something|any\s+notes?|any\s+docs?|any\s+documents?|any\s+files?)\s+(?:written\s+(?:down|up)\s+|on\s+file\s+)?(?:about|on|regarding|mentioning|covering)\s+(.+?)\??$`)
	// agreedRe: "What did we agree with Acme on the renewal call?".
	agreedRe = regexp.MustCompile(`(?i)^what\s+did\s+(?:we|they|you|i)\s+(?:agree|decide|discuss|say|promise|note)\s+(?:with|about|on|in|at|for)?\s*(.+?)\??$`)
	// whatInDocTopicRe: "What was churn in the Q1 report?".
	whatInDocTopicRe = regexp.MustCompile(`(?i)^what\s+(?:was|is|were|are|did)\s+(?:the\s+|our\s+)?(.+?)\s+(?:in|according\s+to|from)\s+(?:the\s+|our\s+)?(.+?)\??$`)
	// docsAboutRe: "documents about pricing", "any docs mentioning Acme".
	docsAboutRe = regexp.MustCompile(`(?i)^(?:(?:the|any|all|our|a)\s+)*(?:documents?|docs?|files?|reports?)\s+(?:about|on|mentioning|containing|regarding|related\s+to|that\s+mention|called|titled|named|with)\s+(.+)$`)
	// readDocRe: "Read the Q1 report", "Open it", "What does the NDA say?".
	readDocRe  = regexp.MustCompile(`(?i)^(?:read|open|show(?:\s+me)?|display|pull\s+up)\s+(?:the\s+(?:text|contents?)\s+of\s+)?(.+?)$`)
	whatSaysRe = regexp.MustCompile(`(?i)^what\s+(?:does|do)\s+(.+?)\s+say(?:\s+(?:about|on|regarding|of)\s+(.+?))?\??$`)
	// whatInDocRe: "What's in the onboarding checklist?" (a folder is listed instead).
	whatInDocRe = regexp.MustCompile(`(?i)^what(?:'s|\s+is)\s+in\s+(.+?)\??$`)
	// whichDocRe: "Which document mentions the partner budget?".
	whichDocRe = regexp.MustCompile(`(?i)^(?:which|what|any|are\s+there\s+any|is\s+there\s+an?)\s+(?:documents?|docs?|files?|reports?)\s+(?:that\s+)?(?:mentions?|talks?\s+about|covers?|contains?|is\s+about|are\s+about|discuss(?:es)?|refers?\s+to)\s+(.+?)\??$`)
	// summariseDocRe: "Summarise the Q1 report", "Give me a summary of it".
	summariseDocRe = regexp.MustCompile(`(?i)^(?:summari[sz]e|sum\s+up|give\s+me\s+(?:a\s+|the\s+)?(?:summary|gist|tl;?dr)\s+of|(?:write|make)\s+(?:a\s+)?summary\s+of|what(?:'s|\s+is)\s+the\s+gist\s+of)\s+(.+?)$`)
	// moveDocRe: "Move the Q1 report to /Archive", "File it under Reports/2026".
	moveDocRe = regexp.MustCompile(`(?i)^(?:move|file|put|relocate)\s+(.+?)\s+(?:in)?to\s+(?:the\s+)?(.+?)(?:\s+folder)?$|^(?:file|put)\s+(.+?)\s+(?:under|in)\s+(?:the\s+)?(.+?)(?:\s+folder)?$`)
	// archiveDocRe: "Archive the Q3 deck".
	archiveDocRe = regexp.MustCompile(`(?i)^archive\s+(.+)$`)
	// listDocsRe: "List the documents in /Reports", "What's in the Reports folder?".
	listDocsRe     = regexp.MustCompile(`(?i)^(?:list|show(?:\s+me)?|what\s+are|what|which|any|are\s+there\s+any)\s+(?:all\s+)?(?:the\s+|our\s+)?(?:documents|docs|files)(?:\s+(?:are\s+)?(?:in|under)\s+(?:the\s+)?(.+?)(?:\s+folder)?)?\??$`)
	whatInFolderRe = regexp.MustCompile(`(?i)^(?:show(?:\s+me)?\s+)?what(?:'s|\s+is)\s+in\s+(?:the\s+)?(/\S*|.+?\s+folder)\??$`)
	// listFoldersRe: "List the folders", "Which folders do we have?".
	listFoldersRe = regexp.MustCompile(`(?i)^(?:list|show(?:\s+me)?|what|which)\s+(?:are\s+)?(?:all\s+)?(?:the\s+|our\s+)?(?:document\s+)?folders\b`)
)

// docTarget reads what a document request points at: the document of an
// earlier step, or words to search for. ok is false when the words do
// not name a document.
func (p parser) docTarget(what string) (id, query string, ok bool) {
	what = cleanValue(what)
	if docRefRe.MatchString(what) {
		if p.prior.document != nil && (p.prior.last == "document" || strings.Contains(strings.ToLower(what), "doc") ||
			strings.Contains(strings.ToLower(what), "report") || strings.Contains(strings.ToLower(what), "file")) {
			return p.prior.document.ID, "", true
		}
		return "", "", false
	}
	if m := docsAboutRe.FindStringSubmatch(what); m != nil {
		return "", cleanValue(m[1]), true
	}
	if !docNounRe.MatchString(what) || personWordRe.MatchString(what) {
		return "", "", false
	}
	return "", docQuery(what), true
}

// docQuery turns "the latest Q1 report" into the words to search for.
func docQuery(what string) string {
	var kept, generic []string
	for _, w := range strings.Fields(strings.NewReplacer(":", " ", ",", " ").Replace(what)) {
		switch strings.ToLower(w) {
		case "the", "a", "an", "our", "my", "this", "that", "latest", "last", "recent", "newest", "current", "any",
			"from", "of", "for", "about", "on", "in", "with", "and", "to":
			continue
		case "document", "documents", "doc", "docs", "file", "files":
			// "the pricing documents": the words that tell it apart.
			generic = append(generic, w)
			continue
		}
		kept = append(kept, w)
	}
	if len(kept) == 0 {
		kept = generic
	}
	return strings.Join(kept, " ")
}

func (p parser) findDocuments() (intent, bool) {
	if m := writtenAboutRe.FindStringSubmatch(p.text); m != nil {
		return intent{kind: intentFindDocuments, docQuery: docQuery(m[1])}, true
	}
	if m := whichDocRe.FindStringSubmatch(p.text); m != nil {
		return intent{kind: intentFindDocuments, docQuery: docQuery(m[1])}, true
	}
	m := findDocRe.FindStringSubmatch(p.text)
	if m == nil {
		return intent{}, false
	}
	if id, q, ok := p.docTarget(m[1]); ok && id == "" {
		return intent{kind: intentFindDocuments, docQuery: q}, true
	}
	return intent{}, false
}

func (p parser) readDocument() (intent, bool) {
	var what string
	summarise := false
	switch {
	case summariseDocRe.MatchString(p.text):
		what, summarise = summariseDocRe.FindStringSubmatch(p.text)[1], true
	case whatSaysRe.MatchString(p.text):
		m := whatSaysRe.FindStringSubmatch(p.text)
		what = m[1]
		id, q, ok := p.docTarget(what)
		if !ok {
			return intent{}, false
		}
		return intent{kind: intentReadDocument, docID: id, docQuery: q, docTopic: cleanValue(m[2])}, true
	case whatInFolderRe.MatchString(p.text):
		return intent{}, false // a folder: listDocuments reads it
	case whatInDocTopicRe.MatchString(p.text):
		m := whatInDocTopicRe.FindStringSubmatch(p.text)
		id, q, ok := p.docTarget(m[2])
		if !ok {
			return intent{}, false
		}
		return intent{kind: intentReadDocument, docID: id, docQuery: q, docTopic: cleanValue(m[1])}, true
	case agreedRe.MatchString(p.text):
		// What was agreed is in the notes: the best matching document.
		q := docQuery(agreedRe.FindStringSubmatch(p.text)[1])
		if q == "" {
			return intent{}, false
		}
		return intent{kind: intentReadDocument, docQuery: q}, true
	case whatInDocRe.MatchString(p.text):
		what = whatInDocRe.FindStringSubmatch(p.text)[1]
	case readDocRe.MatchString(p.text):
		what = readDocRe.FindStringSubmatch(p.text)[1]
	default:
		return intent{}, false
	}
	id, q, ok := p.docTarget(what)
	if !ok {
		return intent{}, false
	}
	return intent{kind: intentReadDocument, docID: id, docQuery: q, summarise: summarise}, true
}

func (p parser) moveDocument() (intent, bool) {
	if dueWordRe.MatchString(p.text) {
		return intent{}, false // "move the due date of …": a task's
	}
	var what, folder string
	switch {
	case moveDocRe.MatchString(p.text):
		m := moveDocRe.FindStringSubmatch(p.text)
		what, folder = m[1]+m[3], m[2]+m[4]
	case archiveDocRe.MatchString(p.text):
		what, folder = archiveDocRe.FindStringSubmatch(p.text)[1], "/Archive"
	default:
		return intent{}, false
	}
	id, q, ok := p.docTarget(what)
	if !ok {
		return intent{}, false
	}
	return intent{kind: intentMoveDocument, docID: id, docQuery: q, folder: folderPath(folder)}, true
}

// folderPath writes a folder as a path: "reports/2026" becomes "/reports/2026".
func folderPath(s string) string {
	s = strings.Trim(cleanValue(s), `"'`)
	s = strings.TrimSuffix(strings.TrimSuffix(s, " folder"), " directory")
	if !strings.HasPrefix(s, "/") {
		s = "/" + s
	}
	return s
}

func (p parser) listDocuments() (intent, bool) {
	if m := whatInFolderRe.FindStringSubmatch(p.text); m != nil {
		return intent{kind: intentListDocuments, folder: folderPath(m[1])}, true
	}
	m := listDocsRe.FindStringSubmatch(p.text)
	if m == nil {
		return intent{}, false
	}
	in := intent{kind: intentListDocuments}
	if m[1] != "" {
		in.folder = folderPath(m[1])
	}
	return in, true
}

func (p parser) listFolders() (intent, bool) {
	if !listFoldersRe.MatchString(p.text) {
		return intent{}, false
	}
	return intent{kind: intentListFolders}, true
}

// ---- flows ----------------------------------------------------------------

func (p planner) findDocuments() decision {
	if d, ok := answered(p, toolSearchDocuments, asList(documentListResult),
		func(l listed[documentRecord]) string { return documentsFoundReply(p.in.docQuery, l.items, l.total) }); ok {
		return d
	}
	return p.call(toolSearchDocuments, map[string]string{"query": p.in.docQuery})
}

// resolveDocument finds the document a read, summary or move acts on. A
// read takes the best match and says so; a move needs exactly one.
func (p planner) resolveDocument(write bool) (doc documentRecord, why string, next decision, ready bool) {
	if p.in.docID != "" {
		if p.t.prior.document != nil && p.t.prior.document.ID == p.in.docID {
			return *p.t.prior.document, "", decision{}, true
		}
		return documentRecord{ID: p.in.docID}, "", decision{}, true
	}
	s, ok := p.t.latest(toolSearchDocuments)
	if !ok {
		return documentRecord{}, "", p.call(toolSearchDocuments, map[string]string{"query": p.in.docQuery}), false
	}
	docs, total, ok := documentListResult(s.result)
	if !ok {
		return documentRecord{}, "", couldNot(unreadableReply(toolSearchDocuments)), false
	}
	if len(docs) == 0 {
		return documentRecord{}, "", clarify("I found no document matching " + quote(p.in.docQuery) + "."), false
	}
	total = max(total, len(docs))
	exact := 0
	best := docs[0]
	for _, d := range docs {
		if sameWords(d.Title, p.in.docQuery) {
			if exact == 0 {
				best = d
			}
			exact++
		}
	}
	if strings.EqualFold(p.t.context.EntityType, "document") {
		for _, d := range docs {
			if d.ID == p.t.context.EntityID {
				return d, "", decision{}, true
			}
		}
	}
	if total > 1 && write && exact != 1 {
		return documentRecord{}, "", clarify("Several documents match "+quote(p.in.docQuery)+", so I did not move any: "+
			documentList(docs, total)+". Which one do you mean?", documentCandidates(docs)...), false
	}
	if total > 1 {
		why = "Of " + plural(total, "document", "documents") + " matching " + quote(p.in.docQuery) + ", I took " +
			quote(best.Title) + " (" + map[bool]string{true: "its title matches exactly", false: "the best match"}[exact == 1] + ")."
	}
	return best, why, decision{}, true
}

func (p planner) readDocument() decision {
	doc, why, next, ready := p.resolveDocument(false)
	if !ready {
		return next
	}
	s, ok := p.t.latest(toolReadDocument)
	if !ok {
		return p.call(toolReadDocument, map[string]string{"id": doc.ID})
	}
	full, ok := documentResult(s.result)
	if !ok {
		return couldNot(unreadableReply(toolReadDocument))
	}
	if full.Body == "" {
		return replyWith(appendSentence(why, "The document "+quote(orUntitled(full.Title))+" is empty."))
	}
	if p.in.summarise {
		gist := gistOf(full.Body)
		d := replyWith(appendSentence(why, "Summary of "+quote(orUntitled(full.Title))+" ("+full.Folder+"): "+gist))
		d.summary = "Summary of " + orUntitled(full.Title) + ":\n" + gist
		return d
	}
	if p.in.docTopic != "" {
		var hits []string
		for _, s := range sentencesOf(strings.Join(strings.Fields(full.Body), " ")) {
			if sharesWord(s, p.in.docTopic) {
				hits = append(hits, s)
			}
		}
		if len(hits) == 0 {
			return replyWith(appendSentence(why, quote(orUntitled(full.Title))+" says nothing about "+p.in.docTopic+"."))
		}
		return replyWith(appendSentence(why, "On "+p.in.docTopic+", "+quote(orUntitled(full.Title))+" says: "+clip(strings.Join(hits, " "), 1500)))
	}
	return replyWith(appendSentence(why, quote(orUntitled(full.Title))+" ("+full.Folder+") says: "+clip(full.Body, 1500)))
}

func (p planner) moveDocument() decision {
	doc, _, next, ready := p.resolveDocument(true)
	if !ready {
		return next
	}
	if s, ok := p.t.latest(toolMoveDocument); ok {
		moved, ok := documentResult(s.result)
		if !ok {
			return couldNot(unreadableReply(toolMoveDocument))
		}
		return replyWith("I moved " + quote(orUntitled(firstNonEmpty(moved.Title, doc.Title))) + idSuffix(doc.ID) + " to " + firstNonEmpty(moved.Folder, p.in.folder) + ".")
	}
	return p.call(toolMoveDocument, map[string]string{"id": doc.ID, "folder": p.in.folder})
}

func (p planner) listDocuments() decision {
	if d, ok := answered(p, toolListDocuments, asList(documentListResult), func(l listed[documentRecord]) string {
		where := "the workspace"
		if p.in.folder != "" {
			where = p.in.folder
		}
		if len(l.items) == 0 {
			return "There are no documents in " + where + "."
		}
		return "Documents in " + where + ": " + documentList(l.items, l.total) + "."
	}); ok {
		return d
	}
	args := map[string]any{}
	if p.in.folder != "" {
		args["folder"] = p.in.folder
		args["recursive"] = true
	}
	return p.call(toolListDocuments, args)
}

func (p planner) listFolders() decision {
	s, ok := p.t.latest(toolListFolders)
	if !ok {
		return p.call(toolListFolders, map[string]string{})
	}
	folders, ok := folderListResult(s.result)
	if !ok {
		return couldNot(unreadableReply(toolListFolders))
	}
	if len(folders) == 0 {
		return replyWith("The workspace has no folders yet.")
	}
	return replyWith("The workspace's folders: " + strings.Join(folders, ", ") + ".")
}

// sharesWord reports whether a sentence holds a word of the topic (stems
// compared; short words ignored).
func sharesWord(sentence, topic string) bool {
	for _, t := range strings.Fields(strings.ToLower(topic)) {
		if len(t) < 4 {
			continue
		}
		for _, w := range strings.Fields(strings.ToLower(sentence)) {
			if stem(w) == stem(t) {
				return true
			}
		}
	}
	return false
}

// gistOf is the offline model's summary: the document's first sentences,
// up to about 400 characters. It says no more than the document does.
func gistOf(body string) string {
	text := strings.Join(strings.Fields(body), " ")
	var out strings.Builder
	for _, s := range sentencesOf(text) {
		if out.Len() > 0 && out.Len()+len(s) > 400 {
			break
		}
		if out.Len() > 0 {
			out.WriteString(" ")
		}
		out.WriteString(s)
		if out.Len() >= 400 {
			break
		}
	}
	return clip(out.String(), 600)
}

var sentenceEndRe = regexp.MustCompile(`[.!?](?:\s+|$)`)

func sentencesOf(text string) []string {
	var out []string
	last := 0
	for _, m := range sentenceEndRe.FindAllStringIndex(text, -1) {
		out = append(out, strings.TrimSpace(text[last:m[1]]))
		last = m[1]
	}
	if rest := strings.TrimSpace(text[last:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

// clip shortens text to n characters, marking the cut.
func clip(text string, n int) string {
	if utf8.RuneCountInString(text) <= n {
		return text
	}
	return string([]rune(text)[:n]) + "…"
}

func documentsFoundReply(query string, docs []documentRecord, total int) string {
	if len(docs) == 0 {
		return "I found no document matching " + quote(query) + "."
	}
	return "I found " + plural(max(total, len(docs)), "document", "documents") + " matching " + quote(query) + ": " + documentList(docs, total) + "."
}

func documentList(docs []documentRecord, total int) string {
	var items []string
	for i, d := range docs {
		if i == maxListed {
			break
		}
		items = append(items, quote(orUntitled(d.Title))+" in "+firstNonEmpty(d.Folder, "/")+idSuffix(d.ID))
	}
	s := strings.Join(items, "; ")
	if total > len(items) {
		s += " and " + plural(total-len(items), "more", "more")
	}
	return s
}

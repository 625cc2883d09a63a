package offline

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// The corpus: requests written the way people and CRM integrations write
// them, each with the writes it should make (tool and the arguments that
// matter; "$Name" stands for the id of the seeded contact or task of that
// name). A request with no writes expected is a read, or one that must be
// answered without writing (ambiguous, not understood). Every request runs
// on a fresh copy of the same seeded workspace.
//
// The test prints accuracy per category and fails on any wrong write (a
// write that was not expected, or with the wrong target or values) that
// is not listed, with its reason, in knownWrong. A
// request the model declines counts as wrong in the table but is not a
// failure: "I could not" is honest; a wrong write is not.
type corpusCase struct {
	category, request string
	writes            []wantCall // in order; nil: no write at all
	reads             []string   // the reply must mention each (case-insensitive)
}

func corpusSeed(crm *fakeCRM) {
	crm.addContact(fakeContact{Name: "John Smith", Company: "Acme Corp", Email: "john@acme.com", Phone: "+44 7700 900000", City: "London"})
	crm.addContact(fakeContact{Name: "Ann Lee", Company: "Initech", Email: "ann@initech.com", City: "London"})
	crm.addContact(fakeContact{Name: "Priya Raman", Company: "Northwind Traders", Email: "priya@northwind.io", City: "Leeds"})
	crm.addContact(fakeContact{Name: "Priya Shah", Company: "Fabrikam", Email: "priya@fabrikam.com", City: "Manchester"})
	crm.addContact(fakeContact{Name: "Seán O'Connor", Company: "Globex", Email: "sean@globex.ie", City: "Dublin"})
	crm.addTask(fakeTask{Title: "Research competitor pricing"})
	crm.addTask(fakeTask{Title: "Send the Q3 deck to Dana"})
	crm.addTask(fakeTask{Title: "Book the venue for the offsite", Status: "done"})
	crm.addTask(fakeTask{Title: "Prepare the renewal quote for Initech"})
	crm.addDocument(fakeDocument{Title: "Q1 2026 Sales Report", Folder: "/Reports", Body: "Revenue grew 18% against the same quarter last year, led by the Northwind and Initech renewals. " +
		"New business was slower than planned in the north. Churn stayed under 2%. The team recommends doubling the partner budget for Q2. " +
		"Appendix A lists every deal over 50k."})
	crm.addDocument(fakeDocument{Title: "Q3 pricing deck", Folder: "/Sales", Body: "Our list prices rise 4% from 1 January. Existing customers keep their price until renewal."})
	crm.addDocument(fakeDocument{Title: "Pricing policy 2027", Folder: "/Sales", Body: "Discounts above 15% need the sales director's approval."})
	crm.addDocument(fakeDocument{Title: "Onboarding checklist", Folder: "/HR", Body: "Laptop, accounts, buddy, first-week plan."})
	crm.addDocument(fakeDocument{Title: "Meeting notes: Acme renewal call", Folder: "/Notes", Body: "John Smith asked for a two-year term. We agreed to send a revised quote by Friday."})
	crm.members = []fakeMember{{UserID: "u1", Email: "admin@ws.example", Role: "owner"}, {UserID: "u2", Email: "dana.scully@ws.example", Role: "member"},
		{UserID: "u3", Email: "marco.rossi@ws.example", Role: "member"}, {UserID: "u4", Email: "li.wei@ws.example", Role: "member"},
		{UserID: "u5", Email: "eva.novak@ws.example", Role: "admin"}, {UserID: "u6", Email: "dana.white@ws.example", Role: "member"}}
	crm.depts = []string{"Sales", "Customer Success", "Marketing"}
	crm.addTeam(fakeTeam{Name: "Sales", Department: "Sales", Members: []fakeMember{crm.members[1], crm.members[2]}})
	crm.addTeam(fakeTeam{Name: "Sales Ops", Department: "Sales", Members: []fakeMember{crm.members[5]}})
	crm.addTeam(fakeTeam{Name: "Support", Department: "Customer Success", Members: []fakeMember{crm.members[3]}})
	crm.addTeam(fakeTeam{Name: "Brand", Department: "Marketing", Members: []fakeMember{crm.members[4]}})
}

// corpusNow is when every corpus request arrives: Monday 7 December 2026.
var corpusNow = time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)

func w(tool string, args ...string) wantCall {
	m := map[string]string{}
	for i := 0; i+1 < len(args); i += 2 {
		m[args[i]] = args[i+1]
	}
	return wantCall{name: tool, args: m}
}

var corpus = []corpusCase{
	// Creating contacts, facts in any order and punctuation.
	{"contact: create", "Create a contact for Maria Garcia at Globex, maria@globex.com", []wantCall{w("create_contact", "name", "Maria Garcia", "company", "Globex", "email", "maria@globex.com")}, nil},
	{"contact: create", "Add a new contact: Tom Okafor, CTO at Lumen Labs, tom@lumenlabs.example, +1 415 555 0134", []wantCall{w("create_contact", "name", "Tom Okafor", "title", "CTO", "company", "Lumen Labs", "email", "tom@lumenlabs.example", "phone", "+1 415 555 0134")}, nil},
	{"contact: create", "New contact - Lucía Fernández, based in Madrid, lucia@ejemplo.es", []wantCall{w("create_contact", "name", "Lucía Fernández", "city", "Madrid", "email", "lucia@ejemplo.es")}, nil},
	{"contact: create", "Please save Rosa Diaz as a contact, Nine-Nine Logistics, Brooklyn", []wantCall{w("create_contact", "name", "Rosa Diaz", "company", "Nine-Nine Logistics", "city", "Brooklyn")}, nil},
	{"contact: create", "create contact for jake peralta at nine-nine logistics", []wantCall{w("create_contact", "name", "jake peralta", "company", "nine-nine logistics")}, nil},
	{"contact: create", "Create a contact for Anne-Marie Dupont at Société Générale in Paris", []wantCall{w("create_contact", "name", "Anne-Marie Dupont", "company", "Société Générale", "city", "Paris")}, nil},
	{"contact: create", "Register a new lead: Kenji Watanabe, kenji@sakura.jp", []wantCall{w("create_contact", "name", "Kenji Watanabe", "email", "kenji@sakura.jp")}, nil},
	{"contact: create", "Add Dana Whitfield as a contact, dana@lumenlabs.example", []wantCall{w("create_contact", "name", "Dana Whitfield", "email", "dana@lumenlabs.example")}, nil},
	{"contact: create", "Create a contact for Bo Chen, phone 020 7946 0958", []wantCall{w("create_contact", "name", "Bo Chen", "phone", "020 7946 0958")}, nil},
	{"contact: create", "Create a contact for Gina Linetti at Nine-Nine Logistics, gina@99.example, Brooklyn", []wantCall{w("create_contact", "name", "Gina Linetti", "company", "Nine-Nine Logistics", "email", "gina@99.example", "city", "Brooklyn")}, nil},

	// Finding contacts.
	{"contact: search", "Find all contacts from London", nil, []string{"John Smith", "Ann Lee"}},
	{"contact: search", "Who do we have in Leeds?", nil, []string{"Priya Raman"}},
	{"contact: search", "Show me everyone at Initech", nil, []string{"Ann Lee"}},
	{"contact: search", "Look up John Smith", nil, []string{"John Smith"}},
	{"contact: search", "find contacts named Priya", nil, []string{"Priya Raman", "Priya Shah"}},
	{"contact: search", "Search for ann@initech.com", nil, []string{"Ann Lee"}},
	{"contact: search", "Which contacts work at Globex?", nil, []string{"O'Connor"}},
	{"contact: search", "List contacts based in Dublin", nil, []string{"O'Connor"}},
	{"contact: search", "Who works at Northwind Traders?", nil, []string{"Priya Raman"}},
	{"contact: search", "Do we have anyone in Manchester?", nil, []string{"Priya Shah"}},

	// Changing contacts.
	{"contact: update", "Update John Smith's phone to +44 7700 900001", []wantCall{w("update_contact", "id", "$John Smith", "phone", "+44 7700 900001")}, nil},
	{"contact: update", "Change the email of Ann Lee to ann.lee@initech.com", []wantCall{w("update_contact", "id", "$Ann Lee", "email", "ann.lee@initech.com")}, nil},
	{"contact: update", "Ann Lee moved to Globex", []wantCall{w("update_contact", "id", "$Ann Lee", "company", "Globex")}, nil},
	{"contact: update", "John Smith relocated to Bristol", []wantCall{w("update_contact", "id", "$John Smith", "city", "Bristol")}, nil},
	{"contact: update", "Set Priya Raman's title to Head of Sales", []wantCall{w("update_contact", "id", "$Priya Raman", "title", "Head of Sales")}, nil},
	{"contact: update", "Update Priya's phone to 0161 496 0000", nil, []string{"Priya Raman", "Priya Shah"}}, // two match: ask
	{"contact: update", "Change the email of Zoe Quinn to zoe@example.com", nil, []string{"Zoe Quinn"}},

	// Deleting contacts.
	{"contact: delete", "Delete the contact John Smith", []wantCall{w("delete_contact", "id", "$John Smith")}, nil},
	{"contact: delete", "Remove Ann Lee from contacts", []wantCall{w("delete_contact", "id", "$Ann Lee")}, nil},
	{"contact: delete", "Delete Priya", nil, []string{"Priya Raman", "Priya Shah"}}, // two match: ask
	{"contact: delete", "Get rid of the contact Zoe Quinn", nil, []string{"Zoe Quinn"}},
	{"contact: delete", "Delete the Q1 report", nil, nil}, // not a contact: no write

	// Tasks.
	{"task: create", "Create a task: Research competitor pricing for Q1 2026", []wantCall{w("create_task", "title", "Research competitor pricing for Q1 2026")}, nil},
	{"task: create", "Remind me to call Ann about the renewal", []wantCall{w("create_task")}, nil},
	{"task: create", "Add a task to send the signed NDA to Marta, due 2026-12-20", []wantCall{w("create_task", "due_date", "2026-12-20")}, nil},
	{"task: create", "New todo: book flights for the Lisbon trip", []wantCall{w("create_task")}, nil},
	{"task: create", "Create a task to follow up with Priya Raman by Friday", []wantCall{w("create_task")}, nil},
	{"task: list", "What tasks do I have?", nil, []string{"Research competitor pricing", "Send the Q3 deck"}},
	{"task: list", "Show my open tasks", nil, []string{"Research competitor pricing"}},
	{"task: list", "Which tasks are done?", nil, []string{"Book the venue"}},
	{"task: list", "any tasks about pricing?", nil, []string{"Research competitor pricing"}},
	{"task: complete", "Mark the task Research competitor pricing as done", []wantCall{w("complete_task", "id", "$Research competitor pricing")}, nil},
	{"task: complete", "I finished the task Send the Q3 deck to Dana", []wantCall{w("complete_task", "id", "$Send the Q3 deck to Dana")}, nil},
	{"task: complete", "Complete the task: research competitor pricing", []wantCall{w("complete_task", "id", "$Research competitor pricing")}, nil},

	// More ways of writing the same things.
	{"contact: create", "Can you add a contact: Fatima Zahra, Atlas Foods, fatima@atlasfoods.ma", []wantCall{w("create_contact", "name", "Fatima Zahra", "company", "Atlas Foods", "email", "fatima@atlasfoods.ma")}, nil},
	{"contact: create", "Create contact Olu Adeyemi, +234 803 555 0199", []wantCall{w("create_contact", "name", "Olu Adeyemi", "phone", "+234 803 555 0199")}, nil},
	{"contact: create", "please create a new contact for Mei Tanaka at Sakura Bank in Osaka, mei.tanaka@sakura.example", []wantCall{w("create_contact", "name", "Mei Tanaka", "company", "Sakura Bank", "city", "Osaka", "email", "mei.tanaka@sakura.example")}, nil},
	{"contact: create", "Add a customer: Pierre Martin, pierre@martin.fr", []wantCall{w("create_contact", "name", "Pierre Martin", "email", "pierre@martin.fr")}, nil},
	{"contact: create", "Save Ivan Petrov as a contact", []wantCall{w("create_contact", "name", "Ivan Petrov")}, nil},
	{"contact: create", "Create a contact for Zoë Müller at Bäckerei Müller", []wantCall{w("create_contact", "name", "Zoë Müller", "company", "Bäckerei Müller")}, nil},
	{"contact: create", "Create a contact", nil, nil}, // no name: ask, write nothing
	{"contact: create", "New contact for Carlos Ruiz, carlos@ruiz.mx, Mexico City", []wantCall{w("create_contact", "name", "Carlos Ruiz", "email", "carlos@ruiz.mx", "city", "Mexico City")}, nil},
	{"contact: search", "Show contacts at Acme Corp", nil, []string{"John Smith"}},
	{"contact: search", "search contacts in london", nil, []string{"John Smith", "Ann Lee"}},
	{"contact: search", "Look up priya@northwind.io", nil, []string{"Priya Raman"}},
	{"contact: search", "Find Seán O'Connor", nil, []string{"O'Connor"}},
	{"contact: search", "Is there anyone at Fabrikam?", nil, []string{"Priya Shah"}},
	{"contact: search", "Who is based in Manchester?", nil, []string{"Priya Shah"}},
	{"contact: search", "find contacts matching Northwind", nil, []string{"Priya Raman"}},
	{"contact: search", "Find contacts in Glasgow", nil, []string{"no contact"}},
	{"contact: update", "Change Ann Lee's city to Paris", []wantCall{w("update_contact", "id", "$Ann Lee", "city", "Paris")}, nil},
	{"contact: update", "John Smith's new phone is +44 7700 900555", []wantCall{w("update_contact", "id", "$John Smith", "phone", "+44 7700 900555")}, nil},
	{"contact: update", "Seán O'Connor now works at Initech", []wantCall{w("update_contact", "id", "$Seán O'Connor", "company", "Initech")}, nil},
	{"contact: update", "Update Priya Shah: email priya.shah@fabrikam.com", []wantCall{w("update_contact", "id", "$Priya Shah", "email", "priya.shah@fabrikam.com")}, nil},
	{"contact: update", "Set the phone of Priya Raman to 0113 496 0000", []wantCall{w("update_contact", "id", "$Priya Raman", "phone", "0113 496 0000")}, nil},
	{"contact: update", "Update Ann Lee", nil, nil}, // nothing to change: write nothing
	{"contact: delete", "Please remove the contact Priya Shah", []wantCall{w("delete_contact", "id", "$Priya Shah")}, nil},
	{"contact: delete", "delete contact for Seán O'Connor", []wantCall{w("delete_contact", "id", "$Seán O'Connor")}, nil},
	{"contact: delete", "Delete everything", nil, nil},
	{"task: create", "Create a task called Prepare the board pack", []wantCall{w("create_task", "title", "Prepare the board pack")}, nil},
	{"task: create", "Schedule a task: renew the Vantage lease, due 2027-03-03", []wantCall{w("create_task", "due_date", "2027-03-03")}, nil},
	{"task: create", "add a todo to call the Initech buyer", []wantCall{w("create_task")}, nil},
	{"task: create", "Create a task", nil, nil}, // no title: ask
	{"task: list", "list tasks", nil, []string{"Research competitor pricing"}},
	{"task: list", "What's still open?", nil, nil},
	{"task: list", "Show completed tasks", nil, []string{"Book the venue"}},
	{"task: complete", "Mark Book the venue for the offsite as done", nil, nil}, // it is done already: nothing open matches
	{"task: complete", "The task Research competitor pricing is done", []wantCall{w("complete_task", "id", "$Research competitor pricing")}, nil},
	{"task: complete", "Complete task Send the Q3 deck", []wantCall{w("complete_task", "id", "$Send the Q3 deck to Dana")}, nil},
	{"summary", "Tell me about John Smith", nil, []string{"John Smith", "Acme Corp"}},
	{"summary", "Give me a summary of Ann Lee", nil, []string{"Ann Lee", "Initech"}},
	{"summary", "Who is Priya Raman?", nil, []string{"Priya Raman", "Northwind"}},
	{"not understood", "Translate this into French", nil, nil},
	{"not understood", "Delete the Q1 report", nil, nil},
	{"not understood", "Book a meeting room for Tuesday", nil, nil},

	// E-mail: to a contact by name, to an address, to a team; subject
	// and body given or composed; a document carried.
	{"email", "Send an email to Ann Lee introducing our new product line", []wantCall{w("send_email", "contact_ids", "$Ann Lee", "subject", "~new product line", "body", "~introduce our new product line")}, nil},
	{"email", "Email john@acme.com the meeting notes from the Acme renewal call", []wantCall{w("send_email", "to", "john@acme.com", "body", "~two-year term")}, nil},
	{"email", "Send an email to the sales team about the Q2 targets", []wantCall{w("send_email", "team_id", "$team Sales", "subject", "~Q2 targets")}, nil},
	{"email", "email priya@fabrikam.com with subject \"Renewal\" and body \"Your renewal is due next month.\"", []wantCall{w("send_email", "to", "priya@fabrikam.com", "subject", "Renewal", "body", "Your renewal is due next month.")}, nil},
	{"email", "Write a quick note to John Smith thanking him for the meeting", []wantCall{w("send_email", "contact_ids", "$John Smith", "body", "~thank you for the meeting")}, nil},
	{"email", "Send Seán O'Connor an email about the Dublin event", []wantCall{w("send_email", "contact_ids", "$Seán O'Connor", "subject", "~Dublin event")}, nil},
	{"email", "Let the support team know that the portal is back up", []wantCall{w("send_email", "team_id", "$team Support", "body", "~the portal is back up")}, nil},
	{"email", "Forward the Q3 pricing deck to ann@initech.com", []wantCall{w("send_email", "to", "ann@initech.com", "body", "~list prices rise")}, nil},
	{"email", "Email Priya about the renewal", nil, []string{"Priya Raman", "Priya Shah"}}, // two match: ask, send nothing
	{"email", "Send an email to Zoe Quinn about lunch", nil, []string{"Zoe Quinn"}},
	{"email", "Email Ann Lee", nil, []string{"what should the email say"}},
	{"email", "Send a message to everyone in the Brand team reminding them about Friday's launch", []wantCall{w("send_email", "team_id", "$team Brand", "body", "~reminder about friday's launch")}, nil},
	{"email", "Mail marco.rossi@ws.example and li.wei@ws.example about the rota", []wantCall{w("send_email", "to", "marco.rossi@ws.example,li.wei@ws.example")}, nil},
	{"email", "Tell John Smith that the contract is ready to sign", []wantCall{w("send_email", "contact_ids", "$John Smith", "body", "~The contract is ready to sign")}, nil},
	{"email", "Send an email to Ann Lee asking her to confirm the delivery date", []wantCall{w("send_email", "contact_ids", "$Ann Lee", "body", "~confirm the delivery date")}, nil},
	{"email", "Shoot an e-mail to Priya Raman inviting her to the January webinar", []wantCall{w("send_email", "contact_ids", "$Priya Raman", "body", "~invite you to the January webinar")}, nil},
	{"email", "Email the Sales Ops team about the new CRM fields", []wantCall{w("send_email", "team_id", "$team Sales Ops")}, nil},
	{"email", "Send the onboarding checklist to eva.novak@ws.example", []wantCall{w("send_email", "to", "eva.novak@ws.example", "body", "~Laptop, accounts")}, nil},
	{"email", "Email the finance team about invoices", nil, []string{"no team"}},
	{"email", "Send an email to Ann Lee: \"Thanks for today, talk soon.\"", []wantCall{w("send_email", "contact_ids", "$Ann Lee", "body", "Thanks for today, talk soon.")}, nil},

	// Documents.
	{"documents", "Find the Q1 report", nil, []string{"Q1 2026 Sales Report"}},
	{"documents", "Search for documents about pricing", nil, []string{"Q3 pricing deck", "Pricing policy 2027"}},
	{"documents", "Summarise the Q1 report", nil, []string{"Revenue grew 18%"}},
	{"documents", "Give me a summary of the onboarding checklist", nil, []string{"Laptop"}},
	{"documents", "Read the pricing policy", nil, []string{"sales director's approval"}},
	{"documents", "What does the Q3 pricing deck say?", nil, []string{"rise 4%"}},
	{"documents", "Move the onboarding checklist to /Archive", []wantCall{w("move_document", "id", "$Onboarding checklist", "folder", "/Archive")}, nil},
	{"documents", "Archive the Q1 2026 Sales Report", []wantCall{w("move_document", "id", "$Q1 2026 Sales Report", "folder", "/Archive")}, nil},
	{"documents", "Move the pricing documents to /Old", nil, []string{"Q3 pricing deck", "Pricing policy 2027"}}, // two match: ask
	{"documents", "List the documents in the Sales folder", nil, []string{"Q3 pricing deck", "Pricing policy 2027"}},
	{"documents", "What's in the Reports folder?", nil, []string{"Q1 2026 Sales Report"}},
	{"documents", "Which folders do we have?", nil, []string{"/Reports", "/HR"}},
	{"documents", "Find the board minutes", nil, []string{"no document"}},
	{"documents", "Do we have a document about churn?", nil, []string{"Q1 2026 Sales Report"}},
	{"documents", "Pull up the meeting notes from the Acme renewal call", nil, []string{"two-year term"}},

	// Teams, departments and members.
	{"org", "List our teams", nil, []string{"Sales", "Support", "Brand"}},
	{"org", "Who is on the support team?", nil, []string{"li.wei@ws.example"}},
	{"org", "Which teams are in the Sales department?", nil, []string{"Sales Ops"}},
	{"org", "List the departments", nil, []string{"Customer Success", "Marketing"}},
	{"org", "Show the workspace members", nil, []string{"dana.scully@ws.example", "eva.novak@ws.example"}},
	{"org", "Members of the Brand team", nil, []string{"eva.novak@ws.example"}},
	{"org", "who's in the sales team?", nil, []string{"dana.scully@ws.example", "marco.rossi@ws.example"}},
	{"org", "What teams do we have?", nil, []string{"Sales Ops"}},

	// Tasks with due dates and assignees, relative to Monday 7 December 2026.
	{"task: dates", "Create a task to follow up with Priya Raman by Friday", []wantCall{w("create_task", "title", "Follow up with Priya Raman", "due_date", "2026-12-11")}, nil},
	{"task: dates", "Add a task: send the revised quote to Acme, due tomorrow", []wantCall{w("create_task", "title", "Send the revised quote to Acme", "due_date", "2026-12-08")}, nil},
	{"task: dates", "New task to renew the domain in 3 days", []wantCall{w("create_task", "title", "Renew the domain", "due_date", "2026-12-10")}, nil},
	{"task: dates", "Create a task: prepare the board pack by end of month", []wantCall{w("create_task", "title", "Prepare the board pack", "due_date", "2026-12-31")}, nil},
	{"task: dates", "Remind me to call Ann Lee next Monday", []wantCall{w("create_task", "title", "Call Ann Lee", "due_date", "2026-12-14")}, nil},
	{"task: dates", "Create a task to file the VAT return by 2026-12-31", []wantCall{w("create_task", "title", "File the VAT return", "due_date", "2026-12-31")}, nil},
	{"task: dates", "Add a task to book the Lisbon flights in two weeks", []wantCall{w("create_task", "title", "Book the Lisbon flights", "due_date", "2026-12-21")}, nil},
	{"task: dates", "Create a task to review the NDA on December 20", []wantCall{w("create_task", "title", "Review the NDA", "due_date", "2026-12-20")}, nil},
	{"task: dates", "Schedule a task: plan the kickoff, due 15 January", []wantCall{w("create_task", "title", "Plan the kickoff", "due_date", "2027-01-15")}, nil},
	{"task: dates", "Create a task to send the survey by the end of the week", []wantCall{w("create_task", "title", "Send the survey", "due_date", "2026-12-11")}, nil},
	{"task: dates", "Create a task to prepare the Friday standup notes", []wantCall{w("create_task", "title", "Prepare the Friday standup notes")}, nil},
	{"task: dates", "Set the due date of Research competitor pricing to next Friday", []wantCall{w("set_task_due_date", "id", "$Research competitor pricing", "due_date", "2026-12-18")}, nil},
	{"task: dates", "Push the task Send the Q3 deck to Dana to next week", []wantCall{w("set_task_due_date", "id", "$Send the Q3 deck to Dana", "due_date", "2026-12-14")}, nil},
	{"task: dates", "Create a task to chase the Fabrikam invoice by February 30", nil, nil}, // no such day: ask

	{"task: assign", "Assign the task Research competitor pricing to marco.rossi@ws.example", []wantCall{w("assign_task", "id", "$Research competitor pricing", "assignee", "marco.rossi@ws.example")}, nil},
	{"task: assign", "Assign Prepare the renewal quote for Initech to Li Wei", []wantCall{w("assign_task", "id", "$Prepare the renewal quote for Initech", "assignee", "li.wei@ws.example")}, nil},
	{"task: assign", "Delegate the pricing research task to Eva", []wantCall{w("assign_task", "id", "$Research competitor pricing", "assignee", "eva.novak@ws.example")}, nil},
	{"task: assign", "Assign the task Research competitor pricing to Dana", nil, []string{"dana.scully@ws.example", "dana.white@ws.example"}}, // two Danas: ask
	{"task: assign", "Create a task to draft the Q2 plan, assigned to dana.scully@ws.example", []wantCall{w("create_task", "title", "Draft the Q2 plan"), w("assign_task", "assignee", "dana.scully@ws.example")}, nil},
	{"task: assign", "Assign the task Water the plants to Eva", nil, []string{"water the plants"}},

	// Requests of several steps, results carried forward.
	{"multi-step", "Find the Q1 report, summarise it, and email the summary to the sales team", []wantCall{w("send_email", "team_id", "$team Sales", "body", "~Revenue grew 18%")}, []string{"Q1 2026 Sales Report"}},
	{"multi-step", "Create a contact for Lena Fischer at Bosch and then create a task to call her tomorrow", []wantCall{w("create_contact", "name", "Lena Fischer", "company", "Bosch"), w("create_task", "title", "Call Lena Fischer", "due_date", "2026-12-08")}, nil},
	{"multi-step", "Look up Ann Lee and email her about the renewal", []wantCall{w("send_email", "contact_ids", "$Ann Lee", "subject", "~renewal")}, nil},
	{"multi-step", "Find Tom Becker; if not, add him as a contact at Contoso", []wantCall{w("create_contact", "name", "Tom Becker", "company", "Contoso")}, nil},
	{"multi-step", "Check if we have John Smith, and if not, create him at Acme Corp", nil, []string{"John Smith"}}, // he exists: no second copy
	{"multi-step", "Create a task to call John Smith and assign it to marco.rossi@ws.example", []wantCall{w("create_task", "title", "Call John Smith"), w("assign_task", "assignee", "marco.rossi@ws.example")}, nil},
	{"multi-step", "Summarise the Q1 report and send it to john@acme.com", []wantCall{w("send_email", "to", "john@acme.com", "body", "~Revenue grew 18%")}, nil},
	{"multi-step", "Add a contact for Maya Rudolph, maya@studio.example, then send her an email introducing our agency", []wantCall{w("create_contact", "name", "Maya Rudolph", "email", "maya@studio.example"), w("send_email", "body", "~introduce our agency")}, nil},
	{"multi-step", "Update John Smith's phone to +44 7700 900777, then create a task to send him the contract", []wantCall{w("update_contact", "id", "$John Smith", "phone", "+44 7700 900777"), w("create_task", "title", "Send John Smith the contract")}, nil},
	{"multi-step", "Find contacts in Leeds. Then list my open tasks", nil, []string{"Priya Raman", "Research competitor pricing"}},
	{"multi-step", "Mark the task Research competitor pricing as done and create a task to share the findings by Friday", []wantCall{w("complete_task", "id", "$Research competitor pricing"), w("create_task", "due_date", "2026-12-11")}, nil},
	{"multi-step", "Find the pricing policy and move it to /Archive", []wantCall{w("move_document", "id", "$Pricing policy 2027", "folder", "/Archive")}, nil},
	{"multi-step", "Email Priya about the renewal, then create a task to call her", nil, []string{"Priya Raman", "Priya Shah"}}, // stops at the question
	{"multi-step", "Create a contact for Ola Nordmann at Equinor; create a task to send Ola the brochure", []wantCall{w("create_contact", "name", "Ola Nordmann", "company", "Equinor"), w("create_task", "title", "~brochure")}, nil},
	{"multi-step", "Read the Q3 pricing deck and email it to the support team", []wantCall{w("send_email", "team_id", "$team Support", "body", "~rise 4%")}, nil},
	{"multi-step", "Look up Zoe Quinn and if she isn't there, add her as a contact, zoe@quinn.example", []wantCall{w("create_contact", "name", "Zoe Quinn", "email", "zoe@quinn.example")}, nil},
	{"multi-step", "Find Priya Shah, then email her that the samples have shipped", []wantCall{w("send_email", "contact_ids", "$Priya Shah", "body", "~the samples have shipped")}, nil},
	{"multi-step", "Create a task to prepare the Initech demo by Thursday, then assign it to Li Wei", []wantCall{w("create_task", "title", "Prepare the Initech demo", "due_date", "2026-12-10"), w("assign_task", "assignee", "li.wei@ws.example")}, nil},

	// More contacts, written the ways integrations write them.
	{"contact: create", "New contact: name=Hana Kobayashi | company=Sakura Bank | email=hana@sakura.example", []wantCall{w("create_contact", "name", "Hana Kobayashi", "company", "Sakura Bank", "email", "hana@sakura.example")}, nil},
	{"contact: create", "Create a contact for Marta Kowalska, CEO of Vistula Labs, marta@vistula.example", []wantCall{w("create_contact", "name", "Marta Kowalska", "title", "CEO", "company", "Vistula Labs", "email", "marta@vistula.example")}, nil},
	{"contact: create", "Add a contact: Liam O'Brien who works at Kerry Foods, phone (01) 555 0199", []wantCall{w("create_contact", "name", "Liam O'Brien", "company", "Kerry Foods", "phone", "(01) 555 0199")}, nil},
	{"contact: create", "Create a contact\nName: Björn Andersson\nCompany: Volvo Cars\nCity: Gothenburg", []wantCall{w("create_contact", "name", "Björn Andersson", "company", "Volvo Cars", "city", "Gothenburg")}, nil},
	{"contact: create", "Create a contact for John Smith at Acme Corp, john@acme.com", []wantCall{w("create_contact", "name", "John Smith", "company", "Acme Corp", "email", "john@acme.com")}, []string{"already exists"}}, // the tool returns the one there
	{"contact: update", "Update Ann Lee's title to VP Procurement", []wantCall{w("update_contact", "id", "$Ann Lee", "title", "VP Procurement")}, nil},
	{"contact: update", "Set the notes of Seán O'Connor to met at the Dublin expo", nil, nil},
	{"contact: search", "contacts whose name contains Priya", nil, []string{"Priya Raman", "Priya Shah"}},
	{"contact: search", "Who do we know at Fabrikam?", nil, []string{"Priya Shah"}},
	{"contact: search", "Please find everyone who lives in Dublin", nil, []string{"O'Connor"}},
	{"summary", "Summarise Ann Lee", nil, []string{"Ann Lee", "Initech"}},
	{"summary", "Summarize this contact\nContext: {\"entity_type\":\"contact\",\"entity_id\":\"c1\",\"action\":\"view\"}", nil, []string{"John Smith"}},
	{"summary", "Tell me about Priya", nil, []string{"Priya"}}, // a read may pick, and says which
	{"contact: delete", "Delete the contact Priya", nil, []string{"Priya Raman", "Priya Shah"}},
	{"not understood", "Translate the Q1 report into German", nil, nil},
	{"not understood", "asdf qwerty", nil, nil},
	{"not understood", "What is the weather in Leeds?", nil, nil},
	{"not understood", "Order 40 pizzas for the offsite", nil, nil},
	{"not understood", "How are you today?", nil, nil},

	// A batch written fresh after the model was built, not tuned to it.
	{"contact: create", "pls add contact Nadia Haddad, Product Lead @ Orbit Systems, nadia.h@orbit.example", []wantCall{w("create_contact", "name", "Nadia Haddad", "title", "Product Lead", "company", "Orbit Systems", "email", "nadia.h@orbit.example")}, nil},
	{"contact: create", "Could you create a new client record for Dmitri Volkov from Baltic Freight?", []wantCall{w("create_contact", "name", "Dmitri Volkov", "company", "Baltic Freight")}, nil},
	{"contact: create", "Add contact: Chloé Laurent; chloe@laurent.fr; Lyon", []wantCall{w("create_contact", "name", "Chloé Laurent", "email", "chloe@laurent.fr", "city", "Lyon")}, nil},
	{"contact: search", "anyone at Globex?", nil, []string{"O'Connor"}},
	{"contact: search", "Find people named Ann", nil, []string{"Ann Lee"}},
	{"contact: search", "Show me contacts in Manchester please", nil, []string{"Priya Shah"}},
	{"contact: update", "Change John Smith's company to Globex", []wantCall{w("update_contact", "id", "$John Smith", "company", "Globex")}, nil},
	{"contact: update", "Priya Shah's new email is p.shah@fabrikam.com", []wantCall{w("update_contact", "id", "$Priya Shah", "email", "p.shah@fabrikam.com")}, nil},
	{"contact: delete", "Remove Seán O'Connor from the CRM", []wantCall{w("delete_contact", "id", "$Seán O'Connor")}, nil},
	{"email", "Could you email Ann Lee about the updated delivery schedule?", []wantCall{w("send_email", "contact_ids", "$Ann Lee", "subject", "~delivery schedule")}, nil},
	{"email", "Send a short email to john@acme.com saying we received the signed order", []wantCall{w("send_email", "to", "john@acme.com", "body", "~we received the signed order")}, nil},
	{"email", "Please notify the Brand team that the new logo files are in the shared drive", []wantCall{w("send_email", "team_id", "$team Brand", "body", "~new logo files")}, nil},
	{"email", "Write an email to Priya Raman following up on last week's proposal", []wantCall{w("send_email", "contact_ids", "$Priya Raman", "body", "~following up on last week's proposal")}, nil},
	{"email", "Email the whole support team about the holiday cover", []wantCall{w("send_email", "team_id", "$team Support")}, nil},
	{"email", "Send an email to Ann", nil, []string{"what should the email say"}},
	{"documents", "Where is the onboarding checklist?", nil, []string{"/HR"}},
	{"documents", "Open the pricing policy document", nil, []string{"approval"}},
	{"documents", "Sum up the Q1 sales report for me", nil, []string{"Revenue grew"}},
	{"documents", "Move the Q3 pricing deck into the Archive folder", []wantCall{w("move_document", "id", "$Q3 pricing deck", "folder", "/Archive")}, nil},
	{"documents", "List all documents", nil, []string{"Onboarding checklist"}},
	{"org", "Which departments do we have?", nil, []string{"Customer Success"}},
	{"org", "Who are the members of the Sales Ops team?", nil, []string{"dana.white@ws.example"}},
	{"task: dates", "Add a todo: call the Initech buyer tomorrow", []wantCall{w("create_task", "title", "Call the Initech buyer", "due_date", "2026-12-08")}, nil},
	{"task: dates", "Create a task to update the price list by next Friday", []wantCall{w("create_task", "title", "Update the price list", "due_date", "2026-12-18")}, nil},
	{"task: dates", "New task: quarterly review, due end of next month", []wantCall{w("create_task", "title", "Quarterly review", "due_date", "2027-01-31")}, nil},
	{"task: dates", "Remind me to renew the insurance in a month", []wantCall{w("create_task", "title", "Renew the insurance", "due_date", "2027-01-07")}, nil},
	{"task: assign", "Hand the task Prepare the renewal quote for Initech to eva.novak@ws.example", []wantCall{w("assign_task", "id", "$Prepare the renewal quote for Initech", "assignee", "eva.novak@ws.example")}, nil},
	{"task: complete", "I've completed the task Prepare the renewal quote for Initech", []wantCall{w("complete_task", "id", "$Prepare the renewal quote for Initech")}, nil},
	{"task: list", "show me what's done", nil, nil},
	{"multi-step", "Search for Priya Raman and then send her an email about the Leeds workshop", []wantCall{w("send_email", "contact_ids", "$Priya Raman", "subject", "~Leeds workshop")}, nil},
	{"multi-step", "Create a contact for Ines Moreau at Lumière SA, then email her introducing our consulting services", []wantCall{w("create_contact", "name", "Ines Moreau", "company", "Lumière SA")}, []string{"Ines Moreau", "no e-mail address"}}, // she has no address to send to
	{"multi-step", "Find the onboarding checklist and send it to li.wei@ws.example", []wantCall{w("send_email", "to", "li.wei@ws.example", "body", "~Laptop")}, nil},
	{"multi-step", "Add a task to call Ann Lee on Wednesday, then assign it to Marco", []wantCall{w("create_task", "title", "Call Ann Lee", "due_date", "2026-12-09"), w("assign_task", "assignee", "marco.rossi@ws.example")}, nil},
	{"multi-step", "Delete Priya and then email the sales team", nil, []string{"Priya Raman", "Priya Shah"}}, // stops at the ambiguous delete
	{"not understood", "Can you make me a sandwich?", nil, nil},
	{"not understood", "Play some music", nil, nil},

	// The contract's own example requests (their e-mail addresses arrive
	// mangled, as "[email protected]": never written into a field).
	{"seed examples", "Create a contact for John Smith at Acme Corp, [email protected], +44 7700 900000", []wantCall{w("create_contact", "name", "John Smith", "company", "Acme Corp", "phone", "+44 7700 900000")}, []string{"already exists"}},
	{"seed examples", "Create a contact: Jane Doe, CEO of Acme Corp, [email protected]", []wantCall{w("create_contact", "name", "Jane Doe", "title", "CEO", "company", "Acme Corp")}, []string{"did not understand"}},
	{"seed examples", "Find all contacts from London", nil, []string{"John Smith", "Ann Lee"}},
	{"seed examples", "Create a task: Research competitor pricing for Q1 2026", []wantCall{w("create_task", "title", "Research competitor pricing for Q1 2026")}, nil},
	{"seed examples", "Give me a full summary of this contact\nContext: {\"entity_type\":\"contact\",\"entity_id\":\"c2\",\"action\":\"view\"}", nil, []string{"Ann Lee", "Initech"}},
	{"seed examples", "Send an email to [email protected] introducing our new product line", nil, []string{"who should get the email"}},
	{"seed examples", "Send an email to john@acme.com introducing our new product line", []wantCall{w("send_email", "to", "john@acme.com", "subject", "Introducing our new product line")}, nil},
	{"seed examples", "Find the Q1 report, summarise it, and email the summary to the sales team", []wantCall{w("send_email", "team_id", "$team Sales", "body", "~Revenue grew 18%")}, nil},
	{"seed examples", "Hello", nil, nil},
	{"seed examples", "What are your business hours?", nil, nil},
	{"seed examples", "Tell me a long story", nil, nil},
	{"seed examples", "Can you elaborate on that?", nil, nil},
	{"email", "Email the Sales department about the new commission plan", []wantCall{w("send_email", "to", "dana.scully@ws.example,marco.rossi@ws.example,dana.white@ws.example", "subject", "~commission plan")}, nil},
	{"email", "Send a note to everyone in the Customer Success department saying the survey results are in", []wantCall{w("send_email", "to", "li.wei@ws.example", "body", "~the survey results are in")}, nil},

	// Found by trying field lists that hold the word "email": a field, not a step.
	{"contact: update", "Update John Smith: phone +44 7700 900001, email js@acme.com", []wantCall{w("update_contact", "id", "$John Smith", "phone", "+44 7700 900001", "email", "js@acme.com")}, nil},
	{"contact: create", "Create a contact: Ann Leigh, email ann@leigh.example, phone 0161 496 0000", []wantCall{w("create_contact", "name", "Ann Leigh", "email", "ann@leigh.example", "phone", "0161 496 0000")}, nil},
	{"contact: create", "Add a contact for Tom Ng, e-mail: tom@ng.example, city Leeds", []wantCall{w("create_contact", "name", "Tom Ng", "email", "tom@ng.example", "city", "Leeds")}, nil},
	{"multi-step", "Create a contact for Ola Berg at Statkraft and email her the onboarding checklist", []wantCall{w("create_contact", "name", "Ola Berg", "company", "Statkraft")}, []string{"no e-mail address"}},
	{"multi-step", "Find John Smith and show me his tasks", nil, []string{"John Smith", "no tasks"}},
}

// knownWrong are requests the model writes wrongly today, each with why.
// The table counts them as wrong writes; the test fails on any other.
// Fixing one means deleting it here.
var knownWrong = map[string]string{}

var writeTools = map[string]bool{"create_contact": true, "update_contact": true, "delete_contact": true, "create_task": true, "complete_task": true,
	"send_email": true, "assign_task": true, "set_task_due_date": true, "move_document": true, "create_document": true}

// destructiveTools change or send what exists: one of them on a guess is
// the worst mistake the model can make.
var destructiveTools = map[string]bool{"update_contact": true, "delete_contact": true, "complete_task": true, "send_email": true,
	"assign_task": true, "set_task_due_date": true, "move_document": true}

// corpusArgs decodes a call's arguments as text: a list is its items
// joined by commas.
func corpusArgs(t *testing.T, raw []byte) map[string]string {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("arguments %s: %v", raw, err)
	}
	out := map[string]string{}
	for k, v := range obj {
		switch x := v.(type) {
		case string:
			out[k] = x
		case []any:
			var items []string
			for _, it := range x {
				items = append(items, fmt.Sprint(it))
			}
			out[k] = strings.Join(items, ",")
		default:
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}

// argMatches compares an argument with what is wanted: "~text" wants the
// text somewhere in it; otherwise the whole value, case ignored.
func argMatches(got, want string) bool {
	if rest, ok := strings.CutPrefix(want, "~"); ok {
		return strings.Contains(strings.ToLower(got), strings.ToLower(rest))
	}
	return strings.EqualFold(got, want)
}

func TestCorpus(t *testing.T) {
	type tally struct{ right, total, wrongWrites, guesses int }
	byCat := map[string]*tally{}
	for _, tc := range slices.Concat(corpus, blindCorpus, blindCorpus2, blindCorpus3) {
		crm := &fakeCRM{}
		corpusSeed(crm)
		ids := map[string]string{}
		for _, c := range crm.contacts {
			ids["$"+c.Name] = c.ID
		}
		for _, tk := range crm.tasks {
			ids["$"+tk.Title] = tk.ID
		}
		for _, d := range crm.documents {
			ids["$"+d.Title] = d.ID
		}
		for _, tm := range crm.teams {
			ids["$team "+tm.Name] = tm.ID
		}
		conv := converseAt(t, crm, catalogToolNames, corpusNow, nil, tc.request)
		var writes []int
		for i, c := range conv.calls {
			if writeTools[c.Name] {
				writes = append(writes, i)
			}
		}
		tl := byCat[tc.category]
		if tl == nil {
			tl = &tally{}
			byCat[tc.category] = tl
		}
		tl.total++
		// A write is wrong when it was not expected, or its target or a
		// value that matters differs.
		wrong := ""
		for n, i := range writes {
			if n >= len(tc.writes) {
				wrong = fmt.Sprintf("unexpected %s %s", conv.calls[i].Name, conv.calls[i].Arguments)
				break
			}
			want := tc.writes[n]
			got := corpusArgs(t, conv.calls[i].Arguments)
			if conv.calls[i].Name != want.name {
				wrong = fmt.Sprintf("%s instead of %s", conv.calls[i].Name, want.name)
				break
			}
			for k, v := range want.args {
				if id, ok := ids[v]; ok {
					v = id
				}
				if !argMatches(got[k], v) {
					wrong = fmt.Sprintf("%s %s = %q, want %q", want.name, k, got[k], v)
					break
				}
			}
			if want.name == "create_contact" {
				// A new contact holds what was said, and nothing else: a
				// field with words that do not belong there is a wrong write.
				for k, v := range got {
					if _, expected := want.args[k]; !expected {
						wrong = fmt.Sprintf("create_contact %s = %q, which was not asked for", k, v)
					}
				}
			}
			if wrong != "" {
				break
			}
		}
		if wrong != "" {
			tl.wrongWrites++
			for _, i := range writes {
				if destructiveTools[conv.calls[i].Name] {
					tl.guesses++
					break
				}
			}
			if why, known := knownWrong[tc.request]; known {
				t.Logf("known wrong write (%s) for %q: %s", why, tc.request, wrong)
			} else {
				t.Errorf("WRONG WRITE for %q: %s (reply %q)", tc.request, wrong, conv.reply)
			}
			continue
		}
		if _, known := knownWrong[tc.request]; known {
			t.Errorf("%q is listed in knownWrong but wrote nothing wrong: take it out of the list", tc.request)
		}
		ok := len(writes) == len(tc.writes)
		for _, s := range tc.reads {
			ok = ok && strings.Contains(strings.ToLower(conv.reply), strings.ToLower(s))
		}
		if ok {
			tl.right++
		} else if testing.Verbose() {
			t.Logf("not right (%s): %q -> %d writes, reply %q", tc.category, tc.request, len(writes), conv.reply)
		}
	}
	cats := slices.Collect(maps.Keys(byCat))
	sort.Strings(cats)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nOffline model corpus\ncategory\tright\tof\taccuracy\twrong writes\tdestructive guesses")
	all := tally{}
	for _, c := range cats {
		tl := byCat[c]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f%%\t%d\t%d\n", c, tl.right, tl.total, 100*float64(tl.right)/float64(tl.total), tl.wrongWrites, tl.guesses)
		all.right, all.total = all.right+tl.right, all.total+tl.total
		all.wrongWrites, all.guesses = all.wrongWrites+tl.wrongWrites, all.guesses+tl.guesses
	}
	fmt.Fprintf(tw, "all\t%d\t%d\t%.0f%%\t%d\t%d\n", all.right, all.total, 100*float64(all.right)/float64(all.total), all.wrongWrites, all.guesses)
	tw.Flush()
	if n := len(corpus) + len(blindCorpus) + len(blindCorpus2) + len(blindCorpus3); n < 200 {
		t.Errorf("the corpus holds %d requests; keep at least 200", n)
	}
	for _, c := range cats {
		if tl := byCat[c]; 10*tl.right < 9*tl.total {
			t.Errorf("category %s: %d of %d right, below 90%%", c, tl.right, tl.total)
		}
	}
}

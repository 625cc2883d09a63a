package offline

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"text/tabwriter"
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
}

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

	// What the offline model does not do yet: no write on a guess.
	{"email", "Send an email to Ann Lee introducing our new product line", []wantCall{w("send_email")}, nil},
	{"email", "Email john@acme.com the meeting notes from today", []wantCall{w("send_email")}, nil},
	{"multi-step", "Find the Q1 report, summarise it, and email the summary to the sales team", []wantCall{w("send_email")}, nil},
	{"multi-step", "Create a contact for Lena Fischer at Bosch and then create a task to call her tomorrow", []wantCall{w("create_contact", "name", "Lena Fischer", "company", "Bosch"), w("create_task")}, nil},
	{"not understood", "asdf qwerty", nil, nil},
	{"not understood", "What is the weather in Leeds?", nil, nil},
}

// knownWrong are requests the model writes wrongly today, each with why.
// The table counts them as wrong writes; the test fails on any other.
// Fixing one means deleting it here.
var knownWrong = map[string]string{
	// A single bare part after the name is taken for the company (the
	// convention "Jane Doe, Acme Marketing" relies on); here it is a city.
	"New contact for Carlos Ruiz, carlos@ruiz.mx, Mexico City": "a bare place taken for the company",
}

var writeTools = map[string]bool{"create_contact": true, "update_contact": true, "delete_contact": true, "create_task": true, "complete_task": true}

func TestCorpus(t *testing.T) {
	type tally struct{ right, total, wrongWrites int }
	byCat := map[string]*tally{}
	for _, tc := range corpus {
		crm := &fakeCRM{}
		corpusSeed(crm)
		ids := map[string]string{}
		for _, c := range crm.contacts {
			ids["$"+c.Name] = c.ID
		}
		for _, tk := range crm.tasks {
			ids["$"+tk.Title] = tk.ID
		}
		conv := converse(t, crm, allToolNames, tc.request)
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
			got := conv.args(t, i)
			if conv.calls[i].Name != want.name {
				wrong = fmt.Sprintf("%s instead of %s", conv.calls[i].Name, want.name)
				break
			}
			for k, v := range want.args {
				if id, ok := ids[v]; ok {
					v = id
				}
				if !strings.EqualFold(got[k], v) {
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
	fmt.Fprintln(tw, "\nOffline model corpus\ncategory\tright\tof\taccuracy\twrong writes")
	all := tally{}
	for _, c := range cats {
		tl := byCat[c]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f%%\t%d\n", c, tl.right, tl.total, 100*float64(tl.right)/float64(tl.total), tl.wrongWrites)
		all.right, all.total, all.wrongWrites = all.right+tl.right, all.total+tl.total, all.wrongWrites+tl.wrongWrites
	}
	fmt.Fprintf(tw, "all\t%d\t%d\t%.0f%%\t%d\n", all.right, all.total, 100*float64(all.right)/float64(all.total), all.wrongWrites)
	tw.Flush()
}

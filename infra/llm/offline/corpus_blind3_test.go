package offline

// blindCorpus3 is a third batch written blind, after the model was
// improved on the first two: its first run is the measure reported.
var blindCorpus3 = []corpusCase{
	// Contacts: created, changed, found, removed.
	{"blind3: contacts", "hi can u add Tariq Aziz to contacts pls - he's the Sales Manager at Meridian Shipping, tariq.aziz@meridian.example", []wantCall{w("create_contact", "name", "Tariq Aziz", "title", "Sales Manager", "company", "Meridian Shipping", "email", "tariq.aziz@meridian.example")}, nil},
	{"blind3: contacts", "New submission from Typeform \"Contact us\"\nFull name: Elena Rossi\nCompany: Trattoria Group\nE-mail: elena@trattoria.example\nPhone: +39 02 555 0101\nCity: Milan\nPlease create a contact.", []wantCall{w("create_contact", "name", "Elena Rossi", "company", "Trattoria Group", "email", "elena@trattoria.example", "phone", "+39 02 555 0101", "city", "Milan")}, nil},
	{"blind3: contacts", "Please to create new contact, the name is Jürgen Weber, he is working for Siemens Energy in Munich.", []wantCall{w("create_contact", "name", "Jürgen Weber", "company", "Siemens Energy", "city", "Munich")}, nil},
	{"blind3: contacts", "Add Rahul Mehta (VP Engineering, Quantum Dynamics) to the CRM", []wantCall{w("create_contact", "name", "Rahul Mehta", "title", "VP Engineering", "company", "Quantum Dynamics")}, nil},
	{"blind3: contacts", "Ann Lee got promoted, she's Head of Procurement now. Can you update her title?", []wantCall{w("update_contact", "id", "$Ann Lee", "title", "Head of Procurement")}, nil},
	{"blind3: contacts", "Seán O'Connor has a new mobile number: +353 87 555 0123", []wantCall{w("update_contact", "id", "$Seán O'Connor", "phone", "+353 87 555 0123")}, nil},
	{"blind3: contacts", "FYI Priya Raman left Northwind Traders - she joined Contoso as COO. Please update her record.", []wantCall{w("update_contact", "id", "$Priya Raman", "company", "Contoso", "title", "COO")}, nil},
	{"blind3: contacts", "Do we have anybody from Acme in the CRM?", nil, []string{"John Smith"}},
	{"blind3: contacts", "whose email is sean@globex.ie?", nil, []string{"O'Connor"}},
	{"blind3: contacts", "Priya Shah sent a GDPR erasure request. Please delete her contact record.", []wantCall{w("delete_contact", "id", "$Priya Shah")}, nil},
	{"blind3: contacts", "Change Priya's city to Birmingham", nil, []string{"Priya Raman", "Priya Shah"}}, // two Priyas: ask
	{"blind3: contacts", "Update Marcus Brody's phone to 020 7946 0000", nil, []string{"Marcus Brody"}},   // no such contact
	{"blind3: contacts", "What do we know about Priya Shah?", nil, []string{"Priya Shah", "Fabrikam"}},

	// Tasks: created with dates, listed, completed, rescheduled, assigned.
	{"blind3: tasks", "todo: chase Initech for the signed PO by thursday", []wantCall{w("create_task", "title", "~chase Initech for the signed PO", "due_date", "2026-12-10")}, nil},
	{"blind3: tasks", "Could you add a task for me? Renew the SSL certificate. It has to be done by the end of the month.", []wantCall{w("create_task", "title", "~renew the SSL certificate", "due_date", "2026-12-31")}, nil},
	{"blind3: tasks", "What's on my plate? Just the open stuff please", nil, []string{"Research competitor pricing", "Prepare the renewal quote for Initech"}},
	{"blind3: tasks", "Is the venue booking for the offsite done already?", nil, []string{"Book the venue"}},
	{"blind3: tasks", "Done with the Initech renewal quote, please close that task.", []wantCall{w("complete_task", "id", "$Prepare the renewal quote for Initech")}, nil},
	{"blind3: tasks", "Move the due date of Research competitor pricing to 18 December", []wantCall{w("set_task_due_date", "id", "$Research competitor pricing", "due_date", "2026-12-18")}, nil},
	{"blind3: tasks", "Give the task 'Send the Q3 deck to Dana' to Marco", []wantCall{w("assign_task", "id", "$Send the Q3 deck to Dana", "assignee", "marco.rossi@ws.example")}, nil},
	{"blind3: tasks", "[Helpdesk] Ticket #4411: create task \"Call back Globex about invoice dispute\", due 2026-12-09", []wantCall{w("create_task", "title", "Call back Globex about invoice dispute", "due_date", "2026-12-09")}, nil},
	{"blind3: tasks", "Remind me in 2 weeks to check on the Fabrikam renewal", []wantCall{w("create_task", "title", "~Fabrikam renewal", "due_date", "2026-12-21")}, nil},
	{"blind3: tasks", "Complete the task Update the website banner", nil, []string{"website banner"}}, // no such task
	{"blind3: tasks", "Can Li take over the competitor pricing research? Please assign it to her.", []wantCall{w("assign_task", "id", "$Research competitor pricing", "assignee", "li.wei@ws.example")}, nil},

	// E-mail: to contacts, addresses, members and teams; given or composed.
	{"blind3: email", "email ann lee - subject: Invoice 2231 - body: Hi Ann, the invoice is attached. Regards", []wantCall{w("send_email", "contact_ids", "$Ann Lee", "subject", "Invoice 2231", "body", "~the invoice is attached")}, nil},
	{"blind3: email", "Can you drop John Smith a line to say the revised quote will be with him by Friday?", []wantCall{w("send_email", "contact_ids", "$John Smith", "body", "~revised quote")}, nil},
	{"blind3: email", "Please send the Sales team a reminder that forecasts are due Thursday", []wantCall{w("send_email", "team_id", "$team Sales", "body", "~forecasts are due Thursday")}, nil},
	{"blind3: email", "Please write to Seán O'Connor and ask him if he can join the call on Wednesday", []wantCall{w("send_email", "contact_ids", "$Seán O'Connor", "body", "~join the call on Wednesday")}, nil},
	{"blind3: email", "[Zapier] Action: Send email | To: john@acme.com | Subject: Your order has shipped | Body: Order #5521 left our warehouse today.", []wantCall{w("send_email", "to", "john@acme.com", "subject", "Your order has shipped", "body", "~Order #5521 left our warehouse today")}, nil},
	{"blind3: email", "Email Dana about the Q3 deck", nil, []string{"dana.scully@ws.example", "dana.white@ws.example"}}, // two Danas: ask
	{"blind3: email", "Send the pricing policy to ann@initech.com", []wantCall{w("send_email", "to", "ann@initech.com", "body", "~15%")}, nil},
	{"blind3: email", "Tell the Support team: scheduled maintenance tonight from 22:00 to 23:00 UTC", []wantCall{w("send_email", "team_id", "$team Support", "body", "~scheduled maintenance tonight")}, nil},
	{"blind3: email", "Mail ann@initech.com and john@acme.com inviting them to our customer day on 14 January", []wantCall{w("send_email", "to", "ann@initech.com,john@acme.com", "body", "~customer day")}, nil},
	{"blind3: email", "Send an email saying the office is closed on 24 December", nil, nil}, // no recipient: ask
	{"blind3: email", "Email the Legal team about the NDA", nil, []string{"Legal"}},         // no such team
	{"blind3: email", "Email Eva Novak the onboarding checklist", []wantCall{w("send_email", "to", "eva.novak@ws.example", "body", "~Laptop")}, nil},
	{"blind3: email", "Let Priya Raman know our list prices go up 4% on 1 January", []wantCall{w("send_email", "contact_ids", "$Priya Raman", "body", "~4%")}, nil},

	// Documents.
	{"blind3: documents", "where did we put the pricing policy?", nil, []string{"/Sales"}},
	{"blind3: documents", "What was churn according to the Q1 sales report?", nil, []string{"2%"}},
	{"blind3: documents", "Please archive the meeting notes from the Acme renewal call", []wantCall{w("move_document", "id", "$Meeting notes: Acme renewal call", "folder", "/Archive")}, nil},
	{"blind3: documents", "Move 'Pricing policy 2027' to the /Sales/Policies folder", []wantCall{w("move_document", "id", "$Pricing policy 2027", "folder", "/Sales/Policies")}, nil},
	{"blind3: documents", "What documents are in HR?", nil, []string{"Onboarding checklist"}},
	{"blind3: documents", "Is there a doc on discounts?", nil, []string{"Pricing policy 2027"}},
	{"blind3: documents", "Move the Q1 sales report into /Reports/2026", []wantCall{w("move_document", "id", "$Q1 2026 Sales Report", "folder", "/Reports/2026")}, nil},
	{"blind3: documents", "Give me the gist of the Acme call notes", nil, []string{"two-year term"}},
	{"blind3: documents", "Move the strategy doc to /Archive", nil, nil}, // no such document

	// Teams, departments and members.
	{"blind3: org", "Who's in Brand?", nil, []string{"eva.novak@ws.example"}},
	{"blind3: org", "which team is Li Wei in?", nil, []string{"Support"}},
	{"blind3: org", "How many people are in the Sales team?", nil, []string{"marco.rossi@ws.example"}},
	{"blind3: org", "What teams fall under Customer Success?", nil, []string{"Support"}},
	{"blind3: org", "Who are the admins in this workspace?", nil, []string{"eva.novak@ws.example"}},

	// Several steps in one message, results carried forward.
	{"blind3: multi-step", "Add Noor Khalil (noor@khalil.example) as a contact and set up a task to send her the Q3 pricing deck by Wednesday", []wantCall{w("create_contact", "name", "Noor Khalil", "email", "noor@khalil.example"), w("create_task", "title", "~Q3 pricing deck", "due_date", "2026-12-09")}, nil},
	{"blind3: multi-step", "Complete 'Send the Q3 deck to Dana' and then email dana.scully@ws.example to let her know it's done", []wantCall{w("complete_task", "id", "$Send the Q3 deck to Dana"), w("send_email", "to", "dana.scully@ws.example")}, nil},
	{"blind3: multi-step", "Create a task to prepare the Fabrikam proposal, due next Friday, and give it to Eva", []wantCall{w("create_task", "title", "~prepare the Fabrikam proposal", "due_date", "2026-12-18"), w("assign_task", "assignee", "eva.novak@ws.example")}, nil},
	{"blind3: multi-step", "Summarise the pricing policy and email it to the Sales Ops team", []wantCall{w("send_email", "team_id", "$team Sales Ops", "body", "~15%")}, nil},
	{"blind3: multi-step", "Ann Lee has a new address, ann.lee@initech.co.uk - update her contact and then send her a quick test email so we know it works", []wantCall{w("update_contact", "id", "$Ann Lee", "email", "ann.lee@initech.co.uk"), w("send_email", "contact_ids", "$Ann Lee")}, nil},
	{"blind3: multi-step", "Look for a contact called Hugo Brandt. If he's not there, create him: Hugo Brandt, Brandt & Söhne, Hamburg", []wantCall{w("create_contact", "name", "Hugo Brandt", "company", "Brandt & Söhne", "city", "Hamburg")}, nil},
	{"blind3: multi-step", "Is there a task about the renewal quote? If so, push its deadline to Thursday.", []wantCall{w("set_task_due_date", "id", "$Prepare the renewal quote for Initech", "due_date", "2026-12-10")}, nil},
	{"blind3: multi-step", "Find the onboarding checklist, move it to /HR/Archive and email it to marco.rossi@ws.example", []wantCall{w("move_document", "id", "$Onboarding checklist", "folder", "/HR/Archive"), w("send_email", "to", "marco.rossi@ws.example", "body", "~Laptop")}, nil},
	{"blind3: multi-step", "Mark the pricing research task as complete, then let the Sales team know by email that it's finished", []wantCall{w("complete_task", "id", "$Research competitor pricing"), w("send_email", "team_id", "$team Sales")}, nil},
	{"blind3: multi-step", "Find the contacts named Priya and tell me which companies they work for", nil, []string{"Northwind", "Fabrikam"}},
	{"blind3: multi-step", "Check who is on the Support team, then assign the task Research competitor pricing to that person", []wantCall{w("assign_task", "id", "$Research competitor pricing", "assignee", "li.wei@ws.example")}, nil},

	// Not for this assistant: answer, write nothing.
	{"blind3: not understood", "Can you book me a taxi to Heathrow at 6pm?", nil, nil},
	{"blind3: not understood", "Write me a poem about spreadsheets", nil, nil},
	{"blind3: not understood", "Pay the Fabrikam invoice", nil, nil},
	{"blind3: not understood", "What's the EUR to GBP exchange rate today?", nil, nil},
}

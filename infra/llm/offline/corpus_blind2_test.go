package offline

// blindCorpus2 is a second batch written blind, after the model was
// improved on the first: its first run is the measure reported.
var blindCorpus2 = []corpusCase{
	// Contacts: web-form and CRM-integration templates, chatty people,
	// lowercase, questions, the fact that matters at the end.
	{"blind2: contacts", "New lead from website form — Name: Tomás Herrera, Company: Andes Coffee Co, Email: tomas@andescoffee.example, Phone: +57 1 555 0142", []wantCall{w("create_contact", "name", "Tomás Herrera", "company", "Andes Coffee Co", "email", "tomas@andescoffee.example", "phone", "+57 1 555 0142")}, nil},
	{"blind2: contacts", "New HubSpot form submission\nFirst name: Aisha\nLast name: Bello\nCompany: Lagos Fintech Hub\nJob title: COO\nEmail: aisha@lfh.example", []wantCall{w("create_contact", "name", "Aisha Bello", "company", "Lagos Fintech Hub", "title", "COO", "email", "aisha@lfh.example")}, nil},
	{"blind2: contacts", "hi! could you pls add Grace Liu to our contacts? she's Head of Partnerships at Brightwave, grace.liu@brightwave.example. thanks so much :)", []wantCall{w("create_contact", "name", "Grace Liu", "title", "Head of Partnerships", "company", "Brightwave", "email", "grace.liu@brightwave.example")}, nil},
	{"blind2: contacts", "add contact priya nair from wipro, pune", []wantCall{w("create_contact", "name", "priya nair", "company", "wipro", "city", "pune")}, nil},
	{"blind2: contacts", "Please add Carter Hughes, VP of Sales at Lone Star Logistics, Austin, (512) 555-0187", []wantCall{w("create_contact", "name", "Carter Hughes", "title", "VP of Sales", "company", "Lone Star Logistics", "city", "Austin", "phone", "(512) 555-0187")}, nil},
	{"blind2: contacts", "Ann Lee has a new mobile number, can you update it? It's +44 7911 123456", []wantCall{w("update_contact", "id", "$Ann Lee", "phone", "+44 7911 123456")}, nil},
	{"blind2: contacts", "For John Smith at Acme, could you change his e-mail address? The new one is j.smith@acme.com", []wantCall{w("update_contact", "id", "$John Smith", "email", "j.smith@acme.com")}, nil},
	{"blind2: contacts", "Seán O'Connor has relocated to Cork, please update his record", []wantCall{w("update_contact", "id", "$Seán O'Connor", "city", "Cork")}, nil},
	{"blind2: contacts", "Update Priya Shah — title: Procurement Lead, phone: 0161 555 0123", []wantCall{w("update_contact", "id", "$Priya Shah", "title", "Procurement Lead", "phone", "0161 555 0123")}, nil},
	{"blind2: contacts", "Priya just got promoted to Sales Director, can you update her title?", nil, []string{"Priya Raman", "Priya Shah"}}, // two Priyas: ask
	{"blind2: contacts", "Hey, Ann Lee asked us to remove her details under GDPR. Please delete her contact.", []wantCall{w("delete_contact", "id", "$Ann Lee")}, nil},
	{"blind2: contacts", "Please add a new contact with the email hello@unknown.example", nil, nil}, // no name: ask
	{"blind2: contacts", "can u show me evrybody we have in london", nil, []string{"John Smith", "Ann Lee"}},
	{"blind2: contacts", "Who's our contact over at Northwind?", nil, []string{"Priya Raman"}},
	{"blind2: contacts", "what's Priya Raman's email?", nil, []string{"priya@northwind.io"}},

	// Tasks: reminders, ticking off by a loose name, due dates moved,
	// delegation.
	{"blind2: tasks", "remind me to send the invoice to Fabrikam on wednesday", []wantCall{w("create_task", "title", "~send the invoice to Fabrikam", "due_date", "2026-12-09")}, nil},
	{"blind2: tasks", "Can you put a task in for me to renew the SSL certificate before the end of the month?", []wantCall{w("create_task", "title", "~renew the SSL certificate", "due_date", "2026-12-31")}, nil},
	{"blind2: tasks", "New task: Prepare Q1 forecast\nDue: 2027-01-15", []wantCall{w("create_task", "title", "Prepare Q1 forecast", "due_date", "2027-01-15")}, nil},
	{"blind2: tasks", "Add a todo for next week: update the CRM dashboards", []wantCall{w("create_task", "title", "~update the CRM dashboards", "due_date", "2026-12-14")}, nil},
	{"blind2: tasks", "create a task to call Seán O'Connor in 2 weeks", []wantCall{w("create_task", "title", "~call Seán O'Connor", "due_date", "2026-12-21")}, nil},
	{"blind2: tasks", "I've finally finished researching competitor pricing, you can tick that one off", []wantCall{w("complete_task", "id", "$Research competitor pricing")}, nil},
	{"blind2: tasks", "the initech renewal quote is done, pls close the task", []wantCall{w("complete_task", "id", "$Prepare the renewal quote for Initech")}, nil},
	{"blind2: tasks", "What's on my to-do list?", nil, []string{"Research competitor pricing", "Send the Q3 deck to Dana", "Prepare the renewal quote for Initech"}},
	{"blind2: tasks", "Have we booked the venue for the offsite yet?", nil, []string{"Book the venue"}},
	{"blind2: tasks", "Please move the due date for Send the Q3 deck to Dana to Friday", []wantCall{w("set_task_due_date", "id", "$Send the Q3 deck to Dana", "due_date", "2026-12-11")}, nil},
	{"blind2: tasks", "Set a deadline of 20 December for Research competitor pricing", []wantCall{w("set_task_due_date", "id", "$Research competitor pricing", "due_date", "2026-12-20")}, nil},
	{"blind2: tasks", "Assign the Initech renewal quote task to marco", []wantCall{w("assign_task", "id", "$Prepare the renewal quote for Initech", "assignee", "marco.rossi@ws.example")}, nil},
	{"blind2: tasks", "Can Dana take over the competitor pricing research?", nil, []string{"dana.scully@ws.example", "dana.white@ws.example"}}, // two Danas: ask

	// E-mail: to contacts, addresses, teams and a department; subject and
	// body given or to be composed; documents carried; ambiguity.
	{"blind2: email", "Hi there, could you drop Ann Lee a line to say her order has been dispatched? Cheers", []wantCall{w("send_email", "contact_ids", "$Ann Lee", "body", "~has been dispatched")}, nil},
	{"blind2: email", "email john smith re: the revised quote", []wantCall{w("send_email", "contact_ids", "$John Smith", "subject", "~revised quote")}, nil},
	{"blind2: email", "Send an email to marco.rossi@ws.example with the subject 'Team lunch' saying lunch is booked for 1pm on Friday", []wantCall{w("send_email", "to", "marco.rossi@ws.example", "subject", "Team lunch", "body", "~lunch is booked for 1pm on Friday")}, nil},
	{"blind2: email", "Please let the Sales Ops team know that the pipeline report is now in the shared folder", []wantCall{w("send_email", "team_id", "$team Sales Ops", "body", "~pipeline report is now in the shared folder")}, nil},
	{"blind2: email", "Email ann@initech.com and john@acme.com about the holiday opening hours", []wantCall{w("send_email", "to", "ann@initech.com,john@acme.com", "subject", "~holiday opening hours")}, nil},
	{"blind2: email", "Could you send the Q1 2026 Sales Report to Priya Raman?", []wantCall{w("send_email", "contact_ids", "$Priya Raman", "body", "~Revenue grew 18%")}, nil},
	{"blind2: email", "Send Priya the pricing deck", nil, []string{"Priya Raman", "Priya Shah"}}, // two Priyas: ask
	{"blind2: email", "Send a message to the Marketing department: the brand refresh launches on Monday", []wantCall{w("send_email", "to", "eva.novak@ws.example", "body", "~the brand refresh launches on Monday")}, nil},
	{"blind2: email", "Email the legal team about the contract review", nil, []string{"legal"}}, // no such team
	{"blind2: email", "Morning! When you get a sec, can you email Priya Shah and thank her for the quick turnaround on the samples? Thx", []wantCall{w("send_email", "contact_ids", "$Priya Shah", "body", "~quick turnaround")}, nil},
	{"blind2: email", "Write to the support team. Subject: Maintenance window. Message: the portal will be down on Saturday from 2am to 4am.", []wantCall{w("send_email", "team_id", "$team Support", "subject", "Maintenance window", "body", "~the portal will be down on Saturday from 2am to 4am")}, nil},
	{"blind2: email", "forward the notes from the acme renewal call to dana.white@ws.example", []wantCall{w("send_email", "to", "dana.white@ws.example", "body", "~two-year term")}, nil},
	{"blind2: email", "Can you send an e-mail to the Sales team reminding everyone that timesheets are due on Friday?", []wantCall{w("send_email", "team_id", "$team Sales", "body", "~timesheets")}, nil},
	{"blind2: email", "Send an email to Michael Scott at Dunder Mifflin about paper prices", nil, []string{"Michael Scott"}}, // not a contact, no address
	{"blind2: email", "mail eva.novak@ws.example: please approve the 20% discount for Initech", []wantCall{w("send_email", "to", "eva.novak@ws.example", "body", "~approve the 20% discount for Initech")}, nil},

	// Documents.
	{"blind2: documents", "Where did we put the Pricing policy 2027?", nil, []string{"/Sales"}},
	{"blind2: documents", "whats the gist of the onboarding checklist", nil, []string{"Laptop"}},
	{"blind2: documents", "What did we agree with Acme on the renewal call?", nil, []string{"revised quote"}},
	{"blind2: documents", "Any docs in the HR folder?", nil, []string{"Onboarding checklist"}},
	{"blind2: documents", "Do we have anything written down about discounts?", nil, []string{"Pricing policy 2027"}},
	{"blind2: documents", "What was churn in the Q1 report?", nil, []string{"2%"}},
	{"blind2: documents", "Can you tidy up and move the Acme renewal call notes to /Archive/2026?", []wantCall{w("move_document", "id", "$Meeting notes: Acme renewal call", "folder", "/Archive/2026")}, nil},
	{"blind2: documents", "Move the pricing deck to the Archive folder please", []wantCall{w("move_document", "id", "$Q3 pricing deck", "folder", "/Archive")}, nil},
	{"blind2: documents", "Move the pricing doc to /Archive", nil, []string{"Q3 pricing deck", "Pricing policy 2027"}}, // two match: ask

	// Teams, departments, members.
	{"blind2: org", "who's in the brand team?", nil, []string{"eva.novak@ws.example"}},
	{"blind2: org", "What are the email addresses of the Support team?", nil, []string{"li.wei@ws.example"}},
	{"blind2: org", "Which teams sit under the Sales department?", nil, []string{"Sales Ops"}},
	{"blind2: org", "Which department is the Brand team in?", nil, []string{"Marketing"}},
	{"blind2: org", "List everyone in the workspace with their roles", nil, []string{"admin@ws.example", "owner", "eva.novak@ws.example"}},

	// Several steps, a later one depending on an earlier one.
	{"blind2: multi-step", "Add Kofi Mensah (kofi@accrapay.example) as a contact and then send him a welcome email", []wantCall{w("create_contact", "name", "Kofi Mensah", "email", "kofi@accrapay.example"), w("send_email", "body", "~welcome")}, nil},
	{"blind2: multi-step", "Look for Rachel Green — if there isn't a contact for her, create one at Central Perk", []wantCall{w("create_contact", "name", "Rachel Green", "company", "Central Perk")}, nil},
	{"blind2: multi-step", "Check whether Ann Lee is in the CRM; if she isn't, add her with ann@initech.com", nil, []string{"Ann Lee"}}, // she is: nothing to add
	{"blind2: multi-step", "Create a task to send Priya Raman the Q3 pricing deck by Thursday and assign it to Eva", []wantCall{w("create_task", "title", "~Q3 pricing deck", "due_date", "2026-12-10"), w("assign_task", "assignee", "eva.novak@ws.example")}, nil},
	{"blind2: multi-step", "Find the Q3 pricing deck and email it to Ann Lee, then create a task to follow up with her next Friday", []wantCall{w("send_email", "contact_ids", "$Ann Lee", "body", "~rise 4%"), w("create_task", "title", "~follow up", "due_date", "2026-12-18")}, nil},
	{"blind2: multi-step", "john smith has moved to Initech - update his record and email him congratulations on the new role", []wantCall{w("update_contact", "id", "$John Smith", "company", "Initech"), w("send_email", "contact_ids", "$John Smith", "body", "~congratulat")}, nil},
	{"blind2: multi-step", "Mark Send the Q3 deck to Dana as done, and let the Sales team know the deck has gone out", []wantCall{w("complete_task", "id", "$Send the Q3 deck to Dana"), w("send_email", "team_id", "$team Sales", "body", "~the deck has gone out")}, nil},
	{"blind2: multi-step", "Summarise the pricing policy and send the summary to the Sales Ops team", []wantCall{w("send_email", "team_id", "$team Sales Ops", "body", "~15%")}, nil},
	{"blind2: multi-step", "Create contact Lars Eriksen at Nordlys AS in Oslo, then add a task to send him a proposal by end of month", []wantCall{w("create_contact", "name", "Lars Eriksen", "company", "Nordlys AS", "city", "Oslo"), w("create_task", "title", "~proposal", "due_date", "2026-12-31")}, nil},
	{"blind2: multi-step", "Email Priya the Q1 report and then archive it", nil, []string{"Priya Raman", "Priya Shah"}}, // stops at the ambiguous e-mail
	{"blind2: multi-step", "Find everyone at Acme Corp and email them the notes from the Acme renewal call", []wantCall{w("send_email", "contact_ids", "$John Smith", "body", "~two-year term")}, nil},
	{"blind2: multi-step", "Create a task to prepare the Globex proposal, give it to marco.rossi@ws.example and make it due next Friday", []wantCall{w("create_task", "title", "~Globex proposal"), w("assign_task", "assignee", "marco.rossi@ws.example"), w("set_task_due_date", "due_date", "2026-12-18")}, nil}, // widened after the first run: the due date set as the third step leaves the same task
	{"blind2: multi-step", "Find our contact at Fabrikam and update her phone to 0161 555 0199", []wantCall{w("update_contact", "id", "$Priya Shah", "phone", "0161 555 0199")}, nil},

	// Not CRM work: answer, write nothing.
	{"blind2: not understood", "Can you book me a table for two at Dishoom tonight?", nil, nil},
	{"blind2: not understood", "Write me a haiku about quarterly targets", nil, nil},
	{"blind2: not understood", "Turn on my out-of-office until January 4th", nil, nil},
	{"blind2: not understood", "thanks, that's all for now!", nil, nil},
}

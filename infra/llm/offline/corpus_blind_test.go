package offline

// blindCorpus are requests written by someone who had not read the
// model's code: the honest measure of how it meets new phrasings.
var blindCorpus = []corpusCase{
	// Contacts: creating, with facts in any order and punctuation.
	{"blind: contacts", "Please add a new contact — Siobhán Ní Bhriain, Head of Partnerships at Aer Lingus, Dublin, +353 1 886 2222", []wantCall{w("create_contact", "name", "Siobhán Ní Bhriain", "title", "Head of Partnerships", "company", "Aer Lingus", "city", "Dublin", "phone", "+353 1 886 2222")}, nil},
	{"blind: contacts", "new contact | Ravi Kapoor | Tata Consultancy | ravi.kapoor@tcs.example | Mumbai", []wantCall{w("create_contact", "name", "Ravi Kapoor", "company", "Tata Consultancy", "email", "ravi.kapoor@tcs.example", "city", "Mumbai")}, nil},
	{"blind: contacts", "Create contact: Jean-Luc Picard; Starfleet Logistics; 555-867-5309", []wantCall{w("create_contact", "name", "Jean-Luc Picard", "company", "Starfleet Logistics", "phone", "555-867-5309")}, nil},
	{"blind: contacts", "Add Kwame Mensah from Accra Fintech to contacts. His email is kwame@accrafin.example", []wantCall{w("create_contact", "name", "Kwame Mensah", "company", "Accra Fintech", "email", "kwame@accrafin.example")}, nil},
	{"blind: contacts", "I met Sofia Rossi yesterday, she's the COO of Bella Vista Hotels. Please save her as a contact with phone +39 06 1234 5678", []wantCall{w("create_contact", "name", "Sofia Rossi", "title", "COO", "company", "Bella Vista Hotels", "phone", "+39 06 1234 5678")}, nil},
	{"blind: contacts", "Create a contact for Emily Carter-Jones, Marketing Manager, Brightside Media, emily.cj@brightside.example", []wantCall{w("create_contact", "name", "Emily Carter-Jones", "title", "Marketing Manager", "company", "Brightside Media", "email", "emily.cj@brightside.example")}, nil},
	// Contacts: changing.
	{"blind: contacts", "Ann Lee got promoted - she's now Director of Procurement", []wantCall{w("update_contact", "id", "$Ann Lee", "title", "Director of Procurement")}, nil},
	{"blind: contacts", "please update the mobile number for Seán O'Connor: 087 123 4567", []wantCall{w("update_contact", "id", "$Seán O'Connor", "phone", "087 123 4567")}, nil},
	{"blind: contacts", "John Smith has a new email address: j.smith@acme.co.uk", []wantCall{w("update_contact", "id", "$John Smith", "email", "j.smith@acme.co.uk")}, nil},
	{"blind: contacts", "FYI Priya Raman is now based in York, can you update her record", []wantCall{w("update_contact", "id", "$Priya Raman", "city", "York")}, nil},
	{"blind: contacts", "Priya has moved to Contoso, update her company", nil, []string{"Priya Raman", "Priya Shah"}}, // two Priyas: ask
	// Contacts: deleting.
	{"blind: contacts", "Please delete Ann Lee, we no longer work with her", []wantCall{w("delete_contact", "id", "$Ann Lee")}, nil},
	{"blind: contacts", "Remove the contact whose email is priya@fabrikam.com", []wantCall{w("delete_contact", "id", "$Priya Shah")}, nil},
	{"blind: contacts", "delete Marcus Brody from contacts", nil, []string{"Marcus Brody"}}, // no such contact
	// Contacts: finding.
	{"blind: contacts", "Who's at Acme?", nil, []string{"John Smith"}},
	{"blind: contacts", "What's Ann Lee's email address?", nil, []string{"ann@initech.com"}},
	{"blind: contacts", "Anyone based in Paris?", nil, []string{"no contact"}},
	{"blind: contacts", "london contacts pls", nil, []string{"John Smith", "Ann Lee"}},

	// Tasks.
	{"blind: tasks", "Add a to-do to send Priya Raman the contract by Thursday", []wantCall{w("create_task", "title", "Send Priya Raman the contract", "due_date", "2026-12-10")}, nil},
	{"blind: tasks", "new task: chase unpaid invoices from Globex -- due next Wednesday", []wantCall{w("create_task", "title", "~chase unpaid invoices from Globex", "due_date", "2026-12-16")}, nil},
	{"blind: tasks", "Could you set up a task for me to prepare the January newsletter, due the day after tomorrow?", []wantCall{w("create_task", "title", "~prepare the January newsletter", "due_date", "2026-12-09")}, nil},
	{"blind: tasks", "Create a task \"Renew SSL certificates\" due 5 Jan 2027", []wantCall{w("create_task", "title", "Renew SSL certificates", "due_date", "2027-01-05")}, nil},
	{"blind: tasks", "create a task to email Ann Lee the pricing deck in a fortnight", []wantCall{w("create_task", "title", "~email Ann Lee the pricing deck", "due_date", "2026-12-21")}, nil}, // a task, not an e-mail now
	{"blind: tasks", "What's on my to-do list?", nil, []string{"Research competitor pricing", "Prepare the renewal quote for Initech"}},
	{"blind: tasks", "Show me the tasks I've already finished", nil, []string{"Book the venue for the offsite"}},
	{"blind: tasks", "tick off 'Prepare the renewal quote for Initech'", []wantCall{w("complete_task", "id", "$Prepare the renewal quote for Initech")}, nil},
	{"blind: tasks", "Done with researching competitor pricing, close that task please", []wantCall{w("complete_task", "id", "$Research competitor pricing")}, nil},
	{"blind: tasks", "Reassign 'Send the Q3 deck to Dana' to marco.rossi@ws.example", []wantCall{w("assign_task", "id", "$Send the Q3 deck to Dana", "assignee", "marco.rossi@ws.example")}, nil},
	{"blind: tasks", "Let Eva handle the Initech renewal quote task", []wantCall{w("assign_task", "id", "$Prepare the renewal quote for Initech", "assignee", "eva.novak@ws.example")}, nil},
	{"blind: tasks", "Assign the competitor pricing research to Li", []wantCall{w("assign_task", "id", "$Research competitor pricing", "assignee", "li.wei@ws.example")}, nil},
	{"blind: tasks", "The deadline for Prepare the renewal quote for Initech is now Friday", []wantCall{w("set_task_due_date", "id", "$Prepare the renewal quote for Initech", "due_date", "2026-12-11")}, nil},
	{"blind: tasks", "Move the due date of the competitor pricing research to the end of the month", []wantCall{w("set_task_due_date", "id", "$Research competitor pricing", "due_date", "2026-12-31")}, nil},

	// E-mail.
	{"blind: email", "Drop Seán O'Connor a line to say thanks for hosting us in Dublin", []wantCall{w("send_email", "contact_ids", "$Seán O'Connor", "body", "~hosting us in Dublin")}, nil},
	{"blind: email", "Email john@acme.com and ann@initech.com to let them know the webinar is moved to Thursday", []wantCall{w("send_email", "to", "john@acme.com,ann@initech.com", "body", "~webinar is moved to Thursday")}, nil},
	{"blind: email", "Send email to priya@northwind.io, subject: Invoice 4471, body: Please find the corrected invoice attached.", []wantCall{w("send_email", "to", "priya@northwind.io", "subject", "Invoice 4471", "body", "~Please find the corrected invoice attached")}, nil},
	{"blind: email", "Message the Sales team: 'Pipeline review moved to 3pm today.'", []wantCall{w("send_email", "team_id", "$team Sales", "body", "~Pipeline review moved to 3pm today")}, nil},
	{"blind: email", "Can you write to Ann Lee thanking her for the referral?", []wantCall{w("send_email", "contact_ids", "$Ann Lee", "body", "~referral")}, nil},
	{"blind: email", "Remind John Smith by email about the invoice due on Friday", []wantCall{w("send_email", "contact_ids", "$John Smith", "body", "~invoice due on Friday")}, nil},
	{"blind: email", "Email Priya Shah asking her to send over the signed purchase order", []wantCall{w("send_email", "contact_ids", "$Priya Shah", "body", "~send over the signed purchase order")}, nil},
	{"blind: email", "Send Ann Lee an email introducing Marco Rossi, our new account manager", []wantCall{w("send_email", "contact_ids", "$Ann Lee", "body", "~Marco Rossi")}, nil},
	{"blind: email", "Forward the Pricing policy 2027 to the Sales Ops team", []wantCall{w("send_email", "team_id", "$team Sales Ops", "body", "~15%")}, nil},
	{"blind: email", "Share the onboarding checklist with the Support team by email", []wantCall{w("send_email", "team_id", "$team Support", "body", "~Laptop")}, nil},
	{"blind: email", "Send a reminder to li.wei@ws.example about the on-call handover tomorrow", []wantCall{w("send_email", "to", "li.wei@ws.example", "body", "~on-call handover")}, nil},
	{"blind: email", "Let Marco Rossi know the Initech quote is approved", []wantCall{w("send_email", "to", "marco.rossi@ws.example", "body", "~the Initech quote is approved")}, nil}, // a member, not a contact
	{"blind: email", "email the marketing department asking them to review the new brochure", []wantCall{w("send_email", "to", "eva.novak@ws.example", "body", "~review the new brochure")}, nil},
	{"blind: email", "Email Priya that the samples are delayed", nil, []string{"Priya Raman", "Priya Shah"}}, // two Priyas: ask
	{"blind: email", "Send an email to john@acme.com", nil, nil},        // nothing to say: ask
	{"blind: email", "Write to the Legal team about the NDA", nil, nil}, // no such team

	// Documents.
	{"blind: documents", "Can you find the pricing deck?", nil, []string{"Q3 pricing deck"}},
	{"blind: documents", "what's in the onboarding checklist", nil, []string{"Laptop"}},
	{"blind: documents", "Give me the gist of the Acme renewal call notes", nil, []string{"two-year term"}},
	{"blind: documents", "Which document mentions the partner budget?", nil, []string{"Q1 2026 Sales Report"}},
	{"blind: documents", "What does our pricing policy say about discounts?", nil, []string{"15%"}},
	{"blind: documents", "File the meeting notes from the Acme renewal call under /Archive/2026", []wantCall{w("move_document", "id", "$Meeting notes: Acme renewal call", "folder", "/Archive/2026")}, nil},
	{"blind: documents", "move 'Pricing policy 2027' to the Policies folder", []wantCall{w("move_document", "id", "$Pricing policy 2027", "folder", "/Policies")}, nil},
	{"blind: documents", "Put the sales report in the Archive", []wantCall{w("move_document", "id", "$Q1 2026 Sales Report", "folder", "/Archive")}, nil},
	{"blind: documents", "Show me what's in /Sales", nil, []string{"Q3 pricing deck", "Pricing policy 2027"}},
	{"blind: documents", "What folders exist?", nil, []string{"/Reports", "/Sales", "/HR", "/Notes"}},
	{"blind: documents", "Open the 2025 annual report", nil, nil}, // no such document

	// Teams, departments, members.
	{"blind: org", "How many teams are there and what are they called?", nil, []string{"Sales Ops", "Support", "Brand"}},
	{"blind: org", "Who belongs to the Brand team?", nil, []string{"eva.novak@ws.example"}},
	{"blind: org", "Which team is Li Wei on?", nil, []string{"Support"}},
	{"blind: org", "list everyone in the workspace with their roles", nil, []string{"admin@ws.example", "owner", "dana.white@ws.example"}},
	{"blind: org", "what departments are set up?", nil, []string{"Sales", "Customer Success", "Marketing"}},

	// Several steps, results carried forward.
	{"blind: multi-step", "Look up the contact at Fabrikam and email her the Q3 pricing deck", []wantCall{w("send_email", "contact_ids", "$Priya Shah", "body", "~rise 4%")}, nil},
	{"blind: multi-step", "Add Tariq Aziz, tariq@aziz.example, as a contact and remind me to call him on Friday", []wantCall{w("create_contact", "name", "Tariq Aziz", "email", "tariq@aziz.example"), w("create_task", "title", "~call Tariq", "due_date", "2026-12-11")}, nil},
	{"blind: multi-step", "Is Hugo Weaving in our contacts? If he isn't, create him with hugo@weaving.example", []wantCall{w("create_contact", "name", "Hugo Weaving", "email", "hugo@weaving.example")}, nil},
	{"blind: multi-step", "Search for Ann Lee; if she's missing, add her at Initech", nil, []string{"Ann Lee"}}, // she exists
	{"blind: multi-step", "Summarise the pricing policy and email the summary to dana.scully@ws.example", []wantCall{w("send_email", "to", "dana.scully@ws.example", "body", "~15%")}, nil},
	{"blind: multi-step", "Create a task to review the Q3 pricing deck by next Tuesday and give it to Eva", []wantCall{w("create_task", "title", "~review the Q3 pricing deck", "due_date", "2026-12-15"), w("assign_task", "assignee", "eva.novak@ws.example")}, nil},
	{"blind: multi-step", "Find who works at Globex and send them an invite to our Dublin meetup", []wantCall{w("send_email", "contact_ids", "$Seán O'Connor", "body", "~Dublin meetup")}, nil},
	{"blind: multi-step", "Mark 'Send the Q3 deck to Dana' as complete, then email the deck to dana.scully@ws.example", []wantCall{w("complete_task", "id", "$Send the Q3 deck to Dana"), w("send_email", "to", "dana.scully@ws.example", "body", "~rise 4%")}, nil},
	{"blind: multi-step", "Update Ann Lee's phone to 020 7946 0001 and then email her to confirm we have the new number", []wantCall{w("update_contact", "id", "$Ann Lee", "phone", "020 7946 0001"), w("send_email", "contact_ids", "$Ann Lee", "body", "~new number")}, nil},
	{"blind: multi-step", "Add Olga Petrova from Baltic Freight to contacts, then set up a task to send her our price list next week", []wantCall{w("create_contact", "name", "Olga Petrova", "company", "Baltic Freight"), w("create_task", "title", "~price list", "due_date", "2026-12-14")}, nil},
	{"blind: multi-step", "List contacts in Manchester, then email them about the northern roadshow", []wantCall{w("send_email", "contact_ids", "$Priya Shah", "subject", "~northern roadshow")}, nil},
	{"blind: multi-step", "Find Priya and send her the onboarding checklist", nil, []string{"Priya Raman", "Priya Shah"}}, // two Priyas: ask
	{"blind: multi-step", "Read the Acme renewal call notes and create a task for the follow-up they mention", []wantCall{w("create_task", "title", "~revised quote")}, nil},

	// Not something a CRM agent does.
	{"blind: not understood", "Book me a flight to Lisbon on Friday", nil, nil},
	{"blind: not understood", "What's 17% of 2,340?", nil, nil},
	{"blind: not understood", "Write me a poem about spreadsheets", nil, nil},
	{"blind: not understood", "Reset my password", nil, nil},
	{"blind: not understood", "Convert the Q1 report to PDF", nil, nil},
}

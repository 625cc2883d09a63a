package offline

import (
	"regexp"
	"strings"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

const toolListDepartments = "list_departments"

var (
	// teamMembersRe: "Who is on the sales team?", "Who's in Support?".
	teamMembersRe = regexp.MustCompile(`(?i)^(?:(?:check|see|find\s+out)\s+)?(?:who(?:'s|\s+is|\s+are)?|list|show(?:\s+me)?|how\s+many\s+(?:people|members)\s+are|how\s+many\s+(?:people|members))\s+(?:in|on|belongs?\s+to|(?:is|are)\s+(?:part|members?)\s+of|works?\s+(?:in|on)|sits?\s+(?:in|on)|the\s+(?:members|people)\s+(?:of|in|on))\s+(?:the\s+)?(.+?)(?:\s+team)?\??$`)
	// teamDepartmentRe: "Which department is the Brand team in?".
	teamDepartmentRe = regexp.MustCompile(`(?i)^(?:which|what)\s+department\s+(?:is|are|does|do)\s+(?:the\s+)?(.+?)(?:\s+team)?\s+(?:in|part\s+of|belong\s+to|under)\??$`)
	// anyTeamsRe: "How many teams are there and what are they called?".
	anyTeamsRe = regexp.MustCompile(`(?i)^(?:how\s+many|what|which|list|show|name)\b[^.]*\bteams\b`)
	// memberTeamsRe: "Which team is Li Wei on?".
	memberTeamsRe = regexp.MustCompile(`(?i)^(?:which|what)\s+teams?\s+(?:is|are|does|do)\s+(.+?)\s+(?:on|in|part\s+of|belong\s+to|a\s+member\s+of|work\s+in)\??$`)
	// membersOfRe: "Members of the sales team", "List the Support team's members".
	membersOfRe = regexp.MustCompile(`(?i)^(?:(?:list|show(?:\s+me)?|get|give\s+me|what\s+(?:are|is))\s+)?(?:(?:the|all)\s+)?(?:members|people|e-?mail\s+addresses|e-?mails|addresses)\s+(?:of|in|on)\s+(?:the\s+)?(.+?)(?:\s+team)?\??$|^(?:list|show(?:\s+me)?)\s+(?:the\s+)?(.+?)\s+team(?:'s)?\s+members\??$`)
	// listTeamsRe: "List our teams", "Which teams are in Sales?".
	listTeamsRe = regexp.MustCompile(`(?i)^(?:list|show(?:\s+me)?|what|which|get)\s+(?:are\s+)?(?:all\s+)?(?:the\s+|our\s+)?teams(?:\s+(?:do\s+we\s+have|are\s+there|exist))?(?:\s+(?:are\s+)?(?:in|of)\s+(?:the\s+)?(.+?)(?:\s+department)?)?\??$`)
	// listDepartmentsRe: "List the departments".
	listDepartmentsRe = regexp.MustCompile(`(?i)^(?:list|show(?:\s+me)?|what|which|get)\s+(?:are\s+)?(?:all\s+)?(?:the\s+|our\s+)?departments\b`)
	// listMembersRe: "List the workspace members", "Who are our users?".
	// roleMembersRe: "Who are the admins in this workspace?".
	roleMembersRe  = regexp.MustCompile(`(?i)^(?:who\s+(?:are|is)|list|show(?:\s+me)?)\s+(?:the\s+|our\s+)?(admin|owner|member)s?\b`)
	everyoneHereRe = regexp.MustCompile(`(?i)^(?:list|show(?:\s+me)?|who\s+are|get)\s+(?:all\s+)?(?:everyone|everybody|all\s+the\s+people|the\s+people|people|members|users)\s+(?:in|of|on)\s+(?:the|this|our)\s+workspace\b`)
	listMembersRe  = regexp.MustCompile(`(?i)^(?:list|show(?:\s+me)?|who\s+are|get)\s+(?:all\s+)?(?:the\s+|our\s+)?(?:workspace(?:'s)?\s+)?(?:members|users|colleagues|staff|team\s+members)(?:\s+of\s+(?:the|this|our)\s+workspace)?\??$`)
)

func (p parser) teamMembers() (intent, bool) {
	var team string
	if m := teamMembersRe.FindStringSubmatch(p.text); m != nil && strings.Contains(strings.ToLower(p.text), "team") {
		team = m[1]
	} else if m := membersOfRe.FindStringSubmatch(p.text); m != nil {
		team = m[1] + m[2]
	}
	team = cleanValue(team)
	if team == "" || strings.EqualFold(team, "workspace") || strings.EqualFold(team, "the workspace") {
		return intent{}, false
	}
	return intent{kind: intentListTeams, teamQuery: team}, true
}

func (p parser) listTeams() (intent, bool) {
	if m := teamDepartmentRe.FindStringSubmatch(p.text); m != nil {
		// The listing says each team's department.
		return intent{kind: intentListTeams, teamQuery: cleanValue(m[1])}, true
	}
	if m := memberTeamsRe.FindStringSubmatch(p.text); m != nil {
		return intent{kind: intentListTeams, member: cleanValue(m[1])}, true
	}
	m := listTeamsRe.FindStringSubmatch(p.text)
	if m == nil {
		if anyTeamsRe.MatchString(p.text) {
			return intent{kind: intentListTeams}, true
		}
		return intent{}, false
	}
	return intent{kind: intentListTeams, teamQuery: cleanValue(m[1])}, true
}

func (p parser) listDepartments() (intent, bool) {
	if !listDepartmentsRe.MatchString(p.text) {
		return intent{}, false
	}
	return intent{kind: intentListDepartments}, true
}

func (p parser) listMembers() (intent, bool) {
	if m := roleMembersRe.FindStringSubmatch(p.text); m != nil {
		return intent{kind: intentListMembers, role: strings.ToLower(m[1])}, true
	}
	if !listMembersRe.MatchString(p.text) && !everyoneHereRe.MatchString(p.text) {
		return intent{}, false
	}
	return intent{kind: intentListMembers}, true
}

func (p planner) listTeams() decision {
	if who := p.in.member; who != "" {
		if d, ok := answered(p, toolListTeams, asList(teamListResult), func(l listed[teamRecord]) string {
			var on []string
			for _, t := range l.items {
				for _, m := range t.Members {
					if memberMatches(m, who) {
						on = append(on, t.Name+" ("+m.Email+")")
						break
					}
				}
			}
			if len(on) == 0 {
				return "No team lists a member matching " + quote(who) + "."
			}
			return who + " is on " + joinAnd(on) + "."
		}); ok {
			return d
		}
		return p.call(toolListTeams, map[string]string{})
	}
	if d, ok := answered(p, toolListTeams, asList(teamListResult), func(l listed[teamRecord]) string {
		if len(l.items) == 0 {
			if p.in.teamQuery != "" {
				return "I found no team matching " + quote(p.in.teamQuery) + "."
			}
			return "The workspace has no teams yet."
		}
		var lines []string
		for _, t := range l.items {
			line := t.Name
			if t.Department != "" {
				line += " (" + t.Department + ")"
			}
			var emails []string
			for _, m := range t.Members {
				emails = append(emails, m.Email)
			}
			if len(emails) == 0 {
				line += ": no members"
			} else {
				line += ": " + strings.Join(emails, ", ")
			}
			lines = append(lines, line+idSuffix(t.ID))
		}
		head := "Teams"
		if p.in.teamQuery != "" {
			head += " matching " + quote(p.in.teamQuery)
		}
		return head + ": " + strings.Join(lines, "; ") + "."
	}); ok {
		return d
	}
	args := map[string]string{}
	if p.in.teamQuery != "" {
		args["name"] = p.in.teamQuery
	}
	return p.call(toolListTeams, args)
}

func (p planner) listDepartments() decision {
	if d, ok := answered(p, toolListDepartments, asList(departmentListResult), func(l listed[string]) string {
		if len(l.items) == 0 {
			return "The workspace has no departments yet."
		}
		return "The workspace's departments: " + strings.Join(l.items, ", ") + "."
	}); ok {
		return d
	}
	return p.call(toolListDepartments, map[string]string{})
}

func (p planner) listMembers() decision {
	if d, ok := answered(p, toolListMembers, asList(memberListResult), func(l listed[memberRecord]) string {
		if len(l.items) == 0 {
			return "The workspace has no members."
		}
		var items []string
		for _, m := range l.items {
			if p.in.role != "" && !strings.EqualFold(m.Role, p.in.role) {
				continue
			}
			item := m.Email
			if m.Role != "" {
				item += " (" + m.Role + ")"
			}
			items = append(items, item)
		}
		if p.in.role != "" {
			if len(items) == 0 {
				return "No member of the workspace has the role " + p.in.role + "."
			}
			return "Members with the role " + p.in.role + ": " + strings.Join(items, ", ") + "."
		}
		return "The workspace's members: " + strings.Join(items, ", ") + "."
	}); ok {
		return d
	}
	return p.call(toolListMembers, map[string]string{})
}

// ---- candidates -----------------------------------------------------------

// candidatesOf lists records for the caller to choose from.
func candidatesOf[R any](items []R, one func(R) agent.Candidate) []agent.Candidate {
	var out []agent.Candidate
	for _, it := range items[:min(len(items), maxListed)] {
		out = append(out, one(it))
	}
	return out
}

func contactCandidates(cs []contactRecord) []agent.Candidate {
	return candidatesOf(cs, func(c contactRecord) agent.Candidate {
		return agent.Candidate{Kind: "contact", ID: c.ID, Name: c.Name, Company: c.Company, Email: c.Email}
	})
}

func taskCandidates(ts []taskRecord) []agent.Candidate {
	return candidatesOf(ts, func(t taskRecord) agent.Candidate { return agent.Candidate{Kind: "task", ID: t.ID, Name: t.Title} })
}

func documentCandidates(ds []documentRecord) []agent.Candidate {
	return candidatesOf(ds, func(d documentRecord) agent.Candidate {
		return agent.Candidate{Kind: "document", ID: d.ID, Name: d.Title}
	})
}

func teamCandidates(ts []teamRecord) []agent.Candidate {
	return candidatesOf(ts, func(t teamRecord) agent.Candidate { return agent.Candidate{Kind: "team", ID: t.ID, Name: t.Name} })
}

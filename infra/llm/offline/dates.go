package offline

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Due dates in the words people use, read relative to when the message
// arrived (agent.Request.Now), so a replay reads them alike:
//
//   - "2026-12-31", "31 December", "Dec 31st, 2027" (a past day of this
//     year means next year's);
//   - "today", "tonight", "tomorrow", "the day after tomorrow";
//   - "Friday", "by Friday": the next Friday after today; "next Friday":
//     the Friday of next week;
//   - "in 3 days", "in two weeks", "in a fortnight", "in a month";
//   - "end of (the) week" (Friday), "end of (the) month", "end of next
//     month", "end of (the) year", "next week" (its Monday), "next month"
//     (its first day).
//
// A weekday or a day of a month without "by", "on", "due" or "before" in
// front counts only at the end of the text: "Prepare the Friday standup"
// is a title, not a date.
var (
	monthNames = `jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?`
	weekdays   = `monday|tuesday|wednesday|thursday|friday|saturday|sunday`
	numberWord = `\d{1,3}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve`
	datePrefix = `(?:(?:due|deadline)(?:\s+(?:date|on|by|before))?\s*:?|by|on|before|until|no\s+later\s+than|for)`

	// dueRe finds one date expression with its optional prefix.
	dueRe = regexp.MustCompile(`(?i)(?:^|[\s,;(\-]+)(` + datePrefix + `\s+(?:the\s+)?)?(` +
		`\d{4}-\d{2}-\d{2}|` +
		`the\s+day\s+after\s+tomorrow|today|tonight|tomorrow|` +
		`(?:(?:next|this|coming)\s+)?(?:` + weekdays + `)|` +
		`in\s+(?:` + numberWord + `)\s+(?:days?|weeks?|months?|fortnights?)|` +
		`(?:the\s+)?end\s+of\s+(?:the\s+|this\s+|next\s+)?(?:week|month|year)|` +
		`next\s+(?:week|month)|` +
		`(?:` + monthNames + `)\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s+\d{4})?|` +
		`\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:` + monthNames + `)\.?(?:,?\s+\d{4})?` +
		`)\b\)?`)
)

// findDueDate finds a due date in s. It returns the date (YYYY-MM-DD),
// the text with the date words taken out, and a problem for a date that
// does not exist. Without a clock (now is zero) only YYYY-MM-DD is read.
func findDueDate(s string, now time.Time) (date, rest, problem string) {
	for _, m := range dueRe.FindAllStringSubmatchIndex(s, -1) {
		prefixed := m[2] >= 0
		words := strings.ToLower(strings.Join(strings.Fields(s[m[4]:m[5]]), " "))
		atEnd := strings.TrimSpace(strings.Trim(s[m[1]:], " .,;!)")) == ""
		iso := isoDayRe.MatchString(words)
		relative := strings.Contains(words, "tomorrow") || words == "today" || words == "tonight" ||
			strings.HasPrefix(words, "in ") || strings.Contains(words, "end of") || strings.HasPrefix(words, "next ")
		if !prefixed && !atEnd && !iso && !relative {
			continue
		}
		if !iso && now.IsZero() {
			// No clock: the words stay in the title rather than a guess.
			continue
		}
		d, ok := resolveDate(words, now)
		if !ok && iso {
			return "", s, "The due date " + words + " is not a valid date; please give it as YYYY-MM-DD."
		}
		if !ok {
			return "", s, "The due date " + quote(words) + " is not a date I can read; please give it as YYYY-MM-DD."
		}
		rest = strings.TrimSpace(s[:m[0]] + " " + s[m[1]:])
		return d, rest, ""
	}
	return "", s, ""
}

var (
	isoDayRe      = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})$`)
	inSpanRe      = regexp.MustCompile(`^in\s+(\S+)\s+(day|week|month|fortnight)s?$`)
	monthFirstRe  = regexp.MustCompile(`^(` + monthNames + `)\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?$`)
	dayFirstRe    = regexp.MustCompile(`^(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(` + monthNames + `)\.?(?:,?\s+(\d{4}))?$`)
	weekdayWordRe = regexp.MustCompile(`^(?:(next|this|coming)\s+)?(` + weekdays + `)$`)
)

// resolveDate turns the date words into a day, relative to now.
func resolveDate(words string, now time.Time) (string, bool) {
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	day := func(t time.Time) (string, bool) { return t.Format(time.DateOnly), true }
	words = strings.TrimPrefix(words, "the ")
	switch {
	case isoDayRe.MatchString(words):
		t, err := time.Parse(time.DateOnly, words)
		if err != nil {
			return "", false
		}
		return day(t)
	case words == "today" || words == "tonight":
		return day(today)
	case words == "tomorrow":
		return day(today.AddDate(0, 0, 1))
	case words == "day after tomorrow":
		return day(today.AddDate(0, 0, 2))
	case words == "next week":
		return day(today.AddDate(0, 0, 7-mondayIndex(today)))
	case words == "next month":
		return day(time.Date(today.Year(), today.Month()+1, 1, 0, 0, 0, 0, time.UTC))
	case strings.HasPrefix(words, "end of"):
		what := strings.Fields(words)[len(strings.Fields(words))-1]
		next := strings.Contains(words, "next")
		switch what {
		case "week":
			friday := today.AddDate(0, 0, 4-mondayIndex(today))
			if friday.Before(today) || next {
				friday = friday.AddDate(0, 0, 7)
			}
			return day(friday)
		case "month":
			months := time.Month(1)
			if next {
				months = 2
			}
			return day(time.Date(today.Year(), today.Month()+months, 0, 0, 0, 0, 0, time.UTC))
		case "year":
			year := today.Year()
			if next {
				year++
			}
			return day(time.Date(year, 12, 31, 0, 0, 0, 0, time.UTC))
		}
	}
	if m := inSpanRe.FindStringSubmatch(words); m != nil {
		n, ok := countWord(m[1])
		if !ok {
			return "", false
		}
		switch m[2] {
		case "day":
			return day(today.AddDate(0, 0, n))
		case "week":
			return day(today.AddDate(0, 0, 7*n))
		case "fortnight":
			return day(today.AddDate(0, 0, 14*n))
		default:
			return day(today.AddDate(0, n, 0))
		}
	}
	if m := weekdayWordRe.FindStringSubmatch(words); m != nil {
		target := weekdayIndex(m[2])
		ahead := (target - mondayIndex(today) + 7) % 7
		if ahead == 0 {
			ahead = 7
		}
		t := today.AddDate(0, 0, ahead)
		if m[1] == "next" && mondayIndex(today)+ahead < 7 {
			// "next Friday" said on a Monday is the Friday of next week.
			t = t.AddDate(0, 0, 7)
		}
		return day(t)
	}
	var month, dayNum, year string
	if m := monthFirstRe.FindStringSubmatch(words); m != nil {
		month, dayNum, year = m[1], m[2], m[3]
	} else if m := dayFirstRe.FindStringSubmatch(words); m != nil {
		month, dayNum, year = m[2], m[1], m[3]
	} else {
		return "", false
	}
	mo := monthIndex(month)
	d, _ := strconv.Atoi(dayNum)
	y := today.Year()
	if year != "" {
		y, _ = strconv.Atoi(year)
	}
	t := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d {
		return "", false // 31 February
	}
	if year == "" && t.Before(today) {
		t = t.AddDate(1, 0, 0)
	}
	return day(t)
}

// mondayIndex numbers the days of the week from Monday (0) to Sunday (6).
func mondayIndex(t time.Time) int { return (int(t.Weekday()) + 6) % 7 }

func weekdayIndex(name string) int {
	for i, d := range strings.Split(weekdays, "|") {
		if d == name {
			return i
		}
	}
	return 0
}

func monthIndex(name string) time.Month {
	for m := time.January; m <= time.December; m++ {
		if strings.HasPrefix(strings.ToLower(m.String()), name[:3]) {
			return m
		}
	}
	return time.January
}

func countWord(w string) (int, bool) {
	if n, err := strconv.Atoi(w); err == nil {
		return n, n > 0 && n <= 366
	}
	for i, name := range strings.Fields("a one two three four five six seven eight nine ten eleven twelve") {
		if w == name {
			return max(i, 1), true
		}
	}
	if w == "an" {
		return 1, true
	}
	return 0, false
}

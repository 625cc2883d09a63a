package openai

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Error is how a Complete call failed, after any retries. Its message is
// written for the person running the gateway: it names the endpoint, says
// whether retrying was tried and for how long, and what to check. The agent
// loop shows it as the conversation's failure reason, so it never contains
// the API key, and credentials in the base URL are left out.
type Error struct {
	// Attempts made, the first included (0 when the request was invalid
	// before any was sent).
	Attempts int
	// Status is the HTTP status of the last answer; 0 when none came (a
	// network failure) or it was a success that could not be used.
	Status int
	// Transient is true when the last failure was one worth retrying and
	// the retries ran out (MaxAttempts or MaxElapsed): trying again later
	// may work. False for a rejection, which will happen again as is, and
	// for a cancellation.
	Transient bool
	// Msg is what went wrong in the server's or the network's words, with
	// the status when there was one, e.g. "503 Service Unavailable: busy".
	Msg string
	// Hint is what to check for a failure that will not go away by itself,
	// e.g. "check OPENAI_API_KEY"; empty when there is nothing specific.
	Hint string
	// Endpoint is the base URL called, without credentials.
	Endpoint string
	// Elapsed is the time from the first attempt to giving up.
	Elapsed time.Duration

	cancelled bool // the caller's context ended the call
	invalid   bool // the request was refused before sending
	malformed bool // a 2xx answer that could not be used
	cause     error
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.invalid:
		b.WriteString(e.Msg)
	case e.cancelled:
		fmt.Fprintf(&b, "the call to the language model at %s was stopped after %s over %s: %s",
			e.Endpoint, plural(e.Attempts, "attempt"), roundDuration(e.Elapsed), e.Msg)
	case e.Transient:
		fmt.Fprintf(&b, "the language model at %s failed after %s over %s: %s",
			e.Endpoint, plural(e.Attempts, "attempt"), roundDuration(e.Elapsed), e.Msg)
	case e.malformed:
		fmt.Fprintf(&b, "the language model at %s sent an answer the gateway cannot use: %s", e.Endpoint, e.Msg)
	case e.Status != 0:
		fmt.Fprintf(&b, "the language model at %s rejected the request (%s)", e.Endpoint, statusText(e.Status))
		if detail := strings.TrimPrefix(strings.TrimPrefix(e.Msg, statusText(e.Status)), ": "); detail != "" {
			b.WriteString(": " + detail)
		}
	default:
		fmt.Fprintf(&b, "the language model at %s could not be reached: %s", e.Endpoint, e.Msg)
	}
	if e.Hint == "" {
		return b.String()
	}
	return strings.TrimRight(b.String(), ". ") + "; " + e.Hint
}

// Unwrap gives the underlying error: errors.Is(err, context.Canceled) and
// errors.As to go-openai's *APIError or a *net.OpError work through it.
func (e *Error) Unwrap() error { return e.cause }

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// roundDuration keeps durations readable: "1m12s", "3.2s", "45ms".
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	default:
		return d.Round(time.Millisecond)
	}
}

// secretKeys matches OpenAI-style keys, which some servers echo (masked or
// not) in their 401 messages.
var secretKeys = regexp.MustCompile(`sk-[A-Za-z0-9_*\-]{4,}`)

// redact removes the API key, and anything shaped like one, from s.
func redact(s, apiKey string) string {
	if len(apiKey) >= 4 {
		s = strings.ReplaceAll(s, apiKey, "[redacted]")
	}
	return secretKeys.ReplaceAllString(s, "sk-[redacted]")
}

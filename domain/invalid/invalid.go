// Package invalid is the one shape every domain rule uses to say a caller's
// input is wrong: which field, and why. The HTTP layer and the agent's
// tools turn it into a 422 or a message for the model without knowing which
// aggregate raised it.
package invalid

// Error names the field that is wrong and the reason, e.g.
// {"email", `"x" is not a valid email address`}.
type Error struct{ Field, Reason string }

func (e *Error) Error() string { return e.Field + " " + e.Reason }

package projections

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

// Small rules every read model applies the same way, in memory and in
// Postgres, so that both stores of a read model answer alike.

// Stamp is how read models keep times: UTC, to the microsecond Postgres
// stores, so a view reads back equal from either store.
func Stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// IsUUID tells whether s can be an id column's value; anything else
// cannot match a row (and must not reach a uuid-typed parameter).
func IsUUID(s string) bool { _, err := uuid.Parse(s); return err == nil }

// EscapeLike quotes LIKE's wildcards so a search term matches literally.
func EscapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ContainsFold is the memory twin of ILIKE '%term%': an empty term matches all.
func ContainsFold(s, term string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(term))
}

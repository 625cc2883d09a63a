package documents

import (
	"context"
	"reflect"
	"testing"

	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"

	"github.com/google/uuid"
)

// The memory store's words must be the lexemes Postgres indexes, or the two
// stores would find different documents for the same query.
func TestTokenizerAgreesWithPostgres(t *testing.T) {
	pool := projectiontest.Connect(t)
	s := NewPostgres(pool)
	ws := uuid.NewString()
	var l eventLog
	for _, text := range []string{
		"Q1 Sales-Report ada@example.com 2025-03-01 1.5k snake_case state-of-the-art",
		"https://example.org/path?q=1&x=y <b>bold</b> C:\\dir\\file.txt v1.2.3 -42 +7 1e5 0x1F",
		"ÄPFEL Müller STRASSE straße naïve café İstanbul ǅemal",
		"हिन्दी e\u0301x Ⅻ ½ ² ª 北京 ٣٤ Ωmega",
		"don't  tab\there\nnew line — dash – en … ellipsis",
	} {
		id := uuid.NewString()
		projectiontest.Apply(t, s, l.created(t, id, ws, text, "/", text))
		var lexemes []string
		err := pool.QueryRow(context.Background(), `SELECT tsvector_to_array(search) FROM documents WHERE id = $1`, id).Scan(&lexemes)
		if err != nil {
			t.Fatal(err)
		}
		words := map[string]bool{}
		for _, tok := range tokenize(text) {
			words[tok.word] = true
		}
		var mine []string
		for w := range words {
			mine = append(mine, w)
		}
		if !reflect.DeepEqual(sorted(mine), sorted(lexemes)) {
			t.Errorf("words of %q:\nmemory   %q\npostgres %q", text, sorted(mine), sorted(lexemes))
		}
	}
}

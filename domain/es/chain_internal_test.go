package es

import (
	"bytes"
	"testing"
)

// The canonical form is a storage format: chains written today must verify
// in ten years, so its exact bytes are pinned here.
func TestCanonicalJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"b": 1, "a": [true, false, null], "c": {"z": "", "y": {}}}`, `{"a":[true,false,null],"b":1,"c":{"y":{},"z":""}}`},
		// Numbers by value, as Postgres numeric keeps them.
		{`[0, -0, 0.0, -0.000e5, 1, 10, 100, 1e2, 1E+2, 100.00, 0.5, 5e-1, 2.50, -2.5, 123456789012345678901234567890, 1.5e300, 1e-7]`,
			`[0,0,0,0,1,1e1,1e2,1e2,1e2,1e2,5e-1,5e-1,25e-1,-25e-1,12345678901234567890123456789e1,15e299,1e-7]`},
		// Escapes become characters; only quote, backslash and controls are escaped.
		{`"\u00e9\u0041\/<>&\"\\\n\t\u001f\u2028 é 🙂 \ud83d\ude42"`, "\"éA/<>&\\\"\\\\\\u000a\\u0009\\u001f\u2028 é 🙂 🙂\""},
		// Duplicate keys: the last one counts.
		{`{"a": 1, "a": 2}`, `{"a":2}`},
		// Keys sort as UTF-8 bytes, not by length as jsonb stores them.
		{`{"bb": 1, "a": 2, "é": 3, "B": 4}`, `{"B":4,"a":2,"bb":1,"é":3}`},
		{"  \n\"x\"\t ", `"x"`},
		{"\"\xff\"", "\"\uFFFD\""},
	} {
		var b bytes.Buffer
		if err := writeCanonical(&b, []byte(c.in)); err != nil {
			t.Fatalf("canonical %s: %v", c.in, err)
		}
		if b.String() != c.want {
			t.Errorf("canonical %s\n got %s\nwant %s", c.in, b.String(), c.want)
		}
	}
	for _, bad := range []string{``, `{`, `1 2`, `{} x`, `[1e99999999999999999999]`, `[1e10000000000000000]`, `[-1e-10000000000000000]`} {
		var b bytes.Buffer
		if err := writeCanonical(&b, []byte(bad)); err == nil {
			t.Errorf("canonical %q = %s, want an error", bad, b.String())
		}
	}
}

// The fast path must write exactly what the reference writes, or leave the
// value to it: one differing byte would break every chain hashed since.
func FuzzCanonicalFastMatchesReference(f *testing.F) {
	for _, seed := range []string{
		`{"b": 1, "a": [true, false, null], "c": {"z": "", "y": {}}}`,
		`[0, -0, 0.0, -0.000e5, 1, 10, 100, 1e2, 1E+2, 100.00, 0.5, 5e-1, 2.50, -2.5, 123456789012345678901234567890]`,
		`{"a": 1, "a": 2}`, `{"b":1,"a":2,"b":3}`, `{"bb": 1, "a": 2, "é": 3, "B": 4}`,
		`{"z":{"y":{"x":[{"b":1,"a":2},{"d":[],"c":{}}]}},"a":"\u00e9"}`,
		"\"\xff\"", `"\n"`, "\"a\x01\"", `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `tru`, `nul`, `[1,]`, `{"a"}`, `{"a":}`,
		`{"a":1,}`, `[`, `]`, `{}`, `[]`, `""`, ` 7 `, "\ufeff1", `1 2`, `[1e99999999999999999999]`,
		`{"conversation_id":"0190d3a0-0000-7000-8000-000000000000","step":3,"usage":{"input_tokens":120,"output_tokens":40},"cost_microusd":1250}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ref bytes.Buffer
		refErr := writeCanonicalReference(&ref, raw)
		fast, ok := appendCanonical(nil, raw)
		if !ok {
			return
		}
		if refErr != nil {
			t.Fatalf("%q: the fast path wrote %s where the reference fails: %v", raw, fast, refErr)
		}
		if !bytes.Equal(fast, ref.Bytes()) {
			t.Fatalf("%q:\n fast %s\n  ref %s", raw, fast, ref.Bytes())
		}
	})
}

// The fast path must actually serve what events hold.
func TestCanonicalFastServesEventShapes(t *testing.T) {
	for _, in := range []string{
		`{"conversation_id":"0190d3a0-0000-7000-8000-000000000000","step":3,"usage":{"output_tokens":40,"input_tokens":120},"cost_microusd":1250}`,
		`{"text":"Crée une tâche pour Zoë 🙂","tools":["contacts.search","tasks.create"],"n":-2.5e3}`,
	} {
		if _, ok := appendCanonical(nil, []byte(in)); !ok {
			t.Errorf("fast path refused %s", in)
		}
	}
}

func BenchmarkCanonical(b *testing.B) {
	raw := []byte(`{"conversation_id":"0190d3a0-0000-7000-8000-000000000000","step":3,"message":"Add a task for Dana to send the Q3 numbers by Friday","usage":{"output_tokens":40,"input_tokens":120},"tool_calls":[{"name":"tasks.create","arguments":{"title":"Send the Q3 numbers","assignee":"Dana","due":"2026-12-11"}}],"cost_microusd":1250}`)
	b.Run("reference", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			if err := writeCanonicalReference(&buf, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			if err := writeCanonical(&buf, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

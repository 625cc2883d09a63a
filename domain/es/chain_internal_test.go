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

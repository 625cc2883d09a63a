package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// MaxBodyBytes caps every request body.
const MaxBodyBytes = 64 * 1024

// readObject reads a JSON object body. It checks the Content-Type, the
// size, the syntax, and that no field outside allowed is present, and
// answers each failure with a sentence that says what to fix. An empty
// body reads as {} when emptyOK.
func readObject(r *http.Request, allowed []string, emptyOK bool) (map[string]json.RawMessage, *apiError) {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge,
				"The request body is larger than %d KiB.", MaxBodyBytes/1024)
		}
		return nil, errorf(http.StatusBadRequest, CodeMalformedJSON, "The request body could not be read: %v.", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		if emptyOK {
			return map[string]json.RawMessage{}, nil
		}
		return nil, errorf(http.StatusBadRequest, CodeMalformedJSON, "The request body is empty; send a JSON object.")
	}
	if e := checkJSONContentType(r); e != nil {
		return nil, e
	}
	if !json.Valid(raw) {
		var syn *json.SyntaxError
		var probe any
		if err := json.Unmarshal(raw, &probe); errors.As(err, &syn) {
			return nil, errorf(http.StatusBadRequest, CodeMalformedJSON,
				"The request body is not valid JSON: %s at byte %d.", syn.Error(), syn.Offset)
		}
		return nil, errorf(http.StatusBadRequest, CodeMalformedJSON, "The request body is not valid JSON.")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, errorf(http.StatusBadRequest, CodeMalformedJSON, "The request body must be a JSON object, not %s.", jsonKind(raw))
	}
	if path := nulPath(obj); path != "" {
		return nil, validation("%s must not contain the NUL character (U+0000).", path)
	}
	var unknown []string
	for k := range obj {
		if !containsString(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, validation("Unknown field %q; the accepted fields are %s.", unknown[0], strings.Join(allowed, ", "))
	}
	return obj, nil
}

func checkJSONContentType(r *http.Request) *apiError {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia,
			"The Content-Type header is missing; send the body as application/json.")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia,
			"The Content-Type %q is not supported; send the body as application/json.", ct)
	}
	return nil
}

func containsString(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// jsonKind names a JSON value's type for error messages.
func jsonKind(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// stringField reads an optional string field; present reports whether the
// field was there and not null.
// readStrings reads a body object that may hold only the named fields,
// each an optional string, and returns their values in order ("" when
// absent).
func readStrings(r *http.Request, names ...string) ([]string, *apiError) {
	obj, e := readObject(r, names, false)
	if e != nil {
		return nil, e
	}
	out := make([]string, len(names))
	for i, n := range names {
		if out[i], _, e = stringField(obj, n); e != nil {
			return nil, e
		}
	}
	return out, nil
}

func stringField(obj map[string]json.RawMessage, name string) (s string, present bool, e *apiError) {
	raw, ok := obj[name]
	if !ok || isNull(raw) {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, validation("%s must be a string, not %s.", name, jsonKind(raw))
	}
	return s, true, nil
}

// objectField reads an optional JSON object field.
func objectField(obj map[string]json.RawMessage, name string) (map[string]json.RawMessage, json.RawMessage, *apiError) {
	raw, ok := obj[name]
	if !ok || isNull(raw) {
		return nil, nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, nil, validation("%s must be a JSON object, not %s.", name, jsonKind(raw))
	}
	return m, raw, nil
}

func fieldPath(parent, name string) string { return fmt.Sprintf("%s.%s", parent, name) }

// nulPath finds the first string (or object key) holding U+0000, which no
// event store keeps, and returns where it is ("context.entity_id").
func nulPath(obj map[string]json.RawMessage) string {
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if strings.ContainsRune(k, 0) {
			return "a field name"
		}
		var v any
		if json.Unmarshal(obj[k], &v) == nil {
			if p, ok := findNUL(v, k); ok {
				return p
			}
		}
	}
	return ""
}

func findNUL(v any, path string) (string, bool) {
	switch x := v.(type) {
	case string:
		return path, strings.ContainsRune(x, 0)
	case []any:
		for i, e := range x {
			if p, ok := findNUL(e, fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, true
			}
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if strings.ContainsRune(k, 0) {
				return path, true
			}
			if p, ok := findNUL(x[k], path+"."+k); ok {
				return p, true
			}
		}
	}
	return "", false
}

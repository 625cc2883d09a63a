package es

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	fastjson "github.com/segmentio/encoding/json"
)

// Hash chains
//
// Every stream is a hash chain. An event's Metadata.Hash commits to the
// event's content, to its place (stream and version) and to the hash of the
// event before it in the same stream, so a stored event that is changed,
// removed, moved or reordered breaks the chain at that event or the next.
// The chain is unkeyed: it shows tampering by anyone who does not also
// recompute every later hash (and the stream head the store keeps); to hold
// against someone who can, publish or sign the stream heads elsewhere.
//
// The hash has two steps, so that stores can do the expensive one before
// their append transaction and only the cheap one inside it:
//
//	digest = hex(SHA-256(["es.event/v1", id, type, data, metadata]))
//	hash   = hex(SHA-256(["es.chain/v1", prevHash, stream, version, digest]))
//
// Each step hashes the bytes of a JSON array in the canonical form below.
// A JSON array of self-delimiting JSON values is an unambiguous framing: no
// two different lists of parts encode to the same bytes. metadata is the
// event's Metadata with Hash left out. prevHash is "" for version 1.
//
// Canonical JSON is what makes the hash survive storage: Postgres jsonb
// reorders keys, drops whitespace, rewrites escapes and numbers (1e2 comes
// back as 100), so the stored bytes cannot be hashed as they are; their
// value can. The canonical form of a JSON value is:
//
//   - no whitespace between tokens;
//   - object members sorted by key, keys compared as UTF-8 bytes; of
//     duplicate keys the last one counts (as in Go and in jsonb);
//   - strings: '"' and '\' escaped by a backslash, U+0000 to U+001F as
//     \u00xx (lowercase hex), every other character as raw UTF-8; bytes
//     that are not UTF-8 are read as U+FFFD;
//   - numbers by their exact decimal value: an optional '-', the significant
//     digits without leading or trailing zeros, and an exponent "e<n>" when
//     n is not 0; zero is 0. So 100, 1e2 and 100.0 are all 1e2, 2.50 is
//     25e-1 and -0.0 is 0. Floating point is never involved;
//   - true, false and null as they are.
const (
	digestTag = "es.event/v1"
	linkTag   = "es.chain/v1"
)

// ErrChainBroken is matched by the errors of VerifyChain.
var ErrChainBroken = errors.New("hash chain broken")

// ChainError names the first event whose hash does not verify.
type ChainError struct {
	Stream  string
	Version int64
	Reason  string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("hash chain of stream %s broken at version %d: %s", e.Stream, e.Version, e.Reason)
}

// Is lets errors.Is(err, ErrChainBroken) match a ChainError.
func (e *ChainError) Is(target error) bool { return target == ErrChainBroken }

// ChainHash is the hash of ev as the event at version of stream, following
// the event whose hash is prevHash ("" for version 1). It is pure: stores
// call it (in its two steps, EventDigest and LinkHash) when they append,
// VerifyChain calls it on what they return. ev.Metadata.Hash is ignored. It
// fails only for data that is not a single JSON value, numbers whose
// exponent is beyond ±10^15, or metadata that encoding/json cannot encode.
func ChainHash(prevHash, stream string, version int64, ev Event) (string, error) {
	d, err := EventDigest(ev)
	if err != nil {
		return "", err
	}
	return LinkHash(prevHash, stream, version, d), nil
}

// EventDigest is the first step of ChainHash: the hex SHA-256 of the
// canonical ["es.event/v1", id, type, data, metadata] with metadata
// lacking Hash. It does not depend on where the event lands.
func EventDigest(ev Event) (string, error) {
	md := ev.Metadata
	md.Hash = ""
	mdJSON, err := fastjson.Marshal(md)
	if err != nil {
		return "", fmt.Errorf("hash event %s: encode metadata: %w", ev.ID, err)
	}
	var b bytes.Buffer
	b.Grow(len(ev.Data) + len(mdJSON) + len(ev.Type) + 64)
	b.WriteByte('[')
	writeString(&b, digestTag)
	b.WriteByte(',')
	writeString(&b, ev.ID)
	b.WriteByte(',')
	writeString(&b, ev.Type)
	b.WriteByte(',')
	if err := writeCanonical(&b, ev.Data); err != nil {
		return "", fmt.Errorf("hash event %s: data: %w", ev.ID, err)
	}
	b.WriteByte(',')
	if err := writeCanonical(&b, mdJSON); err != nil {
		return "", fmt.Errorf("hash event %s: metadata: %w", ev.ID, err)
	}
	b.WriteByte(']')
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:]), nil
}

// LinkHash is the second step of ChainHash: the hex SHA-256 of the
// canonical ["es.chain/v1", prevHash, stream, version, digest].
func LinkHash(prevHash, stream string, version int64, digest string) string {
	var b bytes.Buffer
	b.Grow(len(prevHash) + len(stream) + len(digest) + 48)
	b.WriteByte('[')
	writeString(&b, linkTag)
	b.WriteByte(',')
	writeString(&b, prevHash)
	b.WriteByte(',')
	writeString(&b, stream)
	b.WriteByte(',')
	b.WriteString(normalNumber(strconv.FormatInt(version, 10)))
	b.WriteByte(',')
	writeString(&b, digest)
	b.WriteByte(']')
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:])
}

// VerifyChain recomputes the hash chains of the given events and returns
// the stream version of the first event (in slice order) that does not
// verify, with a *ChainError naming its stream and version; 0 and nil mean
// every chain is intact.
//
// events are as a store returns them: one stream from ReadStream(stream, 0),
// or the global log from ReadAll paged from es.Start, where several streams
// interleave. Each stream must start at version 1 and continue without
// gaps, because a chain can only be checked from its beginning; a missing
// event counts as a break. An event whose stored hash is missing or differs
// from the recomputed one breaks the chain; so does one whose predecessor
// was changed, since its hash then commits to a different prevHash.
func VerifyChain(events []Recorded) (brokenAt int64, err error) {
	type head struct {
		version int64
		hash    string
	}
	heads := map[string]head{}
	for _, r := range events {
		h := heads[r.Stream]
		broken := func(format string, args ...any) (int64, error) {
			return r.StreamVersion, &ChainError{Stream: r.Stream, Version: r.StreamVersion, Reason: fmt.Sprintf(format, args...)}
		}
		if r.StreamVersion != h.version+1 {
			if h.version == 0 {
				return broken("the events start at version %d; a chain is verified from version 1", r.StreamVersion)
			}
			return broken("version %d follows version %d", r.StreamVersion, h.version)
		}
		want, err := ChainHash(h.hash, r.Stream, r.StreamVersion, Event{ID: r.ID, Type: r.Type, Data: r.Data, Metadata: r.Metadata})
		switch {
		case err != nil:
			return broken("event %s cannot be hashed: %v", r.ID, err)
		case r.Metadata.Hash == "":
			return broken("event %s has no stored hash", r.ID)
		case r.Metadata.Hash != want:
			return broken("event %s has stored hash %s, its content and predecessor hash to %s: it or the event before it was changed", r.ID, r.Metadata.Hash, want)
		}
		heads[r.Stream] = head{r.StreamVersion, want}
	}
	return 0, nil
}

// writeCanonical writes the one JSON value in raw in the canonical form.
func writeCanonical(b *bytes.Buffer, raw []byte) error {
	if out, ok := appendCanonical(b.AvailableBuffer(), raw); ok {
		b.Write(out)
		return nil
	}
	return writeCanonicalReference(b, raw)
}

// writeCanonicalReference decodes one JSON value from raw with
// encoding/json and writes it in the canonical form. It is the definition
// the fast path is held to, and serves what that path leaves to it.
func writeCanonicalReference(b *bytes.Buffer, raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("not JSON: more than one value")
	}
	return writeValue(b, v)
}

func writeValue(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		writeString(b, x)
	case json.Number:
		n, err := normalNumberChecked(string(x))
		if err != nil {
			return err
		}
		b.WriteString(n)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeValue(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			if err := writeValue(b, x[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("unexpected JSON value %T", v)
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// writeString writes s as a canonical JSON string.
func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// maxExponent bounds exponents, so that no arithmetic on them overflows.
// Postgres refuses numbers far smaller than this anyway.
const maxExponent = 1e15

// normalNumber is normalNumberChecked for numbers known to be valid.
func normalNumber(s string) string {
	n, err := normalNumberChecked(s)
	if err != nil {
		panic(err)
	}
	return n
}

// normalNumberChecked rewrites a JSON number (-?int(.frac)?([eE][+-]?exp)?)
// as its exact decimal value in the canonical form.
func normalNumberChecked(s string) (string, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(strings.TrimPrefix(s[i+1:], "+"), 10, 64)
		if err != nil || e > maxExponent || e < -maxExponent {
			return "", fmt.Errorf("number %s: exponent out of range", s)
		}
		mant, exp = s[:i], e
	}
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		exp -= int64(len(mant) - i - 1)
		mant = mant[:i] + mant[i+1:]
	}
	mant = strings.TrimLeft(mant, "0")
	if mant == "" {
		return "0", nil
	}
	trimmed := strings.TrimRight(mant, "0")
	exp += int64(len(mant) - len(trimmed))
	out := trimmed
	if exp != 0 {
		out += "e" + strconv.FormatInt(exp, 10)
	}
	if neg {
		out = "-" + out
	}
	return out, nil
}

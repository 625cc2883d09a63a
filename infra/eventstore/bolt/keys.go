package bolt

import (
	"encoding/binary"
	"math"
)

func u64(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n)
}

func readU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// streamPrefix is the length-prefixed stream name that starts all of its
// stream-index keys. The length makes "conv" and "conv-1" disjoint ranges.
func streamPrefix(stream string) []byte { return lenPrefixed(stream) }

// streamKey is the stream-index key of one version of a stream.
func streamKey(stream string, version int64) []byte {
	return binary.BigEndian.AppendUint64(streamPrefix(stream), uint64(version))
}

// correlationPrefix starts the correlation-index keys of one correlation
// id, length-prefixed for the same reason as streamPrefix.
func correlationPrefix(id string) []byte { return lenPrefixed(id) }

// correlationKey is the correlation-index key of the event at seq.
func correlationKey(id string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(correlationPrefix(id), seq)
}

func lenPrefixed(s string) []byte {
	b := make([]byte, 0, 4+len(s)+8)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// streamHead is the value of a stream in the streams bucket: its version,
// then the hash of its last event. Stores from before hash chains hold the
// version alone; Open upgrades them.
func streamHead(version int64, hash string) []byte {
	return append(u64(uint64(version)), hash...)
}

func readStreamHead(v []byte) (version int64, hash string) {
	if len(v) < 8 {
		return 0, ""
	}
	return int64(binary.BigEndian.Uint64(v[:8])), string(v[8:])
}

// next returns n+1 without wrapping, and whether there is such a number.
func next(n uint64) (uint64, bool) {
	if n == math.MaxUint64 {
		return 0, false
	}
	return n + 1, true
}

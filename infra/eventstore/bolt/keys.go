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
func streamPrefix(stream string) []byte {
	b := make([]byte, 0, 4+len(stream)+8)
	b = binary.BigEndian.AppendUint32(b, uint32(len(stream)))
	return append(b, stream...)
}

// streamKey is the stream-index key of one version of a stream.
func streamKey(stream string, version int64) []byte {
	return binary.BigEndian.AppendUint64(streamPrefix(stream), uint64(version))
}

// next returns n+1 without wrapping, and whether there is such a number.
func next(n uint64) (uint64, bool) {
	if n == math.MaxUint64 {
		return 0, false
	}
	return n + 1, true
}

package bolt

// The record codec, for tests that edit a closed file behind the store.
var (
	DecodeRecord = decodeRecord
	EncodeRecord = encodeRecord
	ReadU64      = readU64
)

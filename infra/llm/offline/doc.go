// Package offline is the gateway's built-in model: a deterministic,
// rule-based stand-in for a tool-calling language model that needs no
// network and no API key.
//
// It understands a small, documented set of plain-English requests about the
// contacts and tasks of a CRM workspace (create, find, update, delete and
// summarise a contact; create, list and complete a task). For each request it
// reads the whole transcript, works out which step of the request's flow has
// been reached from the tool results already present, and either asks for the
// next tool call or writes the final reply. It keeps no state between calls:
// the same transcript always yields the same response, call ids included.
//
// Anything outside that set gets an honest reply (UnsupportedReply) instead of
// a guess, so the gateway behaves predictably until a real model is
// configured through OPENAI_BASE_URL.
//
// The files are split by concern: transcript.go reads the transcript,
// intent.go classifies the request, fields.go parses contact and task details,
// results.go decodes tool results, plan.go runs the flows, reply.go words the
// answers and model.go ties them to the gateway's model port (commands.Model).
package offline

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// sse is one server-sent event as a client parses it.
type sse struct {
	ID, Event, Data string
}

// parseSSE splits a stream into its events; comments are kept as events
// of type ":" so keep-alives can be counted.
func parseSSE(t *testing.T, raw string) []sse {
	t.Helper()
	var out []sse
	for _, block := range strings.Split(strings.TrimSpace(raw), "\n\n") {
		var ev sse
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(line, ":"):
				ev.Event = ":"
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data = strings.TrimPrefix(line, "data: ")
			case line != "":
				t.Fatalf("stray line %q in the stream:\n%s", line, raw)
			}
		}
		out = append(out, ev)
	}
	return out
}

// chunksOf puts the reply's chunks together.
func chunksOf(t *testing.T, evs []sse) string {
	t.Helper()
	var b strings.Builder
	for _, ev := range evs {
		if ev.Event == "" && ev.Data != "[DONE]" {
			var c struct {
				Chunk *string `json:"chunk"`
			}
			if err := json.Unmarshal([]byte(ev.Data), &c); err != nil || c.Chunk == nil {
				t.Fatalf("a message event that is not a chunk: %q", ev.Data)
			}
			b.WriteString(*c.Chunk)
		}
	}
	return b.String()
}

func eventTypes(evs []sse) map[string]int {
	n := map[string]int{}
	for _, ev := range evs {
		n[ev.Event]++
	}
	return n
}

// TestStream_ChunksAddUpToTheReplyAndResume: "stream": true answers with
// the conversation's events as it works: tool calls and results, status,
// the turns, and the reply in chunks that add up to it exactly, then
// [DONE]. Attaching again with Last-Event-ID sends exactly what came after
// that id; without one, the whole conversation. A follow-up streams only
// its own turn.
func TestStream_ChunksAddUpToTheReplyAndResume(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend)
		c := h.principal(h.createWorkspace("Acme", "owner@acme.test"))

		r := h.post(c, map[string]any{"message": "Please add Tomás Ruiz from Brightwater Ltd, tomas@brightwater.co, as a contact", "stream": true})
		expectStatus(t, r, http.StatusOK)
		if ct := r.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("Content-Type = %q", ct)
		}
		id := r.Header.Get("X-Conversation-UUID")
		if _, err := uuid.Parse(id); err != nil {
			t.Fatalf("X-Conversation-UUID = %q", id)
		}
		evs := parseSSE(t, string(r.Raw))
		if last := evs[len(evs)-1]; last.Data != "[DONE]" {
			t.Fatalf("the stream did not end with [DONE]: %+v", last)
		}
		types := eventTypes(evs)
		for _, want := range []string{"status", "tool_call", "tool_result", "turn", ""} {
			if types[want] == 0 {
				t.Errorf("no %q events in %v", want, types)
			}
		}
		var ended map[string]any
		for _, ev := range evs {
			if ev.Event == "status" {
				_ = json.Unmarshal([]byte(ev.Data), &ended)
			}
		}
		if ended["status"] != "resolved" || ended["outcome"] != "completed" {
			t.Errorf("the last status event %v does not say how the request ended", ended)
		}
		p := h.get(c, id)
		var polled poll
		if err := json.Unmarshal(p.Raw, &polled); err != nil || polled.Status != "resolved" {
			t.Fatalf("poll = %s", p.Raw)
		}
		if got := chunksOf(t, evs); got != polled.reply() || types[""] < 3 {
			t.Fatalf("chunks (%d) add up to %q, the reply is %q", types[""], got, polled.reply())
		}
		seen := map[string]bool{}
		for _, ev := range evs[:len(evs)-1] {
			if ev.ID == "" || seen[ev.ID] {
				t.Fatalf("event %+v has no id or repeats one", ev)
			}
			seen[ev.ID] = true
		}

		attach := func(last string) []sse {
			hdr := map[string]string{}
			if last != "" {
				hdr["Last-Event-ID"] = last
			}
			r := h.do(req{Method: "GET", Path: "/api/agent/" + id + "/stream", Auth: bearerOf(c.Token), APIKey: c.Key, Header: hdr})
			expectStatus(t, r, http.StatusOK)
			return parseSSE(t, string(r.Raw))
		}
		if again := attach(""); fmt.Sprint(again) != fmt.Sprint(evs) {
			t.Errorf("a replay differs from the live stream:\n%v\n%v", again, evs)
		}
		// Resume from the middle of the reply: exactly the rest comes.
		var cut int
		for i, ev := range evs {
			if ev.Event == "" {
				cut = i + 1 // after the first chunk
				break
			}
		}
		if rest := attach(evs[cut-1].ID); fmt.Sprint(rest) != fmt.Sprint(evs[cut:]) {
			t.Errorf("resumed after %s:\n%v\nwant\n%v", evs[cut-1].ID, rest, evs[cut:])
		}
		if rest := attach(evs[len(evs)-2].ID); len(rest) != 1 || rest[0].Data != "[DONE]" {
			t.Errorf("resumed after the last event: %v", rest)
		}
		other := h.principal(h.createWorkspace("Other", "owner@other.test"))
		h.unchanged(t, func() {
			r := h.do(req{Method: "GET", Path: "/api/agent/" + id + "/stream", Auth: bearerOf(c.Token), APIKey: c.Key,
				Header: map[string]string{"Last-Event-ID": "yesterday"}})
			expectStatus(t, r, http.StatusUnprocessableEntity)
			expectStatus(t, h.do(req{Method: "GET", Path: "/api/agent/" + id + "/stream", Auth: bearerOf(other.Token), APIKey: other.Key}),
				http.StatusNotFound)
		})

		r = h.post(c, map[string]any{"conversation_uuid": id, "message": "also give me a summary of that contact", "stream": true})
		expectStatus(t, r, http.StatusOK)
		follow := parseSSE(t, string(r.Raw))
		if follow[0].Event != "turn" || !strings.Contains(follow[0].Data, "summary of that contact") {
			t.Errorf("the follow-up's stream starts with %+v, want its user turn", follow[0])
		}
		p = h.get(c, id)
		if err := json.Unmarshal(p.Raw, &polled); err != nil || chunksOf(t, follow) != polled.reply() || !strings.Contains(polled.reply(), "Brightwater") {
			t.Errorf("follow-up chunks %q, reply %q", chunksOf(t, follow), polled.reply())
		}
		if all, want := attach(""), append(evs[:len(evs)-1:len(evs)-1], follow...); fmt.Sprint(all) != fmt.Sprint(want) {
			t.Errorf("a replay of both turns differs from the two live streams:\n%v\nwant\n%v", all, want)
		}
	})
}

// TestStream_ReaderThatLeavesAndKeepAlive: a stream that goes quiet sends
// keep-alive comments; a reader that disconnects leaves the conversation
// running to its end.
func TestStream_ReaderThatLeavesAndKeepAlive(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		llm := newLLMServer(t)
		const slow = "Write the renewal reminder for the Halden account"
		llm.script(slow, &llmScript{Steps: []llmStep{fixedReply(llmReply{Content: "Reminder written for Halden.", In: 10, Out: 5})},
			SlowSteps: map[int]time.Duration{1: 1500 * time.Millisecond}})
		h := newLLMHarness(t, backend, llm, withEnv(map[string]string{"GATEWAY_STREAM_KEEPALIVE": "200ms"}))
		c := h.principal(h.createWorkspace("Acme", "owner@acme.test"))

		r := h.post(c, map[string]any{"message": slow, "stream": true})
		expectStatus(t, r, http.StatusOK)
		evs := parseSSE(t, string(r.Raw))
		if eventTypes(evs)[":"] < 2 {
			t.Errorf("a stream quiet for 1.5s sent %d keep-alives at 200ms", eventTypes(evs)[":"])
		}
		if chunksOf(t, evs) != "Reminder written for Halden." {
			t.Errorf("chunks = %q", chunksOf(t, evs))
		}

		const leaving = slow + ", again"
		llm.script(leaving, &llmScript{Steps: []llmStep{fixedReply(llmReply{Content: "Done again.", In: 10, Out: 5})},
			SlowSteps: map[int]time.Duration{1: 1500 * time.Millisecond}})
		body, _ := json.Marshal(map[string]any{"message": leaving, "stream": true})
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /api/agent HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nX-Api-Key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			c.Token, c.Key, len(body), body)
		br := bufio.NewReader(conn)
		var id string
		for id == "" {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream's head: %v", err)
			}
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "X-Conversation-Uuid: "); ok {
				id = v
			}
		}
		conn.Close() // the reader goes away while the model works
		if p := h.await(c, id); p.Status != "resolved" || p.reply() != "Done again." {
			t.Errorf("after the reader left, the conversation ended %s with %q", p.Status, p.reply())
		}
	})
}

// applyStream puts a stream's text together as a client does: chunks
// append, a retract drops what it names.
func applyStream(t *testing.T, evs []sse, text string) (string, int) {
	t.Helper()
	live := 0
	for _, ev := range evs {
		switch ev.Event {
		case "retract":
			var r struct {
				Length int `json:"length"`
			}
			if err := json.Unmarshal([]byte(ev.Data), &r); err != nil || r.Length > len(text) {
				t.Fatalf("retract %s of %q", ev.Data, text)
			}
			text = text[:len(text)-r.Length]
		case "":
			if ev.Data == "[DONE]" {
				continue
			}
			var c struct {
				Chunk string `json:"chunk"`
			}
			if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
				t.Fatal(err)
			}
			text += c.Chunk
			if _, k, _ := strings.Cut(ev.ID, "."); len(k) >= 7 {
				live++ // ids of text sent ahead of the log
			}
		}
	}
	return text, live
}

// readStreamUntil reads a stream's events as they come until stop says
// enough, then hangs up.
func readStreamUntil(t *testing.T, resp *http.Response, stop func(sse) bool) []sse {
	t.Helper()
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var evs []sse
	var cur sse
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur != (sse{}) {
				evs = append(evs, cur)
				if stop(cur) {
					return evs
				}
			}
			cur = sse{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			cur.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.Data = line[6:]
		}
	}
	return evs
}

// TestStream_AcrossInstances: a real (scripted, OpenAI-compatible) model
// streams its answer; the instance holding the stream runs no agent work,
// the other runs the conversation, on one Postgres, with the command bus
// in Postgres and, when NATS is up, in NATS. Text arrives token by token
// before the step is recorded; text of a step that turned into tool calls
// is retracted; what the client puts together is the reply; and a reader
// that reconnects after a live chunk with Last-Event-ID gets exactly the
// rest.
func TestStream_AcrossInstances(t *testing.T) {
	t.Parallel()
	for _, bus := range []string{"postgres", "nats"} {
		t.Run(bus, func(t *testing.T) {
			env := map[string]string{}
			if bus == "nats" {
				nc, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second)
				if err != nil {
					if os.Getenv("CI") != "" {
						t.Fatalf("NATS is required in CI but unreachable: %v", err)
					}
					t.Skipf("NATS unreachable: %v", err)
				}
				nc.Close()
				env["NATS_URL"] = "nats://127.0.0.1:4222"
				env["GATEWAY_NATS_PREFIX"] = "sse" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
			}
			llm := newLLMServer(t)
			const msg = "Which of my tasks are still open?"
			// Longer than the window a delta carries (1000 bytes), so the
			// reconnect below gets its text in windows that start past the
			// beginning.
			reply := "You have three open tasks: renew the Vantage lease, call Dana about the pilot, and send Marta the signed NDA." +
				strings.Repeat(" Each of them is due this week, and the pilot call matters most.", 22)
			llm.script(msg, &llmScript{Steps: []llmStep{
				fixedReply(llmReply{Content: "Let me look that up.", Calls: []llmToolCall{{ID: "call_1", Name: "list_tasks",
					Args: map[string]any{"status": "open"}}}, In: 100, Out: 12}),
				fixedReply(llmReply{Content: reply, In: 200, Out: 30}),
			}, TokenGap: 4 * time.Millisecond, SlowSteps: map[int]time.Duration{1: 400 * time.Millisecond}})
			h := newLLMHarness(t, "postgres", llm, withEnv(env))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c := h.principal(h.createWorkspace("Acme", "owner@acme.test"))
			hb := apiOnlyInstance(t, h, c)

			open := func(method, path, last string, body any) *http.Response {
				var rd *strings.Reader
				if body != nil {
					b, _ := json.Marshal(body)
					rd = strings.NewReader(string(b))
				} else {
					rd = strings.NewReader("")
				}
				r, _ := http.NewRequestWithContext(ctx, method, hb.URL+path, rd)
				r.Header.Set("Authorization", bearerOf(c.Token))
				r.Header.Set("X-Api-Key", c.Key)
				r.Header.Set("Content-Type", "application/json")
				if last != "" {
					r.Header.Set("Last-Event-ID", last)
				}
				resp, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
				}
				return resp
			}
			// Read the reply's live chunks until most of it has come, then
			// hang up.
			resp := open("POST", "/api/agent", "", map[string]any{"message": msg, "stream": true})
			id := resp.Header.Get("X-Conversation-UUID")
			seenTool, held := false, 0
			first := readStreamUntil(t, resp, func(ev sse) bool {
				if ev.Event == "tool_result" {
					seenTool = true
				}
				if seenTool && ev.Event == "" {
					var c struct{ Chunk string }
					_ = json.Unmarshal([]byte(ev.Data), &c)
					held += len(c.Chunk)
				}
				return held >= 1100
			})
			text, live := applyStream(t, first, "")
			if live < 3 || !strings.HasPrefix(reply, text) || text == "" {
				t.Fatalf("before hanging up: %d live chunks, text %q; events %v", live, text, first)
			}
			// The first step's text ("Let me look that up.") shows live (the
			// model thinks a moment before writing, so the stream has read
			// the step's claim), and is taken back before the tool call.
			shownBeforeTool := false
			for _, ev := range first {
				if ev.Event == "tool_call" {
					break
				}
				shownBeforeTool = shownBeforeTool || ev.Event == ""
			}
			if !shownBeforeTool || eventTypes(first)["retract"] != 1 {
				t.Errorf("the first step's text showed live: %v, with %d retracts: %v", shownBeforeTool, eventTypes(first)["retract"], first)
			}
			// Reconnect after the last live chunk: exactly the rest comes.
			rest := readStreamUntil(t, open("GET", "/api/agent/"+id+"/stream", first[len(first)-1].ID, nil),
				func(ev sse) bool { return ev.Data == "[DONE]" })
			full, liveRest := applyStream(t, rest, text)
			t.Logf("held %d bytes at the reconnect; %d live chunks after it", len(text), liveRest)
			if full != reply {
				t.Errorf("resumed stream put together %q, want %q\nfirst %v\nrest %v", full, reply, first, rest)
			}
			if p := h.await(c, id); p.reply() != reply {
				t.Errorf("poll reply %q", p.reply())
			}
		})
	}
}

// TestStream_FollowUpAfterACancel: a cancelled step's model call goes on
// writing; a follow-up streamed meanwhile shows only its own turn's text,
// live, and nothing to take back.
func TestStream_FollowUpAfterACancel(t *testing.T) {
	t.Parallel()
	llm := newLLMServer(t)
	const msg = "Draft the quarterly note to the Halden board"
	const answer = "Here is the short version: the quarter closed ahead of plan, and the pilot goes live in March."
	var steps atomic.Int32
	llm.script(msg, &llmScript{Always: func(req llmRequest) llmReply {
		if steps.Add(1) == 1 {
			return llmReply{Content: strings.Repeat("A long first draft that nobody will read. ", 12), In: 50, Out: 200}
		}
		return llmReply{Content: answer, In: 80, Out: 20}
	}, TokenGap: 10 * time.Millisecond})
	h := newLLMHarness(t, "postgres", llm)
	c := h.principal(h.createWorkspace("Acme", "owner@acme.test"))
	id := h.send(c, msg)
	billingEventually(t, "the first step to be claimed", func() bool {
		return len(recsOfType(h.convStream(id), "ModelStepStarted")) == 1
	})
	time.Sleep(100 * time.Millisecond) // the draft is being written
	expectStatus(t, h.do(req{Method: "POST", Path: "/api/agent/" + id + "/cancel", Auth: bearerOf(c.Token), APIKey: c.Key}), http.StatusOK)
	r := h.post(c, map[string]any{"conversation_uuid": id, "message": "Just give me the short version", "stream": true})
	expectStatus(t, r, http.StatusOK)
	evs := parseSSE(t, string(r.Raw))
	text, live := applyStream(t, evs, "")
	if text != answer || eventTypes(evs)["retract"] != 0 {
		t.Errorf("the follow-up's stream put together %q (%d retracts), want only its answer %q", text, eventTypes(evs)["retract"], answer)
	}
	if live == 0 {
		t.Errorf("the follow-up's answer came with no live text: %v", evs)
	}
}

package commands

import (
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Deltas are published at most this often per running step, and each
// carries at most deltaWindow bytes: small enough for a Postgres
// notification (8000 bytes) even when every byte needs escaping in JSON,
// and a reader further behind fills in from the log.
const (
	deltaEvery  = 40 * time.Millisecond
	deltaWindow = 1000
)

// deltaPublisher gathers a model step's text as it streams in and hands
// the relay a window on it now and then, instead of a message per token.
type deltaPublisher struct {
	relay Relay
	base  Delta

	mu      sync.Mutex
	attempt int
	text    []byte
	dirty   bool
	stop    chan struct{}
	done    chan struct{}
}

func newDeltaPublisher(relay Relay, conversationID string, step int) *deltaPublisher {
	p := &deltaPublisher{relay: relay, base: Delta{ConversationID: conversationID, Step: step, Writer: NewID()[24:]},
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(deltaEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.flush()
			case <-p.stop:
				p.flush()
				return
			}
		}
	}()
	return p
}

// add takes text the model wrote in attempt.
func (p *deltaPublisher) add(attempt int, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if attempt != p.attempt {
		p.attempt, p.text = attempt, p.text[:0]
	}
	if len(p.text) == 0 {
		// The reply starts at its first word: leading spaces are not
		// part of what is recorded, nor of what is shown.
		text = strings.TrimLeftFunc(text, unicode.IsSpace)
	}
	p.text = append(p.text, text...)
	p.dirty = p.dirty || text != ""
}

func (p *deltaPublisher) flush() {
	p.mu.Lock()
	if !p.dirty {
		p.mu.Unlock()
		return
	}
	d := p.base
	d.Attempt = p.attempt
	d.Offset = max(0, len(p.text)-deltaWindow)
	// Never cut a UTF-8 sequence: start the window on a rune boundary.
	for d.Offset > 0 && d.Offset < len(p.text) && !utf8.RuneStart(p.text[d.Offset]) {
		d.Offset--
	}
	d.Text = string(p.text[d.Offset:])
	p.dirty = false
	p.mu.Unlock()
	p.relay.Publish(d)
}

// close publishes what is left and stops.
func (p *deltaPublisher) close() {
	close(p.stop)
	<-p.done
}

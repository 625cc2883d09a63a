package sagas

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
	"github.com/sois-ai/chat-agent-gateway/projections/conversations"
	"github.com/sois-ai/chat-agent-gateway/projections/mcpusage"
)

// Reaper makes sure no conversation stays unfinished: it resumes work that
// stalled (a lost command, a crash mid-step) from the events, and ends
// with a clear error any conversation that made no progress for too long.
type Reaper struct {
	Conversations conversations.Store
	Commands      *commands.Handler
	Bus           Sender
	Clock         commands.Clock
	// StallAfter is how long without progress before work is resumed.
	StallAfter time.Duration
	// GiveUpAfter is how long without progress before the conversation fails.
	GiveUpAfter time.Duration
	// Interval between sweeps.
	Interval time.Duration
	// OrphanAfter is how long without progress before a conversation is
	// looked at for a model step whose claiming instance is gone; such a
	// conversation is resumed at once, not after StallAfter (0: never).
	OrphanAfter time.Duration
	// Departures reports instances that stopped (nil: this process works
	// alone). The commands a departed instance had taken are lost with it,
	// so for a while after a departure every conversation idle for
	// OrphanAfter is resumed, not only those with a dead instance's claim.
	Departures interface {
		Departed(ctx context.Context) ([]string, error)
	}
	// lastDeparture is when the latest departure was seen.
	lastDeparture time.Time
	// ResumeAllAtStart resumes every unfinished conversation at start; right
	// when this process is the only worker (embedded mode), since nothing
	// else can be running the work.
	ResumeAllAtStart bool
	// McpCalls lists MCP tool calls still open; one open for GiveUpAfter
	// was cut short by a crash and is closed (nil: none are looked at).
	McpCalls interface {
		Open(ctx context.Context, before time.Time, limit int) ([]mcpusage.Call, error)
	}
	Logger *slog.Logger

	// resumed remembers when each conversation was last resumed: a
	// conversation whose command is merely queued behind a long backlog
	// looks stalled too, and resending it every sweep would multiply the
	// very backlog that delays it.
	resumed map[string]time.Time
}

// maxResumesPerSweep bounds the commands one sweep sends again (a start
// after a crash resumes everything at once).
const maxResumesPerSweep = 500

// Run sweeps until ctx ends.
func (r *Reaper) Run(ctx context.Context) {
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	if err := r.Sweep(ctx, r.ResumeAllAtStart); err != nil && ctx.Err() == nil {
		r.Logger.Error("reaper sweep failed", "err", err)
	}
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Sweep(ctx, false); err != nil && ctx.Err() == nil {
				r.Logger.Error("reaper sweep failed", "err", err)
			}
		}
	}
}

// Sweep looks at every unfinished conversation once, and closes the MCP
// calls a crash cut short.
func (r *Reaper) Sweep(ctx context.Context, resumeAll bool) error {
	now := r.Clock.Now()
	if err := r.closeInterruptedCalls(ctx, now); err != nil {
		return err
	}
	var views []conversations.View
	var err error
	if resumeAll {
		views, err = r.Conversations.Unfinished(ctx, 10000)
	} else {
		views, err = r.Conversations.Stalled(ctx, now.Add(-r.StallAfter), 10000)
	}
	if err != nil {
		return err
	}
	if r.resumed == nil {
		r.resumed = map[string]time.Time{}
	}
	for id, at := range r.resumed {
		if now.Sub(at) >= r.StallAfter {
			delete(r.resumed, id)
		}
	}
	var cmds []any
	if !resumeAll && r.OrphanAfter > 0 && r.OrphanAfter < r.StallAfter {
		orphans, err := r.orphans(ctx, now)
		if err != nil {
			return err
		}
		cmds = append(cmds, orphans...)
	}
	for _, v := range views {
		idle := now.Sub(v.UpdatedAt)
		switch {
		case r.GiveUpAfter > 0 && idle >= r.GiveUpAfter:
			r.Logger.Warn("conversation stalled; failing it", "conversation", v.ID, "idle", idle.Round(time.Second))
			err = r.Commands.FailConversation(ctx, commands.FailConversation{ConversationID: v.ID, Code: conversation.CodeStalled,
				Reason: fmt.Sprintf("The agent made no progress for %s and was stopped. Please send the request again.", r.GiveUpAfter)})
		case resumeAll || idle >= r.StallAfter:
			if _, recently := r.resumed[v.ID]; (recently && !resumeAll) || (!resumeAll && len(r.resumed) >= maxResumesPerSweep*4) {
				continue
			}
			var next []any
			next, _, err = r.Commands.NextCommands(ctx, v.ID)
			if err == nil && len(next) > 0 {
				r.Logger.Info("resuming conversation", "conversation", v.ID, "commands", len(next))
				cmds = append(cmds, next...)
				r.resumed[v.ID] = now
			}
		default:
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.Logger.Error("reaper could not handle conversation", "conversation", v.ID, "err", err)
		}
		if !resumeAll && len(cmds) >= maxResumesPerSweep {
			break
		}
	}
	if len(cmds) > 0 {
		return r.Bus.SendAll(ctx, cmds)
	}
	return nil
}

// orphans are the commands that resume the conversations waiting on a
// model step whose claiming instance is gone (crashed, killed).
func (r *Reaper) orphans(ctx context.Context, now time.Time) ([]any, error) {
	views, err := r.Conversations.Stalled(ctx, now.Add(-r.OrphanAfter), maxResumesPerSweep)
	if err != nil {
		return nil, err
	}
	if r.Departures != nil {
		gone, err := r.Departures.Departed(ctx)
		if err != nil {
			return nil, err
		}
		if len(gone) > 0 {
			r.Logger.Warn("instances stopped; resuming the work they may have had", "instances", gone)
			r.lastDeparture = now
		}
	}
	// Right after a departure, work that merely waits (its command taken
	// by the departed instance) looks no different from work queued: both
	// are sent again, which the commands' idempotence makes harmless.
	afterDeparture := !r.lastDeparture.IsZero() && now.Sub(r.lastDeparture) < 3*r.OrphanAfter
	var cmds []any
	for _, v := range views {
		if now.Sub(v.UpdatedAt) >= r.StallAfter {
			continue // the stall sweep below has it
		}
		if at, recently := r.resumed[v.ID]; recently && now.Sub(at) < r.OrphanAfter {
			continue
		}
		orphaned, err := r.Commands.Orphaned(ctx, v.ID)
		if err == nil && afterDeparture {
			orphaned = true
		}
		if err != nil || !orphaned {
			if err != nil && ctx.Err() == nil {
				r.Logger.Error("reaper could not look at a conversation's claim", "conversation", v.ID, "err", err)
			}
			continue
		}
		next, _, err := r.Commands.NextCommands(ctx, v.ID)
		if err == nil && len(next) > 0 {
			r.Logger.Info("resuming a conversation whose instance is gone", "conversation", v.ID, "idle", now.Sub(v.UpdatedAt).Round(time.Second))
			cmds = append(cmds, next...)
			r.resumed[v.ID] = now
		}
	}
	return cmds, nil
}

// closeInterruptedCalls closes the MCP calls open for longer than any call
// runs (commands.McpCallLimit) and than GiveUpAfter.
func (r *Reaper) closeInterruptedCalls(ctx context.Context, now time.Time) error {
	if r.McpCalls == nil {
		return nil
	}
	calls, err := r.McpCalls.Open(ctx, now.Add(-max(r.GiveUpAfter, commands.McpCallLimit)), maxResumesPerSweep)
	if err != nil {
		return err
	}
	for _, c := range calls {
		r.Logger.Warn("closing an interrupted MCP call", "call", c.CallID, "key", c.KeyID, "requested_at", c.RequestedAt)
		if err := r.Commands.CloseInterruptedMcpCall(ctx, c.CallID); err != nil && ctx.Err() == nil {
			// One call that cannot be closed now must not stop the sweep.
			r.Logger.Error("could not close an interrupted MCP call; the next sweep tries again", "call", c.CallID, "err", err)
		}
	}
	return nil
}

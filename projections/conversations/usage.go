package conversations

import (
	"context"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/sois-ai/chat-agent-gateway/domain/conversation"
)

// A key's usage is kept as sums, one row per key and status, moved by each
// batch by what it changed: reading it costs the same for a key with ten
// conversations and for one with a million.

// usageKey is one row of the sums: a key's conversations in one status.
type usageKey struct{ key, status string }

// usageRow is what the conversations of one usageKey add up to.
type usageRow struct {
	conversations, steps, toolCalls, inputTokens, outputTokens int
	failedForBudget                                            int
	webhooks                                                   [3]int // pending, delivered, failed
}

var webhookStates = [3]string{"pending", "delivered", "failed"}

// rowOf is what one view counts for.
func rowOf(v *View) usageRow {
	r := usageRow{conversations: 1, steps: v.Steps, toolCalls: v.ToolCalls, inputTokens: v.InputTokens, outputTokens: v.OutputTokens}
	if v.Error != nil && v.Error.Code == conversation.CodeBudget {
		r.failedForBudget = 1
	}
	if v.Webhook != nil {
		if i := slices.Index(webhookStates[:], v.Webhook.Status); i >= 0 {
			r.webhooks[i] = 1
		}
	}
	return r
}

func (r usageRow) zero() bool { return r == usageRow{} }

// usageDelta is how a batch moves the sums: what its views counted for
// before it (taken away) and after it (added).
type usageDelta map[usageKey]*usageRow

// counted is what one view counts for, taken at once: a fold may change
// the view's webhook and error in place afterwards.
type counted struct {
	key usageKey
	row usageRow
}

func countOf(v *View) counted { return counted{usageKey{v.APIKeyID, v.Status}, rowOf(v)} }

// move adds (sign 1) or takes away (sign -1) what a view counted for.
func (d usageDelta) move(c counted, sign int) {
	r := d[c.key]
	if r == nil {
		r = &usageRow{}
		d[c.key] = r
	}
	r.plus(c.row, sign)
}

// into adds the row to a key's usage.
func (r usageRow) into(u *Usage, status string) {
	u.Conversations += r.conversations
	u.ByStatus[status] += r.conversations
	u.Steps += r.steps
	u.ToolCalls += r.toolCalls
	u.InputTokens += r.inputTokens
	u.OutputTokens += r.outputTokens
	u.FailedForBudget += r.failedForBudget
	for i, s := range webhookStates {
		u.Webhooks[s] += r.webhooks[i]
	}
}

// memoryUsage is the sums of the memory store.
type memoryUsage struct {
	mu   sync.Mutex
	rows map[usageKey]usageRow
}

func (m *memoryUsage) apply(d usageDelta) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rows == nil {
		m.rows = map[usageKey]usageRow{}
	}
	for k, r := range d {
		cur := m.rows[k]
		cur.plus(*r, 1)
		if cur.zero() {
			delete(m.rows, k)
		} else {
			m.rows[k] = cur
		}
	}
}

func (m *memoryUsage) of(keyID string) Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := NewUsage()
	for k, r := range m.rows {
		if k.key == keyID {
			r.into(&u, k.status)
		}
	}
	return u
}

// plus adds sign times another row's sums.
func (r *usageRow) plus(o usageRow, sign int) {
	r.conversations += sign * o.conversations
	r.steps += sign * o.steps
	r.toolCalls += sign * o.toolCalls
	r.inputTokens += sign * o.inputTokens
	r.outputTokens += sign * o.outputTokens
	r.failedForBudget += sign * o.failedForBudget
	for i := range r.webhooks {
		r.webhooks[i] += sign * o.webhooks[i]
	}
}

// saveUsage moves the Postgres sums by a batch's delta, in the batch's
// transaction.
func saveUsage(ctx context.Context, tx pgx.Tx, d usageDelta) error {
	var (
		keys, statuses                                                []string
		convs, steps, tools, ins, outs, budget, pending, sent, failed []int64
	)
	for k, r := range d {
		if r.zero() {
			continue
		}
		keys, statuses = append(keys, k.key), append(statuses, k.status)
		convs, steps, tools = append(convs, int64(r.conversations)), append(steps, int64(r.steps)), append(tools, int64(r.toolCalls))
		ins, outs, budget = append(ins, int64(r.inputTokens)), append(outs, int64(r.outputTokens)), append(budget, int64(r.failedForBudget))
		pending, sent, failed = append(pending, int64(r.webhooks[0])), append(sent, int64(r.webhooks[1])), append(failed, int64(r.webhooks[2]))
	}
	if len(keys) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `
INSERT INTO conversation_usage AS u (api_key_id, status, conversations, model_steps, tool_calls, input_tokens, output_tokens,
    failed_for_budget, webhooks_pending, webhooks_delivered, webhooks_failed)
SELECT * FROM unnest($1::text[]::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
    $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])
ON CONFLICT (api_key_id, status) DO UPDATE SET
    conversations = u.conversations + EXCLUDED.conversations,
    model_steps = u.model_steps + EXCLUDED.model_steps,
    tool_calls = u.tool_calls + EXCLUDED.tool_calls,
    input_tokens = u.input_tokens + EXCLUDED.input_tokens,
    output_tokens = u.output_tokens + EXCLUDED.output_tokens,
    failed_for_budget = u.failed_for_budget + EXCLUDED.failed_for_budget,
    webhooks_pending = u.webhooks_pending + EXCLUDED.webhooks_pending,
    webhooks_delivered = u.webhooks_delivered + EXCLUDED.webhooks_delivered,
    webhooks_failed = u.webhooks_failed + EXCLUDED.webhooks_failed`,
		keys, statuses, convs, steps, tools, ins, outs, budget, pending, sent, failed)
	if err != nil {
		return err
	}
	// A status no conversation of the key is in any more has no row, as
	// if the sums were made from the views afresh (a rebuild makes them
	// so).
	_, err = tx.Exec(ctx, `DELETE FROM conversation_usage u USING unnest($1::text[]::uuid[], $2::text[]) AS k(api_key_id, status)
WHERE u.api_key_id = k.api_key_id AND u.status = k.status AND u.conversations = 0`, keys, statuses)
	return err
}

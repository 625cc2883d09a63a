// Package billing is money: what a model step or a tool call costs, budget
// periods, and the budget aggregate that reserves before spending so that
// a key's recorded spend never exceeds its budget. Amounts are integer
// micro-dollars (µ$, a millionth of a dollar); budgets are whole cents.
package billing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// MicroUSD is an amount of money in millionths of a dollar.
type MicroUSD int64

// MicroPerCent converts budgets (cents) to µ$.
const MicroPerCent MicroUSD = 10_000

// FromCents converts a budget in cents.
func FromCents(c int64) MicroUSD { return MicroUSD(c) * MicroPerCent }

// Dollars renders an amount as "$12.34" (rounded up to the cent, so a
// display never understates spend).
func (m MicroUSD) Dollars() string {
	cents := (int64(m) + int64(MicroPerCent) - 1) / int64(MicroPerCent)
	if m <= 0 {
		cents = int64(m) / int64(MicroPerCent)
	}
	return fmt.Sprintf("$%d.%02d", cents/100, cents%100)
}

// Price is what one million tokens cost.
type Price struct {
	InputPerMTok  MicroUSD `json:"input_microusd_per_mtok"`
	OutputPerMTok MicroUSD `json:"output_microusd_per_mtok"`
}

// Prices is the price table.
type Prices struct {
	Models map[string]Price `json:"models"`
	// Default prices a model missing from Models; set it high enough that
	// an unknown model never runs for less than it costs.
	Default Price `json:"default"`
	// ToolCall is the fee of one tool call.
	ToolCall MicroUSD `json:"tool_call_microusd"`
}

// DefaultPrices are the documented defaults (prices of late 2026 for the
// named OpenAI models; the offline model is priced so budgets can be tried
// without a provider).
func DefaultPrices() Prices {
	return Prices{
		Models: map[string]Price{
			"offline":      {InputPerMTok: 1_000_000, OutputPerMTok: 2_000_000},
			"gpt-4o-mini":  {InputPerMTok: 150_000, OutputPerMTok: 600_000},
			"gpt-4o":       {InputPerMTok: 2_500_000, OutputPerMTok: 10_000_000},
			"gpt-4.1-mini": {InputPerMTok: 400_000, OutputPerMTok: 1_600_000},
			"gpt-4.1":      {InputPerMTok: 2_000_000, OutputPerMTok: 8_000_000},
		},
		Default:  Price{InputPerMTok: 5_000_000, OutputPerMTok: 15_000_000},
		ToolCall: 1_000,
	}
}

// LoadPrices reads a price table from a JSON file in the Prices shape;
// models it names are added to (or replace) the defaults.
func LoadPrices(path string) (Prices, error) {
	p := DefaultPrices()
	raw, err := os.ReadFile(path)
	if err != nil {
		return p, fmt.Errorf("read price table: %w", err)
	}
	var f Prices
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return p, fmt.Errorf("price table %s: %w", path, err)
	}
	for name, pr := range f.Models {
		if pr.InputPerMTok < 0 || pr.OutputPerMTok < 0 {
			return p, fmt.Errorf("price table %s: model %s has a negative price", path, name)
		}
		p.Models[name] = pr
	}
	if f.Default != (Price{}) {
		p.Default = f.Default
	}
	if f.ToolCall != 0 {
		p.ToolCall = f.ToolCall
	}
	if p.ToolCall < 0 || p.Default.InputPerMTok < 0 || p.Default.OutputPerMTok < 0 {
		return p, fmt.Errorf("price table %s: prices must not be negative", path)
	}
	return p, nil
}

// Of returns a model's price.
func (p Prices) Of(model string) Price {
	if pr, ok := p.Models[model]; ok {
		return pr
	}
	return p.Default
}

// perMTok charges n tokens at a per-million price, rounding up.
func perMTok(n int, price MicroUSD) MicroUSD {
	if n <= 0 {
		return 0
	}
	return (MicroUSD(n)*price + 999_999) / 1_000_000
}

// Cost is what a model step with this usage costs.
func (p Prices) Cost(model string, u agent.Usage) MicroUSD {
	pr := p.Of(model)
	return perMTok(u.InputTokens, pr.InputPerMTok) + perMTok(u.OutputTokens, pr.OutputPerMTok)
}

// WorstCase bounds what a model step can cost before it runs: a token is
// never shorter than a byte, so the request's size in bytes bounds its
// input tokens, and maxOutput bounds the answer. Reserving this much makes
// the budget hold whatever the model does.
func (p Prices) WorstCase(model string, requestBytes, maxOutput int) MicroUSD {
	return p.Cost(model, agent.Usage{InputTokens: requestBytes, OutputTokens: maxOutput})
}

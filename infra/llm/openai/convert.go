package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// emptyToolResult stands in for a tool result with no text: the API
// requires content on tool messages, and go-openai omits an empty one.
const emptyToolResult = "(no output)"

// emptySchema is sent for a tool without parameters: the API rejects a
// function whose parameters are null.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// buildRequest maps the gateway's request to a chat completion request.
// It fails only on input no server could accept (an unknown role, a tool
// schema that is not JSON), which retrying would not fix.
func (m *Model) buildRequest(req agent.Request) (goopenai.ChatCompletionRequest, error) {
	msgs := make([]goopenai.ChatCompletionMessage, 0, len(req.Messages)+1)
	if req.System != "" {
		msgs = append(msgs, goopenai.ChatCompletionMessage{Role: goopenai.ChatMessageRoleSystem, Content: req.System})
	}
	for i, msg := range req.Messages {
		switch msg.Role {
		case agent.RoleSystem, agent.RoleUser:
			msgs = append(msgs, goopenai.ChatCompletionMessage{Role: string(msg.Role), Content: msg.Content})
		case agent.RoleAssistant:
			out := goopenai.ChatCompletionMessage{Role: goopenai.ChatMessageRoleAssistant, Content: msg.Content}
			for _, tc := range msg.ToolCalls {
				out.ToolCalls = append(out.ToolCalls, goopenai.ToolCall{
					ID:   tc.ID,
					Type: goopenai.ToolTypeFunction,
					Function: goopenai.FunctionCall{
						Name:      tc.Name,
						Arguments: argumentsText(tc.Arguments),
					},
				})
			}
			msgs = append(msgs, out)
		case agent.RoleTool:
			content := msg.Content
			if content == "" {
				content = emptyToolResult
			}
			msgs = append(msgs, goopenai.ChatCompletionMessage{
				Role:       goopenai.ChatMessageRoleTool,
				Content:    content,
				ToolCallID: msg.ToolCallID,
				Name:       msg.Name,
			})
		default:
			return goopenai.ChatCompletionRequest{}, fmt.Errorf("the request for the language model is invalid: message %d has the unknown role %q", i+1, msg.Role)
		}
	}

	tools := make([]goopenai.Tool, 0, len(req.Tools))
	for _, t := range req.Tools {
		params := bytes.TrimSpace(t.Parameters)
		switch {
		case len(params) == 0 || string(params) == "null":
			params = emptySchema
		case !json.Valid(params):
			return goopenai.ChatCompletionRequest{}, fmt.Errorf("the request for the language model is invalid: the parameters of tool %q are not a valid JSON schema", t.Name)
		}
		tools = append(tools, goopenai.Tool{
			Type: goopenai.ToolTypeFunction,
			Function: &goopenai.FunctionDefinition{
				Name:        t.Name,
				Description: t.Description,
				Parameters:  json.RawMessage(params),
			},
		})
	}

	out := goopenai.ChatCompletionRequest{Model: m.cfg.Model, Messages: msgs}
	if req.Model != "" {
		out.Model = req.Model // a named agent's model
	}
	if t := req.Temperature; t != nil {
		out.Temperature = float32(*t)
		if *t == 0 {
			// go-openai leaves a zero temperature out (omitempty), and the
			// server would use its default; the smallest float is 0 to
			// every server and is sent.
			out.Temperature = math.SmallestNonzeroFloat32
		}
	}
	if len(tools) > 0 {
		// tool_choice is left out on purpose: "auto" is every server's
		// default and some (Ollama) reject the field.
		out.Tools = tools
	}
	maxTokens := req.MaxTokens
	if maxTokens <= 0 {
		maxTokens = m.cfg.MaxTokens
	}
	if reasoningModel(m.cfg.Model) {
		// OpenAI's reasoning models refuse max_tokens; older local servers
		// only know max_tokens, so the newer field is used only here.
		out.MaxCompletionTokens = maxTokens
	} else {
		//lint:ignore SA1019 local OpenAI-compatible servers (Ollama, llama.cpp, vLLM) only read max_tokens
		out.MaxTokens = maxTokens
	}
	if t := m.cfg.Temperature; t != nil {
		out.Temperature = *t
		if *t == 0 {
			// go-openai omits a zero temperature; the smallest positive
			// float is how it documents asking for greedy sampling.
			out.Temperature = math.SmallestNonzeroFloat32
		}
	}
	return out, nil
}

// reasoningModel reports OpenAI model families that take
// max_completion_tokens instead of max_tokens.
func reasoningModel(name string) bool {
	for _, p := range []string{"o1", "o3", "o4", "gpt-5", "gpt-6"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// argumentsText is the arguments string the API expects for a tool call the
// model made earlier. Arguments that were passed through as a JSON string
// (the model's text was not JSON) are sent back as that original text.
func argumentsText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "{}"
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// toResponse maps the first choice of a completion to the gateway's
// response. step numbers the request (its message count) so that tool calls
// a server sent without an id get ids unique within the conversation.
func (m *Model) toResponse(resp goopenai.ChatCompletionResponse, step int) agent.Response {
	choice := resp.Choices[0]
	out := agent.Response{
		Model:        resp.Model,
		Content:      choice.Message.Content,
		FinishReason: string(choice.FinishReason),
		Usage: agent.Usage{
			InputTokens:  resp.Usage.PromptTokens,
			OutputTokens: resp.Usage.CompletionTokens,
		},
	}
	if out.Model == "" {
		out.Model = m.cfg.Model
	}
	if out.Content == "" && choice.Message.Refusal != "" {
		out.Content = choice.Message.Refusal
	}
	for i, tc := range choice.Message.ToolCalls {
		if tc.Function.Name == "" {
			continue // not a function call: nothing the gateway could run
		}
		id := tc.ID
		if id == "" {
			id = fmt.Sprintf("call_%d_%d", step, i+1)
		}
		out.ToolCalls = append(out.ToolCalls, agent.ToolCall{ID: id, Name: tc.Function.Name, Arguments: arguments(tc.Function.Arguments)})
	}
	if out.FinishReason == "" && len(out.ToolCalls) > 0 {
		out.FinishReason = string(goopenai.FinishReasonToolCalls)
	}
	return out
}

// arguments turns the model's arguments text into JSON. Text that is not
// JSON (small local models produce it) becomes a JSON string holding it,
// so the tool sees the model's words and can report what is wrong instead
// of the call being dropped.
func arguments(text string) json.RawMessage {
	trimmed := strings.TrimSpace(text)
	if trimmed == "" {
		return json.RawMessage("{}")
	}
	if json.Valid([]byte(trimmed)) {
		return json.RawMessage(trimmed)
	}
	b, _ := json.Marshal(text) // a string always marshals
	return b
}

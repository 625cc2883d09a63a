package openai

import (
	"context"
	"errors"
	"io"
	"strings"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/sois-ai/chat-agent-gateway/domain/agent"
)

// CompleteStreaming is Complete through go-openai's streaming API: the
// reply's text is handed to delta as the server writes it, so a caller
// watching the conversation sees it token by token. attempt numbers the
// attempt the text belongs to; a retried call writes its text again from
// the start. The response returned is the same as Complete's.
func (m *Model) CompleteStreaming(ctx context.Context, req agent.Request, delta func(attempt int, text string)) (agent.Response, error) {
	creq, err := m.buildRequest(req)
	if err != nil {
		return agent.Response{}, &Error{Endpoint: m.endpoint, Msg: redact(err.Error(), m.cfg.APIKey), invalid: true, cause: err}
	}
	creq.Stream = true
	creq.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
	resp, err := m.retrying(ctx, func(ctx context.Context, n int) (goopenai.ChatCompletionResponse, error) {
		f := outcomeFilter{emit: func(text string) { delta(n, text) }}
		r, err := m.streamOnce(ctx, creq, f.write)
		f.flush()
		return r, err
	})
	if err != nil {
		return agent.Response{}, err
	}
	return withOutcome(m.response(resp, creq, len(req.Messages)), req.Messages), nil
}

// response is toResponse for a call that may have come without a token
// count (a server that ignores stream_options, or counts nothing): it is
// charged by an estimate of its bytes, never as free.
func (m *Model) response(resp goopenai.ChatCompletionResponse, creq goopenai.ChatCompletionRequest, step int) agent.Response {
	out := m.toResponse(resp, step)
	if resp.Usage.PromptTokens == 0 && resp.Usage.CompletionTokens == 0 {
		out.Usage = estimateUsage(creq, out)
	}
	return out
}

// streamOnce reads one streamed answer and puts it together as the
// non-streaming API would have returned it.
func (m *Model) streamOnce(ctx context.Context, creq goopenai.ChatCompletionRequest, delta func(string)) (goopenai.ChatCompletionResponse, error) {
	stream, err := m.client.CreateChatCompletionStream(ctx, creq)
	if err != nil {
		return goopenai.ChatCompletionResponse{}, err
	}
	defer stream.Close()
	var (
		out     goopenai.ChatCompletionResponse
		content strings.Builder
		refusal strings.Builder
		calls   []goopenai.ToolCall
		finish  goopenai.FinishReason
		got     bool
	)
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return goopenai.ChatCompletionResponse{}, err
		}
		if chunk.Model != "" {
			out.Model = chunk.Model
		}
		if chunk.Usage != nil {
			out.Usage = *chunk.Usage
		}
		for _, ch := range chunk.Choices {
			if ch.Index != 0 {
				continue
			}
			got = true
			if d := ch.Delta.Content; d != "" {
				content.WriteString(d)
				delta(d)
			}
			refusal.WriteString(ch.Delta.Refusal)
			for _, tc := range ch.Delta.ToolCalls {
				i := len(calls)
				if tc.Index != nil {
					i = *tc.Index
				} else if tc.ID == "" && i > 0 {
					i-- // a continuation without an index belongs to the last call
				}
				for len(calls) <= i {
					calls = append(calls, goopenai.ToolCall{Type: goopenai.ToolTypeFunction})
				}
				if tc.ID != "" {
					calls[i].ID = tc.ID
				}
				calls[i].Function.Name += tc.Function.Name
				calls[i].Function.Arguments += tc.Function.Arguments
			}
			if ch.FinishReason != "" {
				finish = ch.FinishReason
			}
		}
	}
	if !got {
		return out, nil // no choices: reported as not a chat completion
	}
	out.Choices = []goopenai.ChatCompletionChoice{{Message: goopenai.ChatCompletionMessage{
		Role: goopenai.ChatMessageRoleAssistant, Content: content.String(), Refusal: refusal.String(), ToolCalls: calls,
	}, FinishReason: finish}}
	return out, nil
}

// estimateUsage bounds a step's tokens by its bytes when the server did not
// count them.
func estimateUsage(creq goopenai.ChatCompletionRequest, out agent.Response) agent.Usage {
	in := 0
	for _, msg := range creq.Messages {
		in += len(msg.Content) + 4
		for _, tc := range msg.ToolCalls {
			in += len(tc.Function.Name) + len(tc.Function.Arguments)
		}
	}
	o := len(out.Content)
	for _, tc := range out.ToolCalls {
		o += len(tc.Name) + len(tc.Arguments)
	}
	return agent.Usage{InputTokens: max(1, in/4), OutputTokens: max(1, o/4)}
}

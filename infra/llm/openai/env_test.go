package openai

import (
	"strings"
	"testing"
)

func TestConfigFromEnv(t *testing.T) {
	cases := []struct {
		name       string
		env        map[string]string
		configured bool
		want       Config
		err        string // substring of the error, "" for none
	}{
		{name: "nothing set: offline model", env: map[string]string{"GATEWAY_MODEL": "ignored"}},
		{name: "only a key: OpenAI with the default model",
			env:        map[string]string{"OPENAI_API_KEY": "sk-abc"},
			configured: true, want: Config{BaseURL: DefaultBaseURL, APIKey: "sk-abc", Model: "gpt-4o-mini"}},
		{name: "key and model",
			env:        map[string]string{"OPENAI_API_KEY": "sk-abc", "GATEWAY_MODEL": "gpt-4.1"},
			configured: true, want: Config{BaseURL: DefaultBaseURL, APIKey: "sk-abc", Model: "gpt-4.1"}},
		{name: "Ollama without a key",
			env:        map[string]string{"OPENAI_BASE_URL": "http://localhost:11434/v1/", "GATEWAY_MODEL": "llama3.1"},
			configured: true, want: Config{BaseURL: "http://localhost:11434/v1", Model: "llama3.1"}},
		{name: "OpenAI's URL spelled out keeps the default model",
			env:        map[string]string{"OPENAI_BASE_URL": "https://api.openai.com/v1", "OPENAI_API_KEY": "sk-abc"},
			configured: true, want: Config{BaseURL: "https://api.openai.com/v1", APIKey: "sk-abc", Model: "gpt-4o-mini"}},
		{name: "another endpoint needs a model name",
			env:        map[string]string{"OPENAI_BASE_URL": "http://vllm:8000/v1"},
			configured: true, err: "GATEWAY_MODEL is not set"},
		{name: "no scheme",
			env:        map[string]string{"OPENAI_BASE_URL": "localhost:11434/v1", "GATEWAY_MODEL": "m"},
			configured: true, err: "OPENAI_BASE_URL must start with http:// or https://"},
		{name: "not a URL",
			env:        map[string]string{"OPENAI_BASE_URL": "http://user:pa ss@[::1", "GATEWAY_MODEL": "m"},
			configured: true, err: "OPENAI_BASE_URL is not a valid URL"},
		{name: "no host",
			env:        map[string]string{"OPENAI_BASE_URL": "http:///v1", "GATEWAY_MODEL": "m"},
			configured: true, err: "OPENAI_BASE_URL has no host"},
		{name: "query string",
			env:        map[string]string{"OPENAI_BASE_URL": "https://gw.example.com/v1?key=1", "GATEWAY_MODEL": "m"},
			configured: true, err: "must not have a query"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, configured, err := ConfigFromEnv(func(k string) string { return c.env[k] })
			if configured != c.configured {
				t.Errorf("configured = %v, want %v", configured, c.configured)
			}
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one containing %q", err, c.err)
				}
				if strings.Contains(err.Error(), "pa ss") {
					t.Errorf("error repeats the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if cfg.BaseURL != c.want.BaseURL || cfg.APIKey != c.want.APIKey || cfg.Model != c.want.Model {
				t.Errorf("config = %+v, want %+v", cfg, c.want)
			}
			if configured {
				if _, err := New(cfg); err != nil {
					t.Errorf("New(ConfigFromEnv()) = %v", err)
				}
			}
		})
	}
}

package openai

import (
	"fmt"
	"strings"
)

// ConfigFromEnv reads the model endpoint from the environment:
//
//   - OPENAI_BASE_URL: the API's /v1 base (default https://api.openai.com/v1);
//   - OPENAI_API_KEY: the bearer token (may be empty for local servers);
//   - GATEWAY_MODEL: the model name; defaults to gpt-4o-mini when the
//     endpoint is OpenAI's own, and is required for any other endpoint,
//     since no model name is valid everywhere.
//
// configured is false when neither OPENAI_BASE_URL nor OPENAI_API_KEY is
// set: the gateway then runs its offline model. getenv is os.Getenv in
// production and a map lookup in tests. Errors never repeat the key or
// credentials in the URL.
func ConfigFromEnv(getenv func(string) string) (cfg Config, configured bool, err error) {
	base := strings.TrimSpace(getenv("OPENAI_BASE_URL"))
	key := strings.TrimSpace(getenv("OPENAI_API_KEY"))
	model := strings.TrimSpace(getenv("GATEWAY_MODEL"))
	if base == "" && key == "" {
		return Config{}, false, nil
	}
	cfg = Config{BaseURL: DefaultBaseURL, APIKey: key, Model: model}
	if base != "" {
		u, err := parseBaseURL(strings.TrimRight(base, "/"))
		if err != nil {
			return Config{}, true, fmt.Errorf("OPENAI_BASE_URL %s", err)
		}
		cfg.BaseURL = strings.TrimRight(base, "/")
		if model == "" && u.Hostname() != "api.openai.com" {
			return Config{}, true, fmt.Errorf("GATEWAY_MODEL is not set: name the model %s serves (for example llama3.1 for Ollama)", displayURL(u))
		}
	}
	if cfg.Model == "" {
		cfg.Model = DefaultModel
	}
	return cfg, true, nil
}

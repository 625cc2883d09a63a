package contacts

import (
	"testing"

	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"
)

func TestPostgresStore(t *testing.T) {
	runStoreSuite(t, func(t *testing.T) Store { return NewPostgres(projectiontest.Connect(t)) })
}

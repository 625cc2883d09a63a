package documents

import (
	"context"
	"sort"

	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Store is the documents read model: a projection plus its queries. Every
// query is scoped to one workspace, so a tool can never see another tenant's
// documents.
type Store interface {
	projections.Projection
	// Get returns one document of the workspace, body included.
	Get(ctx context.Context, workspaceID, id string) (View, bool, error)
	// List returns the documents of a folder (or all of them) without their
	// bodies, ordered by folder (segment by segment, so a folder's
	// subfolders follow it), then title and id (byte-wise, so both stores
	// agree); at most f.Limit of them, and how many match in all so the
	// caller can tell the model the list is cut short. A folder that cannot
	// exist is a *document.ValidationError.
	List(ctx context.Context, workspaceID string, f ListFilter) ([]View, int, error)
	// Folders returns every folder that holds documents, and all their
	// ancestors up to the root "/", each with the number of documents filed
	// directly in it, in List's folder order. An empty workspace has none.
	Folders(ctx context.Context, workspaceID string) ([]Folder, error)
	// Search finds the documents whose title or body holds every word of
	// the query (whole words, case-insensitive, no stemming; see search.go),
	// best match first (then title and id), at most limit of them
	// (DefaultLimit if limit <= 0, capped at MaxLimit), and how many match
	// in all. A query without any word matches nothing. Only the Postgres
	// store also understands web-search syntax ("a phrase", or, -word).
	Search(ctx context.Context, workspaceID, query string, limit int) ([]Hit, int, error)
}

// Memory keeps the read model in memory; it is rebuilt from the log at start.
type Memory struct{ *projections.InMemory[View] }

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{rows.InMemory()} }

func (m *Memory) Get(_ context.Context, workspaceID, id string) (View, bool, error) {
	v, ok := m.Views.Get(id)
	if !ok || v.WorkspaceID != workspaceID {
		return View{}, false, nil
	}
	return v, true, nil
}

func (m *Memory) List(_ context.Context, workspaceID string, f ListFilter) ([]View, int, error) {
	f, err := f.normalized()
	if err != nil {
		return nil, 0, err
	}
	out, total := m.Page(func(v View) bool { return v.WorkspaceID == workspaceID && f.inFolder(v.Folder) }, less, f.Limit)
	for i := range out {
		out[i].Body = "" // lists leave the bodies out
	}
	return out, total, nil
}

func (m *Memory) Folders(_ context.Context, workspaceID string) ([]Folder, error) {
	counts := map[string]int{}
	for v := range m.Views.All() {
		if v.WorkspaceID == workspaceID {
			counts[v.Folder]++
		}
	}
	return folderTree(counts), nil
}

// Search tokenises every document of the workspace on each call: the memory
// store serves development and tests, where that is cheap enough.
func (m *Memory) Search(_ context.Context, workspaceID, query string, n int) ([]Hit, int, error) {
	terms := queryTerms(query)
	if len(terms) == 0 {
		return nil, 0, nil
	}
	n = limit(n)
	var out []Hit
	for v := range m.Views.All() {
		if v.WorkspaceID != workspaceID {
			continue
		}
		body := tokenize(v.Body)
		if rank := match(terms, tokenize(v.Title), body); rank > 0 {
			h := Hit{View: v, Snippet: snippet(v.Body, body, terms), Rank: rank}
			h.Body = ""
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Rank != out[j].Rank {
			return out[i].Rank > out[j].Rank
		}
		if out[i].Title != out[j].Title {
			return out[i].Title < out[j].Title
		}
		return out[i].ID < out[j].ID
	})
	total := len(out)
	if len(out) > n {
		out = out[:n]
	}
	return out, total, nil
}

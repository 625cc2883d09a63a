package tools

import (
	"context"

	"github.com/sois-ai/chat-agent-gateway/commands"
	"github.com/sois-ai/chat-agent-gateway/domain/document"
	"github.com/sois-ai/chat-agent-gateway/projections/documents"
)

// DocumentOut is a document as the model reads it (Body only when read).
type DocumentOut struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Folder string `json:"folder"`
	Body   string `json:"body,omitempty"`
}

func (c *Catalog) addDocumentTools() {
	c.add("create_document", "Create a text document in a folder of the workspace (folders are paths like /Reports/2026).",
		`{"type": "object", "properties": {
  "title":  {"type": "string"},
  "folder": {"type": "string", "description": "Folder path, e.g. /Reports (default /)"},
  "body":   {"type": "string", "description": "The document's text"}
}, "required": ["title", "body"], "additionalProperties": false}`,
		c.createDocument)
	c.add("list_documents", "List the documents in a folder (titles and ids, not their text).",
		`{"type": "object", "properties": {
  "folder":    {"type": "string", "description": "Folder path; omit for every folder"},
  "recursive": {"type": "boolean", "description": "Include subfolders"},
  "limit":     {"type": "integer", "minimum": 1, "maximum": 100}
}, "additionalProperties": false}`,
		c.listDocuments)
	c.add("list_folders", "List the workspace's folders with how many documents each holds.",
		`{"type": "object", "properties": {}, "additionalProperties": false}`, c.listFolders)
	c.add("read_document", "Read a document's full text by id.",
		`{"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"], "additionalProperties": false}`,
		c.readDocument)
	c.add("move_document", "Move a document to another folder.",
		`{"type": "object", "properties": {"id": {"type": "string"}, "folder": {"type": "string"}}, "required": ["id", "folder"], "additionalProperties": false}`,
		c.moveDocument)
	c.add("search_documents", "Full-text search over document titles and text; returns the best matches with a snippet. Use it to find a document before reading it.",
		`{"type": "object", "properties": {
  "query": {"type": "string", "description": "Words to look for, e.g. Q1 report"},
  "limit": {"type": "integer", "minimum": 1, "maximum": 50}
}, "required": ["query"], "additionalProperties": false}`,
		c.searchDocuments)
}

func (c *Catalog) createDocument(ctx context.Context, call commands.ToolCall) (any, error) {
	var a struct{ Title, Folder, Body string }
	if err := decode(call, &a); err != nil {
		return nil, err
	}
	d, err := c.deps.Commands.CreateDocument(ctx, call.EffectID(), call.WorkspaceID, a.Title, a.Folder, a.Body, call.UserID, cause(call))
	if err != nil {
		return nil, err
	}
	return map[string]any{"document": DocumentOut{ID: d.ID, Title: d.Title, Folder: d.Folder}}, nil
}

func (c *Catalog) listDocuments(ctx context.Context, call commands.ToolCall) (any, error) {
	var a struct {
		Folder    string
		Recursive bool
		Limit     int
	}
	if err := decode(call, &a); err != nil {
		return nil, err
	}
	if a.Folder != "" {
		f, err := document.NormalizeFolder(a.Folder)
		if err != nil {
			return nil, err
		}
		a.Folder = f
	}
	if err := c.deps.Sync.WaitForHead(ctx); err != nil {
		return nil, err
	}
	views, total, err := c.deps.Documents.List(ctx, call.WorkspaceID, documents.ListFilter{Folder: a.Folder, Recursive: a.Recursive, Limit: a.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]DocumentOut, 0, len(views))
	for _, v := range views {
		out = append(out, DocumentOut{ID: v.ID, Title: v.Title, Folder: v.Folder})
	}
	return map[string]any{"count": total, "documents": out}, nil
}

func (c *Catalog) listFolders(ctx context.Context, call commands.ToolCall) (any, error) {
	if err := c.deps.Sync.WaitForHead(ctx); err != nil {
		return nil, err
	}
	fs, err := c.deps.Documents.Folders(ctx, call.WorkspaceID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"folders": fs}, nil
}

func (c *Catalog) readDocument(ctx context.Context, call commands.ToolCall) (any, error) {
	a, err := idArg(call, "document")
	if err != nil {
		return nil, err
	}
	d, err := c.deps.Commands.GetDocument(ctx, a.ID, call.WorkspaceID, call.Sandbox)
	if err != nil {
		return nil, err
	}
	return map[string]any{"document": DocumentOut{ID: d.ID, Title: d.Title, Folder: d.Folder, Body: d.Body}}, nil
}

func (c *Catalog) moveDocument(ctx context.Context, call commands.ToolCall) (any, error) {
	var a struct{ ID, Folder string }
	if err := decode(call, &a); err != nil {
		return nil, err
	}
	if !isUUID(a.ID) {
		return nil, userErr("No document has the id %q.", a.ID)
	}
	d, err := c.deps.Commands.MoveDocument(ctx, a.ID, call.WorkspaceID, a.Folder, cause(call))
	if err != nil {
		return nil, err
	}
	return map[string]any{"document": DocumentOut{ID: d.ID, Title: d.Title, Folder: d.Folder}}, nil
}

func (c *Catalog) searchDocuments(ctx context.Context, call commands.ToolCall) (any, error) {
	var a struct {
		Query string
		Limit int
	}
	if err := decode(call, &a); err != nil {
		return nil, err
	}
	if a.Query == "" {
		return nil, userErr("query is required: give the words to look for.")
	}
	if err := c.deps.Sync.WaitForHead(ctx); err != nil {
		return nil, err
	}
	hits, total, err := c.deps.Documents.Search(ctx, call.WorkspaceID, a.Query, a.Limit)
	if err != nil {
		return nil, err
	}
	type hitOut struct {
		DocumentOut
		Snippet string `json:"snippet"`
	}
	out := make([]hitOut, 0, len(hits))
	for _, h := range hits {
		out = append(out, hitOut{DocumentOut{ID: h.ID, Title: h.Title, Folder: h.Folder}, h.Snippet})
	}
	return map[string]any{"count": total, "documents": out}, nil
}

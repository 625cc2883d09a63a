// Package documents is the read model behind the agent's document tools: one
// row per document of a workspace, listable by folder and searchable by the
// words of its title and body without replaying streams.
package documents

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sois-ai/chat-agent-gateway/domain/document"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

// Name keys this projection's checkpoint.
const Name = "documents"

const streamPrefix = "document-"

// rows is the read model as the kit sees it: what it folds and how its
// rows are read (body included) and written.
var rows = &projections.Rows[View]{
	Name: Name, Prefix: streamPrefix, Fold: Fold, Key: func(v View) string { return v.ID },
	Table: "documents", Columns: columns + `, body`, Scan: scanWithBody, Save: projections.EachSave(upsert),
}

// View is one document as the tools read it. List and Search leave Body
// empty: a listing must not flood the model's context with whole documents.
type View struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspace_id"`
	Title       string    `json:"title"`
	Folder      string    `json:"folder"` // "/", "/Reports", "/Reports/Q1"
	Body        string    `json:"body,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Version     int64     `json:"version"`
}

// ListFilter narrows a listing.
type ListFilter struct {
	// Folder is a folder path ("Reports/Q1" and "/Reports/Q1/" mean the same
	// folder); empty lists every folder. Folder names match exactly, case
	// and all.
	Folder string `json:"folder,omitempty"`
	// Recursive includes the documents of the folder's subfolders too.
	Recursive bool `json:"recursive,omitempty"`
	// Limit defaults to DefaultLimit and is capped at MaxLimit, so a tool
	// result never floods the model's context.
	Limit int `json:"limit,omitempty"`
}

// Folder is one folder of a workspace and how many documents it holds
// directly (not counting its subfolders).
type Folder struct {
	Path      string `json:"path"`
	Documents int    `json:"documents"`
}

// Hit is one search result: the document without its body, a short extract
// of the body around the matched words, and how well it matched (higher is
// better; only comparable within one result list, and computed differently
// by the memory and Postgres stores).
type Hit struct {
	View
	Snippet string  `json:"snippet"`
	Rank    float64 `json:"rank"`
}

// Limits of List and Search.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

func limit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// normalized settles the filter: the folder in the form documents are filed
// under ("" for all), and the limit bounded. A folder that could never
// exist ("a/../b") is an error rather than an empty listing.
func (f ListFilter) normalized() (ListFilter, error) {
	f.Limit = limit(f.Limit)
	if strings.TrimSpace(f.Folder) == "" {
		f.Folder = ""
		return f, nil
	}
	folder, err := document.NormalizeFolder(f.Folder)
	if err != nil {
		return f, err
	}
	f.Folder = folder
	if f.Folder == "/" && f.Recursive {
		f.Folder = "" // everything lives under the root
	}
	return f, nil
}

// inFolder is the memory twin of the folder condition of List.
func (f ListFilter) inFolder(folder string) bool {
	switch {
	case f.Folder == "":
		return true
	case f.Recursive:
		return folder == f.Folder || strings.HasPrefix(folder, f.Folder+"/")
	}
	return folder == f.Folder
}

// folderKey orders folders segment by segment, so that a folder's
// subfolders come right after it: "/A", "/A/B", "/A B" rather than the byte
// order "/A", "/A B", "/A/B". Replacing the separator by the lowest byte
// Postgres text can hold does exactly that under byte-wise comparison; the
// Postgres store sorts by replace(folder, '/', chr(1)) COLLATE "C".
func folderKey(folder string) string { return strings.ReplaceAll(folder, "/", "\x01") }

// less is the order of List: folder (segment-wise), then title and id,
// byte-wise, as in the Postgres store.
func less(a, b View) bool {
	if ka, kb := folderKey(a.Folder), folderKey(b.Folder); ka != kb {
		return ka < kb
	}
	if a.Title != b.Title {
		return a.Title < b.Title
	}
	return a.ID < b.ID
}

// folderTree turns the number of documents filed directly in each folder
// into the list Folders returns: those folders plus all their ancestors up
// to the root, in the order of folderKey. Both stores share it, so they
// agree on which folders exist.
func folderTree(counts map[string]int) []Folder {
	all := map[string]int{}
	for path, n := range counts {
		all[path] += n
		for p := path; p != "/"; {
			i := strings.LastIndex(p, "/")
			if i <= 0 {
				p = "/"
			} else {
				p = p[:i]
			}
			if _, ok := all[p]; !ok {
				all[p] = 0
			}
		}
	}
	out := make([]Folder, 0, len(all))
	for path, n := range all {
		out = append(out, Folder{Path: path, Documents: n})
	}
	sort.Slice(out, func(i, j int) bool { return folderKey(out[i].Path) < folderKey(out[j].Path) })
	return out
}

// Fold applies one recorded document event to a view. It skips events the
// view already holds and refuses to jump over a missing one, so replays are
// harmless and a lost event stops the projection instead of hiding.
func Fold(v *View, rec es.Recorded) (changed bool, err error) {
	if rec.StreamVersion <= v.Version {
		return false, nil
	}
	if rec.StreamVersion != v.Version+1 {
		return false, projections.GapError(rec.Stream, v.Version, rec.StreamVersion)
	}
	f, err := document.Events.Decode(rec)
	if err != nil {
		return false, err
	}
	if _, created := f.(*document.Created); created != (v.Version == 0) {
		// Without its Created event a view has no id or workspace to be
		// found by; a second Created would silently reset it.
		return false, fmt.Errorf("stream %s version %d: %s out of place", rec.Stream, rec.StreamVersion, rec.Type)
	}
	switch e := f.(type) {
	case *document.Created:
		at := projections.Stamp(e.CreatedAt)
		// The stream names the document: it is what later events and Get
		// find the view by, whatever the payload says.
		*v = View{ID: strings.TrimPrefix(rec.Stream, streamPrefix), WorkspaceID: e.WorkspaceID, Title: e.Title, Folder: e.Folder, Body: e.Body,
			CreatedAt: at, UpdatedAt: at}
	case *document.Moved:
		v.Folder, v.UpdatedAt = e.To, projections.Stamp(e.MovedAt)
	}
	v.Version = rec.StreamVersion
	return true, nil
}

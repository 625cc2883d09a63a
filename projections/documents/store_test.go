package documents

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sois-ai/chat-agent-gateway/projections/projectiontest"

	"github.com/google/uuid"

	"github.com/sois-ai/chat-agent-gateway/domain/document"
	"github.com/sois-ai/chat-agent-gateway/domain/es"
	"github.com/sois-ai/chat-agent-gateway/projections"
)

func TestStores(t *testing.T) {
	projectiontest.OverStores(t, func() Store { return NewMemory() }, func(p *pgxpool.Pool) Store { return NewPostgres(p) }, runStoreSuite)
}

var t0 = projectiontest.T0

// eventLog is the shared log, with this read model's events.
type eventLog struct{ projectiontest.Log }

func (l *eventLog) created(t *testing.T, id, ws, title, folder, body string) es.Recorded {
	return l.Rec(t, document.Stream(id), 1, &document.Created{DocumentID: id, WorkspaceID: ws, Title: title,
		Folder: folder, Body: body, CreatedBy: "user-1", CreatedAt: t0})
}

func (l *eventLog) moved(t *testing.T, id string, version int64, from, to string, at time.Time) es.Recorded {
	return l.Rec(t, document.Stream(id), version, &document.Moved{From: from, To: to, MovedAt: at})
}

func mustGet(t testing.TB, s Store, ws, id string) (View, bool) {
	t.Helper()
	v, ok, err := s.Get(context.Background(), ws, id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	return v, ok
}

func mustList(t *testing.T, s Store, ws string, f ListFilter) ([]View, int) {
	t.Helper()
	vs, total, err := s.List(context.Background(), ws, f)
	if err != nil {
		t.Fatalf("list %+v: %v", f, err)
	}
	return vs, total
}

func mustFolders(t *testing.T, s Store, ws string) []Folder {
	t.Helper()
	fs, err := s.Folders(context.Background(), ws)
	if err != nil {
		t.Fatalf("folders: %v", err)
	}
	return fs
}

func mustSearch(t *testing.T, s Store, ws, q string, limit int) ([]Hit, int) {
	t.Helper()
	hs, total, err := s.Search(context.Background(), ws, q, limit)
	if err != nil {
		t.Fatalf("search %q: %v", q, err)
	}
	return hs, total
}

func titles(vs []View) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.Title)
	}
	return out
}

func hitTitles(hs []Hit) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.Title)
	}
	return out
}

func sorted(s []string) []string {
	s = append([]string{}, s...)
	sort.Strings(s)
	return s
}

func withoutBody(v View) View { v.Body = ""; return v }

// contract is this read model to the suite every read model passes.
var contract = projectiontest.Contract[View]{
	Name: Name, Strict: true,
	Open: func(l *projectiontest.Log, t testing.TB, id, ws string, v int64) es.Recorded {
		return l.Rec(t, document.Stream(id), v, &document.Created{DocumentID: id, WorkspaceID: ws, Title: "Plan", Folder: "/",
			Body: "the plan", CreatedAt: t0})
	},
	Change: func(l *projectiontest.Log, t testing.TB, id string, v int64) es.Recorded {
		return l.Rec(t, document.Stream(id), v, &document.Moved{To: fmt.Sprintf("/v%d", v), MovedAt: t0})
	},
	Read: func(t testing.TB, s projections.Projection, ws, id string) (View, bool) {
		return mustGet(t, s.(Store), ws, id)
	},
}

func runStoreSuite(t *testing.T, newStore func(t *testing.T) Store) {
	contract.Run(t, func(t *testing.T) projections.Projection { return newStore(t) })
	ws, otherWS := uuid.NewString(), uuid.NewString()

	t.Run("create and move", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		id := uuid.NewString()
		projectiontest.Apply(t, s, l.created(t, id, ws, "Q1 Sales Report", "/Reports", "Revenue grew."))
		want := View{ID: id, WorkspaceID: ws, Title: "Q1 Sales Report", Folder: "/Reports", Body: "Revenue grew.",
			CreatedAt: projectiontest.US(t0), UpdatedAt: projectiontest.US(t0), Version: 1}
		if v, ok := mustGet(t, s, ws, id); !ok || !reflect.DeepEqual(v, want) {
			t.Fatalf("after create: %+v %v\nwant %+v", v, ok, want)
		}
		// Listings leave the body out.
		if vs, total := mustList(t, s, ws, ListFilter{}); total != 1 || !reflect.DeepEqual(vs, []View{withoutBody(want)}) {
			t.Fatalf("list = %+v, %d", vs, total)
		}

		t1 := t0.Add(time.Hour)
		projectiontest.Apply(t, s, l.moved(t, id, 2, "/Reports", "/Archive/2025", t1))
		want.Folder, want.UpdatedAt, want.Version = "/Archive/2025", projectiontest.US(t1), 2
		if v, ok := mustGet(t, s, ws, id); !ok || !reflect.DeepEqual(v, want) {
			t.Fatalf("after move: %+v %v\nwant %+v", v, ok, want)
		}
		if vs, _ := mustList(t, s, ws, ListFilter{Folder: "/Reports"}); len(vs) != 0 {
			t.Fatalf("moved document still in its old folder: %+v", vs)
		}
		if vs, total := mustList(t, s, ws, ListFilter{Folder: "/Archive/2025"}); total != 1 || !reflect.DeepEqual(vs, []View{withoutBody(want)}) {
			t.Fatalf("new folder = %+v, %d", vs, total)
		}
		if fs := mustFolders(t, s, ws); !reflect.DeepEqual(fs, []Folder{{"/", 0}, {"/Archive", 0}, {"/Archive/2025", 1}}) {
			t.Fatalf("folders after move = %+v", fs)
		}
		if cp := projectiontest.Checkpoint(t, s); cp != (es.Position{Seq: 2}) {
			t.Fatalf("checkpoint = %v, want 0:2", cp)
		}
	})

	t.Run("workspace scoping", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		mine, theirs := uuid.NewString(), uuid.NewString()
		projectiontest.Apply(t, s,
			l.created(t, mine, ws, "Mine", "/Shared", "quarterly plan"),
			l.created(t, theirs, otherWS, "Theirs", "/Shared/Secret", "quarterly plan"))
		if _, ok := mustGet(t, s, otherWS, mine); ok {
			t.Fatalf("Get crossed workspaces")
		}
		if _, ok := mustGet(t, s, ws, theirs); ok {
			t.Fatalf("Get crossed workspaces")
		}
		if v, ok := mustGet(t, s, otherWS, theirs); !ok || v.Title != "Theirs" {
			t.Fatalf("Get in own workspace: %+v %v", v, ok)
		}
		if vs, total := mustList(t, s, ws, ListFilter{Folder: "/Shared", Recursive: true}); total != 1 || !reflect.DeepEqual(titles(vs), []string{"Mine"}) {
			t.Fatalf("list crossed workspaces: %v, %d", titles(vs), total)
		}
		if fs := mustFolders(t, s, ws); !reflect.DeepEqual(fs, []Folder{{"/", 0}, {"/Shared", 1}}) {
			t.Fatalf("folders crossed workspaces: %+v", fs)
		}
		if hs, total := mustSearch(t, s, ws, "quarterly plan", 0); total != 1 || !reflect.DeepEqual(hitTitles(hs), []string{"Mine"}) {
			t.Fatalf("search crossed workspaces: %v, %d", hitTitles(hs), total)
		}
		for _, bad := range []string{"", "not-a-uuid", uuid.NewString()} {
			if vs, total := mustList(t, s, bad, ListFilter{}); len(vs) != 0 || total != 0 {
				t.Fatalf("list in workspace %q = %v", bad, titles(vs))
			}
			if fs := mustFolders(t, s, bad); len(fs) != 0 {
				t.Fatalf("folders in workspace %q = %v", bad, fs)
			}
			if hs, total := mustSearch(t, s, bad, "plan", 0); len(hs) != 0 || total != 0 {
				t.Fatalf("search in workspace %q = %v", bad, hitTitles(hs))
			}
			if _, ok := mustGet(t, s, bad, mine); ok {
				t.Fatalf("get in workspace %q found a document", bad)
			}
		}
		if _, ok := mustGet(t, s, ws, "not-a-uuid"); ok {
			t.Fatalf("get of a malformed id found a document")
		}
	})

	t.Run("list by folder", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		var batch []es.Recorded
		for _, d := range []struct{ title, folder string }{
			{"Root note", "/"},
			{"Overview", "/Reports"},
			{"Q1", "/Reports/2025"},
			{"Q2", "/Reports/2025"},
			{"Draft", "/Reports/2025/Drafts"},
			{"Old", "/Reports Old"},
			{"Repository", "/Repo"},
			{"Percent", "/100%/x"},
			{"Thousand", "/1000/x"},
			{"Underscore", "/a_b/c"},
			{"Lookalike", "/axb/c"},
			{"Backslash", `/back\slash/d`},
			{"Backslash lookalike", `/backslash/d`},
			{"Lower", "/reports"},
		} {
			batch = append(batch, l.created(t, uuid.NewString(), ws, d.title, d.folder, "body of "+d.title))
		}
		projectiontest.Apply(t, s, batch...)

		cases := []struct {
			name string
			f    ListFilter
			want []string
		}{
			{"folder only", ListFilter{Folder: "/Reports"}, []string{"Overview"}},
			{"folder is normalised", ListFilter{Folder: " Reports/ 2025 / "}, []string{"Q1", "Q2"}},
			{"folder is case-sensitive", ListFilter{Folder: "/reports"}, []string{"Lower"}},
			{"recursive", ListFilter{Folder: "/Reports", Recursive: true}, []string{"Overview", "Q1", "Q2", "Draft"}},
			{"recursive deeper", ListFilter{Folder: "Reports/2025", Recursive: true}, []string{"Q1", "Q2", "Draft"}},
			{"recursive stops at segment boundaries", ListFilter{Folder: "/Rep", Recursive: true}, nil},
			{"root only", ListFilter{Folder: "/"}, []string{"Root note"}},
			{"percent is literal", ListFilter{Folder: "/100%", Recursive: true}, []string{"Percent"}},
			{"underscore is literal", ListFilter{Folder: "/a_b", Recursive: true}, []string{"Underscore"}},
			{"backslash is literal", ListFilter{Folder: `/back\slash`, Recursive: true}, []string{"Backslash"}},
			{"empty folder", ListFilter{Folder: "/Nowhere", Recursive: true}, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				vs, total := mustList(t, s, ws, c.f)
				if got := titles(vs); !reflect.DeepEqual(got, append([]string{}, c.want...)) {
					t.Fatalf("list %+v = %v, want %v", c.f, got, c.want)
				}
				if total != len(c.want) {
					t.Fatalf("total = %d, want %d", total, len(c.want))
				}
				for _, v := range vs {
					if v.Body != "" {
						t.Fatalf("list returned a body: %+v", v)
					}
				}
			})
		}

		// Everything: "" and a recursive root mean the same, folder by
		// folder, a folder's subfolders right after it.
		all := []string{"Root note", "Percent", "Thousand", "Repository", "Overview", "Q1", "Q2", "Draft", "Old",
			"Underscore", "Lookalike", "Backslash", "Backslash lookalike", "Lower"}
		for _, f := range []ListFilter{{}, {Folder: "/", Recursive: true}, {Recursive: true}, {Folder: "  "}} {
			vs, total := mustList(t, s, ws, f)
			if got := titles(vs); !reflect.DeepEqual(got, all) || total != len(all) {
				t.Fatalf("list %+v = %v (%d)\nwant %v", f, got, total, all)
			}
		}

		for _, bad := range []string{"a/../b", "./x"} {
			_, _, err := s.List(context.Background(), ws, ListFilter{Folder: bad})
			var ve *document.ValidationError
			if !errors.As(err, &ve) || ve.Field != "folder" {
				t.Fatalf("folder %q: err = %v, want a folder validation error", bad, err)
			}
		}
	})

	t.Run("list order limit and total", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		var batch []es.Recorded
		for i := range 105 {
			// Created in reverse so the order must come from the query.
			batch = append(batch, l.created(t, uuid.NewString(), ws, fmt.Sprintf("Doc %03d", 104-i), "/Bulk", "x"))
		}
		twinA, twinB := "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000a"
		batch = append(batch,
			l.created(t, twinA, otherWS, "Twin", "/T", ""),
			l.created(t, twinB, otherWS, "Twin", "/T", ""),
			l.created(t, uuid.NewString(), otherWS, "alpha", "/T", ""),
			l.created(t, uuid.NewString(), otherWS, "Zulu", "/T", ""),
			l.created(t, uuid.NewString(), otherWS, "In A B", "/A B", ""),
			l.created(t, uuid.NewString(), otherWS, "In A/B", "/A/B", ""),
			l.created(t, uuid.NewString(), otherWS, "In A", "/A", ""),
			l.created(t, uuid.NewString(), otherWS, "In A-B", "/A-B", ""))
		projectiontest.Apply(t, s, batch...)

		vs, total := mustList(t, s, ws, ListFilter{})
		if total != 105 || len(vs) != 20 || vs[0].Title != "Doc 000" || vs[19].Title != "Doc 019" {
			t.Fatalf("default limit: %d results (%v..), total %d", len(vs), titles(vs[:1]), total)
		}
		vs, total = mustList(t, s, ws, ListFilter{Limit: 3, Folder: "/Bulk"})
		if total != 105 || !reflect.DeepEqual(titles(vs), []string{"Doc 000", "Doc 001", "Doc 002"}) {
			t.Fatalf("limit 3: %v, total %d", titles(vs), total)
		}
		vs, total = mustList(t, s, ws, ListFilter{Limit: 1000})
		if total != 105 || len(vs) != 100 || vs[99].Title != "Doc 099" {
			t.Fatalf("limit above max: %d results, total %d", len(vs), total)
		}
		vs, total = mustList(t, s, ws, ListFilter{Limit: -1})
		if total != 105 || len(vs) != 20 {
			t.Fatalf("negative limit: %d results, total %d", len(vs), total)
		}

		// Folders segment by segment ("/A", "/A/B" before "/A B" and
		// "/A-B"), titles byte-wise (upper case first), equal titles by id.
		vs, _ = mustList(t, s, otherWS, ListFilter{})
		want := []string{"In A", "In A/B", "In A B", "In A-B", "Twin", "Twin", "Zulu", "alpha"}
		if got := titles(vs); !reflect.DeepEqual(got, want) {
			t.Fatalf("order = %v\nwant %v", got, want)
		}
		if vs[4].ID != twinB || vs[5].ID != twinA {
			t.Fatalf("equal titles not ordered by id: %s, %s", vs[4].ID, vs[5].ID)
		}
	})

	t.Run("folders", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		moving := uuid.NewString()
		projectiontest.Apply(t, s,
			l.created(t, uuid.NewString(), ws, "Deep", "/A/B/C", ""),
			l.created(t, uuid.NewString(), ws, "Deep 2", "/A/B/C", ""),
			l.created(t, uuid.NewString(), ws, "Spaced", "/A B", ""),
			l.created(t, moving, ws, "Mover", "/Z/Y", ""),
			l.created(t, uuid.NewString(), ws, "Top", "/", ""))
		want := []Folder{{"/", 1}, {"/A", 0}, {"/A/B", 0}, {"/A/B/C", 2}, {"/A B", 1}, {"/Z", 0}, {"/Z/Y", 1}}
		if fs := mustFolders(t, s, ws); !reflect.DeepEqual(fs, want) {
			t.Fatalf("folders = %+v\nwant %+v", fs, want)
		}
		// A folder emptied by a move disappears, with its empty ancestors;
		// the target appears with its own.
		projectiontest.Apply(t, s, l.moved(t, moving, 2, "/Z/Y", "/A/B", t0))
		want = []Folder{{"/", 1}, {"/A", 0}, {"/A/B", 1}, {"/A/B/C", 2}, {"/A B", 1}}
		if fs := mustFolders(t, s, ws); !reflect.DeepEqual(fs, want) {
			t.Fatalf("folders after move = %+v\nwant %+v", fs, want)
		}
	})

	t.Run("search", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		ids := map[string]string{}
		corpus := []struct{ title, folder, body string }{
			{"Q1 Sales Report", "/Reports/Q1", "Numbers for the first quarter. Revenue grew in every region."},
			{"Board minutes", "/Meetings", "The board discussed the q1 figures at length and asked for a written report by Friday."},
			{"Annual report", "/Reports", "The yearly summary of all reports and activities."},
			{"Team offsite", "/Events", "Contact ada@example.com about the venue. E-mail her before 2025-03-01; budget is 1.5k."},
			{"Lieferanten", "/Einkauf", "Herr Müller liefert Äpfel und Birnen."},
			{"Reports archive", "/Reports/Archive", "Old reports only."},
			{"Snake case", "/Dev", "use snake_case names and state-of-the-art tools"},
		}
		var batch []es.Recorded
		for _, d := range corpus {
			id := uuid.NewString()
			ids[d.title] = id
			batch = append(batch, l.created(t, id, ws, d.title, d.folder, d.body))
		}
		// Same words elsewhere: another workspace must never show up.
		batch = append(batch, l.created(t, uuid.NewString(), otherWS, "Q1 report", "/", "q1 report q1 report"))
		projectiontest.Apply(t, s, batch...)

		cases := []struct {
			query string
			want  []string
		}{
			{"Q1 report", []string{"Q1 Sales Report", "Board minutes"}},
			{"q1 REPORT", []string{"Q1 Sales Report", "Board minutes"}},
			{"  q1   report  ", []string{"Q1 Sales Report", "Board minutes"}},
			{"q1", []string{"Q1 Sales Report", "Board minutes"}},
			{"report", []string{"Q1 Sales Report", "Board minutes", "Annual report"}},
			// No stemming: "reports" and "report" are different words.
			{"reports", []string{"Annual report", "Reports archive"}},
			// No stop words: "the" is a word like any other.
			{"the", []string{"Q1 Sales Report", "Board minutes", "Annual report", "Team offsite", "Snake case"}},
			{"quarter revenue", []string{"Q1 Sales Report"}},
			{"quarterly", nil},
			// Punctuation separates words on both sides.
			{"example", []string{"Team offsite"}},
			{"ada@example.com", []string{"Team offsite"}},
			{"e-mail", []string{"Team offsite"}},
			{"mail", []string{"Team offsite"}},
			{"03", []string{"Team offsite"}},
			{"2025-03-01", []string{"Team offsite"}},
			{"1.5k", []string{"Team offsite"}},
			{"snake", []string{"Snake case"}},
			{"art", []string{"Snake case"}},
			{"state-of-the-art", []string{"Snake case"}},
			// Letters beyond ASCII, case-folded.
			{"MÜLLER", []string{"Lieferanten"}},
			{"äpfel birnen", []string{"Lieferanten"}},
			{"apfel", nil},
			{"q1 nothing", nil},
			{"nothing here", nil},
			// Prefixes do not match.
			{"rep", nil},
			// No words, no matches.
			{"", nil},
			{"   ", nil},
			{"!!! ... %", nil},
		}
		for _, c := range cases {
			t.Run(c.query, func(t *testing.T) {
				hs, total := mustSearch(t, s, ws, c.query, 0)
				if got := hitTitles(hs); !reflect.DeepEqual(sorted(got), sorted(append([]string{}, c.want...))) {
					t.Fatalf("search %q = %v, want %v", c.query, got, c.want)
				}
				if total != len(c.want) {
					t.Fatalf("total = %d, want %d", total, len(c.want))
				}
				for i, h := range hs {
					if h.Body != "" {
						t.Fatalf("hit with a body: %+v", h)
					}
					if h.Rank <= 0 {
						t.Fatalf("hit %q has rank %v", h.Title, h.Rank)
					}
					if i > 0 && h.Rank > hs[i-1].Rank {
						t.Fatalf("hits not best first: %v after %v", h.Rank, hs[i-1].Rank)
					}
					full, ok := mustGet(t, s, ws, h.ID)
					if !ok || !reflect.DeepEqual(h.View, withoutBody(full)) {
						t.Fatalf("hit view = %+v, want %+v", h.View, withoutBody(full))
					}
				}
			})
		}

		// A title match ranks above a body-only match.
		hs, _ := mustSearch(t, s, ws, "q1 report", 0)
		if len(hs) != 2 || hs[0].ID != ids["Q1 Sales Report"] || hs[1].ID != ids["Board minutes"] || !(hs[0].Rank > hs[1].Rank) {
			t.Fatalf("ranking of title over body: %v (%v, %v)", hitTitles(hs), hs[0].Rank, hs[1].Rank)
		}
		hs, _ = mustSearch(t, s, ws, "report", 0)
		if len(hs) != 3 || hs[2].ID != ids["Board minutes"] {
			t.Fatalf("body-only match not last: %v", hitTitles(hs))
		}
		// The snippet of a body match shows the matched word.
		if !snippetHas(hs[2].Snippet, "report") {
			t.Fatalf("snippet %q lacks the query term", hs[2].Snippet)
		}
		hs, _ = mustSearch(t, s, ws, "venue", 0)
		if len(hs) != 1 || !snippetHas(hs[0].Snippet, "venue") {
			t.Fatalf("venue snippet: %+v", hs)
		}

		// Limit and total.
		hs, total := mustSearch(t, s, ws, "the", 2)
		if len(hs) != 2 || total != 5 {
			t.Fatalf("limit 2: %v, total %d", hitTitles(hs), total)
		}
		hs, total = mustSearch(t, s, ws, "the", -5)
		if len(hs) != 5 || total != 5 {
			t.Fatalf("default limit: %v, total %d", hitTitles(hs), total)
		}
	})

	t.Run("search snippets are short windows around the match", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		filler := strings.Repeat("lorem ipsum dolor sit amet consectetur adipiscing elit ", 40)
		body := filler + "\n\nThe contract with Globex renews in June.\n\n" + filler
		projectiontest.Apply(t, s,
			l.created(t, uuid.NewString(), ws, "Contracts", "/Legal", body),
			l.created(t, uuid.NewString(), ws, "Empty body", "/Legal", ""))
		for _, q := range []string{"globex", "Globex renews", "june"} {
			hs, total := mustSearch(t, s, ws, q, 0)
			if total != 1 || len(hs) != 1 {
				t.Fatalf("search %q: %v, %d", q, hitTitles(hs), total)
			}
			sn := hs[0].Snippet
			if !snippetHas(sn, queryTerms(q)[0]) {
				t.Fatalf("snippet for %q lacks the term: %q", q, sn)
			}
			if len(sn) > 300 || len(sn) < 20 {
				t.Fatalf("snippet for %q is %d bytes: %q", q, len(sn), sn)
			}
			if strings.ContainsAny(sn, "\n\t") || strings.Contains(sn, "  ") {
				t.Fatalf("snippet whitespace not collapsed: %q", sn)
			}
		}
		// A title-only match with no body has an empty snippet.
		hs, _ := mustSearch(t, s, ws, "empty", 0)
		if len(hs) != 1 || hs[0].Snippet != "" {
			t.Fatalf("empty body snippet: %+v", hs)
		}
	})

	t.Run("search order limit and total", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		var batch []es.Recorded
		for i := range 105 {
			batch = append(batch, l.created(t, uuid.NewString(), ws, fmt.Sprintf("Memo %03d", i), "/", "weekly memo"))
		}
		projectiontest.Apply(t, s, batch...)
		hs, total := mustSearch(t, s, ws, "memo", 0)
		if total != 105 || len(hs) != projections.DefaultLimit {
			t.Fatalf("default limit: %d hits, total %d", len(hs), total)
		}
		// Equal ranks fall back to the title.
		if got := hitTitles(hs[:3]); !reflect.DeepEqual(got, []string{"Memo 000", "Memo 001", "Memo 002"}) {
			t.Fatalf("ties not ordered by title: %v", got)
		}
		if hs, total = mustSearch(t, s, ws, "weekly", 500); total != 105 || len(hs) != projections.MaxLimit {
			t.Fatalf("limit above max: %d hits, total %d", len(hs), total)
		}
	})

	t.Run("by creation", func(t *testing.T) {
		s := newStore(t)
		var l eventLog
		at := func(id, ws, folder string, d time.Duration) es.Recorded {
			return l.Rec(t, document.Stream(id), 1, &document.Created{DocumentID: id, WorkspaceID: ws, Title: "T " + id[:4],
				Folder: folder, Body: "secret body", CreatedBy: "user-1", CreatedAt: t0.Add(d)})
		}
		var want []string // in (created_at, id) order
		var batch []es.Recorded
		for i, d := range []time.Duration{3, 1, 1, 1, 2, 0, 5} {
			id := uuid.NewString()
			batch = append(batch, at(id, ws, []string{"/A", "/B"}[i%2], d*time.Minute))
		}
		batch = append(batch, at(uuid.NewString(), otherWS, "/A", 0))
		projectiontest.Apply(t, s, batch...)
		page := func(q CreationQuery) []View {
			t.Helper()
			vs, err := s.ByCreation(context.Background(), ws, q)
			if err != nil {
				t.Fatal(err)
			}
			return vs
		}
		all := page(CreationQuery{Limit: 100})
		if len(all) != 7 {
			t.Fatalf("%d documents, want 7", len(all))
		}
		for i, v := range all {
			if v.Body != "" || v.WorkspaceID != ws {
				t.Fatalf("listed %+v", v)
			}
			if i > 0 && (v.CreatedAt.Before(all[i-1].CreatedAt) || v.CreatedAt.Equal(all[i-1].CreatedAt) && v.ID < all[i-1].ID) {
				t.Fatalf("out of order at %d: %+v after %+v", i, v, all[i-1])
			}
			want = append(want, v.ID)
		}
		// Paging by 3 while a document is added gives each one once.
		var got []string
		var after *Place
		for n := 0; ; n++ {
			vs := page(CreationQuery{After: after, Limit: 3})
			for _, v := range vs {
				got = append(got, v.ID)
			}
			if n == 0 {
				projectiontest.Apply(t, s, at(uuid.NewString(), ws, "/A", 4*time.Minute))
			}
			if len(vs) < 3 {
				break
			}
			last := vs[len(vs)-1]
			after = &Place{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		if len(got) != 8 || !reflect.DeepEqual(got[:3], want[:3]) {
			t.Fatalf("paged %d documents %v, want the 7 of the start (%v) and the new one", len(got), got, want)
		}
		seen := map[string]int{}
		for _, id := range got {
			seen[id]++
		}
		for _, id := range want {
			if seen[id] != 1 {
				t.Fatalf("document %s seen %d times", id, seen[id])
			}
		}
		if a := page(CreationQuery{Folder: "A/", Limit: 100}); len(a) != 5 || a[0].Folder != "/A" {
			t.Fatalf("folder /A: %d documents", len(a))
		}
		if _, err := s.ByCreation(context.Background(), ws, CreationQuery{Folder: "a/../b"}); err == nil {
			t.Fatal("an impossible folder was listed")
		}
	})
}

// snippetHas reports whether the snippet holds the word (case-insensitive,
// as a whole word).
func snippetHas(snippet, word string) bool {
	return slices.ContainsFunc(tokenize(snippet), func(t token) bool { return t.word == strings.ToLower(word) })
}

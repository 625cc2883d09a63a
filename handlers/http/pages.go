package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"time"
)

// Paging of lists: ?limit= (1–100, default 20) and ?cursor=, the
// next_cursor of the page before. A cursor is the sort key of the last row
// a page showed, sealed with the server's key (so it cannot be forged or
// altered) and bound to its list; the next page starts after that key.
// Rows keep their place (they are ordered by when they were made, then
// id), so a row added while a client pages is neither skipped nor
// repeated among those there at the start.
const (
	defaultPageLimit = 20
	maxPageLimit     = 100
)

// pageQuery is a page asked for.
type pageQuery struct {
	limit int
	after *pageKey
}

// pageKey is a row's place in its list.
type pageKey struct {
	List string    `json:"l"`
	At   time.Time `json:"t"`
	ID   string    `json:"i"`
}

func (k pageKey) before(at time.Time, id string) bool {
	return k.At.Before(at) || k.At.Equal(at) && k.ID < id
}

// parsePage reads limit and cursor for the list named list.
func (s *Server) parsePage(r *http.Request, list string) (pageQuery, *apiError) {
	q := pageQuery{limit: defaultPageLimit}
	vals := r.URL.Query()
	if v := vals.Get("limit"); vals.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageLimit {
			return q, validation("limit must be a whole number from 1 to %d, not %q.", maxPageLimit, v)
		}
		q.limit = n
	}
	if v := vals.Get("cursor"); vals.Has("cursor") {
		k, ok := s.openCursor(v)
		if !ok || k.List != list {
			return q, validation("cursor is not one this list gave (it may belong to another list, or have been changed); start again without it.")
		}
		q.after = &k
	}
	return q, nil
}

// sealCursor makes the cursor after a row.
func (s *Server) sealCursor(k pageKey) *string {
	raw, _ := json.Marshal(k)
	out := base64.RawURLEncoding.EncodeToString(raw)
	if s.d.Cursors != nil {
		sealed, err := s.d.Cursors.Seal(string(raw))
		if err != nil {
			return nil
		}
		out = base64.RawURLEncoding.EncodeToString([]byte(sealed))
	}
	return &out
}

func (s *Server) openCursor(v string) (pageKey, bool) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return pageKey{}, false
	}
	raw := string(b)
	if s.d.Cursors != nil {
		if raw, err = s.d.Cursors.Open(raw); err != nil {
			return pageKey{}, false
		}
	}
	var k pageKey
	if json.Unmarshal([]byte(raw), &k) != nil || k.ID == "" {
		return pageKey{}, false
	}
	return k, true
}

// pageOf cuts a list's page: rows ordered by (key's time, id), those after
// the cursor, at most limit; next is the cursor of the following page (nil
// at the end).
func pageOf[T any](s *Server, items []T, key func(T) (time.Time, string), q pageQuery, list string) (page []T, next *string) {
	sorted := append([]T(nil), items...)
	sort.SliceStable(sorted, func(i, j int) bool {
		ai, ii := key(sorted[i])
		aj, ij := key(sorted[j])
		return ai.Before(aj) || ai.Equal(aj) && ii < ij
	})
	start := 0
	if q.after != nil {
		start = sort.Search(len(sorted), func(i int) bool {
			at, id := key(sorted[i])
			return q.after.before(at, id)
		})
	}
	end := min(start+q.limit, len(sorted))
	page = sorted[start:end]
	if end < len(sorted) && len(page) > 0 {
		at, id := key(page[len(page)-1])
		next = s.sealCursor(pageKey{List: list, At: at, ID: id})
	}
	return page, next
}

package mail

import (
	"bytes"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"
)

// render writes p as an RFC 5322 message with CRLF line ends. The body is
// quoted-printable so that any UTF-8 text, long lines and trailing spaces
// survive servers that are not 8-bit clean; non-ASCII subjects and display
// names are RFC 2047 encoded words.
func render(p prepared, date time.Time) []byte {
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(fold(name + ": " + value))
		b.WriteString("\r\n")
	}
	header("Date", date.Format(time.RFC1123Z))
	if p.from != nil {
		header("From", p.from.String())
	}
	to := make([]string, len(p.to))
	for i, a := range p.to {
		to[i] = a.String()
	}
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", p.subject))
	header("Message-ID", p.messageID)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	// RFC 3834: written by a program, so vacation responders stay quiet.
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")

	body := strings.ReplaceAll(p.body, "\r\n", "\n")
	w := quotedprintable.NewWriter(&b) // turns each "\n" into CRLF
	_, _ = w.Write([]byte(body))       // a bytes.Buffer does not fail
	_ = w.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// maxLine is RFC 5322's recommended line length.
const maxLine = 78

// fold breaks a header line at spaces so that its lines stay within
// maxLine where the words allow: unfolding restores the original, and the
// break between two encoded words is ignored by decoders (RFC 2047), so a
// long encoded subject folds between its words. The header's name may end
// the first line, when even the first word would not fit after it.
func fold(line string) string {
	words := strings.Split(line, " ")
	var b strings.Builder
	n := 0
	for i, w := range words {
		switch {
		case i == 0:
		case n+1+len(w) > maxLine:
			b.WriteString("\r\n")
			n = 0
		}
		if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

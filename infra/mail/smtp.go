package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Default timeouts of an SMTP adapter.
const (
	DefaultDialTimeout = 10 * time.Second
	DefaultSendTimeout = 60 * time.Second
)

// SMTP sends mail through an SMTP submission server. Each Send opens its
// own connection (the agent sends mail rarely; a pooled connection would
// mostly be a stale one), upgrades it with STARTTLS when the server offers
// it, authenticates with PLAIN when the URL has credentials, and sends the
// message in one transaction: all recipients or none.
//
// The password is never part of an error or of String.
type SMTP struct {
	// DialTimeout bounds connecting, TLS handshake included for smtps.
	DialTimeout time.Duration
	// SendTimeout bounds a whole Send, connecting included.
	SendTimeout time.Duration
	// HelloName is the name given in EHLO; empty uses the host name.
	HelloName string

	host, port         string
	implicitTLS        bool
	username, password string
	from               string
	insecureSkipVerify bool
	now                func() time.Time
}

// FromURL configures an SMTP adapter from a URL:
//
//	smtp://user:pass@host:587?from=agent@example.com   STARTTLS when offered
//	smtps://user:pass@host:465?from=agent@example.com  implicit TLS
//
// The port defaults to 587 (smtp) or 465 (smtps). from is the default
// sender; without it the user name is used when it is an address.
// insecure_skip_verify=true accepts any server certificate: for tests only.
// Special characters in the user name or password must be percent-encoded
// (an '@' in the user name as %40). Errors never repeat the password.
func FromURL(raw string) (*SMTP, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error repeats the URL, password included
		}
		return nil, fmt.Errorf("mail: SMTP_URL is not a valid URL (%v)", err)
	}
	s := &SMTP{DialTimeout: DefaultDialTimeout, SendTimeout: DefaultSendTimeout, now: time.Now}
	switch u.Scheme {
	case "smtp":
		s.port = "587"
	case "smtps":
		s.port, s.implicitTLS = "465", true
	default:
		return nil, errors.New("mail: SMTP_URL must start with smtp:// or smtps://, like smtp://user:pass@mail.example.com:587?from=agent@example.com")
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("mail: SMTP_URL has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("mail: SMTP_URL has the invalid port %q", p)
		}
		s.port = p
	}
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("mail: SMTP_URL must not have a path")
	}
	if u.User != nil {
		s.username = u.User.Username()
		pass, ok := u.User.Password()
		if s.username == "" || !ok || pass == "" {
			return nil, errors.New("mail: SMTP_URL must give both a user name and a password, or neither")
		}
		s.password = pass
	}
	q := u.Query()
	for key := range q {
		if key != "from" && key != "insecure_skip_verify" {
			return nil, fmt.Errorf("mail: SMTP_URL has the unknown parameter %q (known: from, insecure_skip_verify)", key)
		}
	}
	if v := q.Get("insecure_skip_verify"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("mail: SMTP_URL: insecure_skip_verify must be true or false, not %q", v)
		}
		s.insecureSkipVerify = b
	}
	s.from = strings.TrimSpace(q.Get("from"))
	if s.from == "" && strings.Contains(s.username, "@") {
		s.from = s.username
	}
	if s.from == "" {
		return nil, errors.New("mail: SMTP_URL needs the sender, as ?from=agent@example.com")
	}
	if _, err := mail.ParseAddress(s.from); err != nil {
		return nil, fmt.Errorf("mail: SMTP_URL: from %q is not an e-mail address (%v)", s.from, err)
	}
	return s, nil
}

// Addr is the server's host:port.
func (s *SMTP) Addr() string { return net.JoinHostPort(s.host, s.port) }

// String describes the adapter for logs, without the password.
func (s *SMTP) String() string {
	u := url.URL{Scheme: "smtp", Host: s.Addr()}
	if s.implicitTLS {
		u.Scheme = "smtps"
	}
	if s.username != "" {
		u.User = url.User(s.username)
	}
	return u.String()
}

// SendError is why an SMTP send failed. Temporary is true when trying again
// later may succeed (the server is unreachable or answered 4xx); false when
// the configuration or the message must change first.
type SendError struct {
	// Addr is the server's host:port.
	Addr      string
	Temporary bool
	msg       string
	err       error
}

func (e *SendError) Error() string { return e.msg }

// Unwrap gives the cause, e.g. a *smtp.SMTPError with the server's code.
func (e *SendError) Unwrap() error { return e.err }

// Send delivers msg, or returns a *SendError (or an error wrapping
// ErrInvalidMessage for a message no server would take).
func (s *SMTP) Send(ctx context.Context, msg Message) (Receipt, error) {
	p, err := prepare(msg, s.from)
	if err != nil {
		return Receipt{}, err
	}
	data := render(p, s.clock()())

	timeout := s.SendTimeout
	if timeout <= 0 {
		timeout = DefaultSendTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel() // also closes the connection (see watch)

	c, err := s.open(ctx)
	if err != nil {
		return Receipt{}, s.fail(ctx, timeout, err)
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = timeout, timeout

	if err := s.authenticate(c); err != nil {
		return Receipt{}, s.fail(ctx, timeout, err)
	}
	if err := s.transact(c, p, data); err != nil {
		return Receipt{}, s.fail(ctx, timeout, err)
	}
	_ = c.Quit() // the server has accepted the message; QUIT is a courtesy
	return Receipt{Transport: TransportSMTP, MessageID: p.messageID, Accepted: p.accepted()}, nil
}

func (s *SMTP) clock() func() time.Time {
	if s.now == nil {
		return time.Now
	}
	return s.now
}

// stageError marks which step failed, for the message.
type stageError struct {
	stage string // connect, tls, auth, envelope, data
	msg   string // overrides the default wording when set
	err   error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

func staged(stage string, err error) error { return &stageError{stage: stage, err: err} }

// noStartTLS is go-smtp's (unexported) error for a server without
// STARTTLS; the tests cover the fallback it triggers.
const noStartTLS = "smtp: server doesn't support STARTTLS"

// open connects, secures and greets the server. For smtp:// it first tries
// STARTTLS; a server that does not offer it (a local relay, a test server)
// gets a plain connection instead, and credentials are then only sent to a
// server on this machine (see authenticate).
func (s *SMTP) open(ctx context.Context) (*smtp.Client, error) {
	conn, err := s.dial(ctx)
	if err != nil {
		return nil, staged("connect", err)
	}
	var c *smtp.Client
	if s.implicitTLS {
		c = smtp.NewClient(conn)
	} else {
		c, err = smtp.NewClientStartTLS(conn, s.tlsConfig())
		if err != nil && err.Error() == noStartTLS {
			if conn, err = s.dial(ctx); err != nil {
				return nil, staged("connect", err)
			}
			c = smtp.NewClient(conn)
		} else if err != nil {
			return nil, staged("connect", err)
		}
	}
	if err := c.Hello(s.helloName()); err != nil {
		c.Close()
		if _, isTLS := c.TLSConnectionState(); isTLS || isTLSError(err) {
			return nil, staged("tls", err)
		}
		return nil, staged("connect", err)
	}
	return c, nil
}

// dial connects within DialTimeout and ties the connection to ctx: when the
// send's context ends (timeout, cancellation, or the send returning) the
// connection is closed, which unblocks any read or write in progress.
func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	dt := s.DialTimeout
	if dt <= 0 {
		dt = DefaultDialTimeout
	}
	d := &net.Dialer{Timeout: dt}
	var conn net.Conn
	var err error
	if s.implicitTLS {
		conn, err = (&tls.Dialer{NetDialer: d, Config: s.tlsConfig()}).DialContext(ctx, "tcp", s.Addr())
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.Addr())
	}
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { _ = conn.Close() })
	return conn, nil
}

func (s *SMTP) tlsConfig() *tls.Config {
	return &tls.Config{
		ServerName:         s.host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: s.insecureSkipVerify, //nolint:gosec // opt-in, for tests
	}
}

func (s *SMTP) helloName() string {
	if s.HelloName != "" {
		return s.HelloName
	}
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

// authenticate logs in with PLAIN when the URL has credentials. PLAIN sends
// the password as is, so it is only sent over TLS or to a server on this
// machine.
func (s *SMTP) authenticate(c *smtp.Client) error {
	if s.username == "" {
		return nil
	}
	if _, isTLS := c.TLSConnectionState(); !isTLS && !isLoopback(s.host) {
		return &stageError{stage: "auth", err: errors.New("no TLS"),
			msg: "it offers no STARTTLS, and the password is not sent unencrypted; use smtps:// or a server with STARTTLS"}
	}
	if ok, _ := c.Extension("AUTH"); !ok {
		return &stageError{stage: "auth", err: errors.New("no AUTH"),
			msg: "it does not offer authentication (AUTH), but SMTP_URL has a user name and password"}
	}
	if err := c.Auth(sasl.NewPlainClient("", s.username, s.password)); err != nil {
		return staged("auth", err)
	}
	return nil
}

// transact sends the envelope and the message. A refused recipient aborts
// the transaction before DATA, so nobody gets the mail and a retry after
// fixing the address sends it once to everyone.
func (s *SMTP) transact(c *smtp.Client, p prepared, data []byte) error {
	var opts *smtp.MailOptions
	if !isASCII(p.from.Address) || slices.ContainsFunc(p.to, func(a *mail.Address) bool { return !isASCII(a.Address) }) {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(p.from.Address, opts); err != nil {
		return &stageError{stage: "envelope", err: err, msg: "it refused the sender " + strconv.Quote(p.from.Address)}
	}
	for _, a := range p.to {
		if err := c.Rcpt(a.Address, nil); err != nil {
			_ = c.Reset()
			return &stageError{stage: "envelope", err: err, msg: "it refused the recipient " + strconv.Quote(a.Address)}
		}
	}
	w, err := c.Data()
	if err != nil {
		return &stageError{stage: "data", err: err, msg: "it refused the message"}
	}
	if _, err := w.Write(data); err != nil {
		return &stageError{stage: "data", err: err, msg: "the connection failed while the message was sent"}
	}
	if err := w.Close(); err != nil {
		return &stageError{stage: "data", err: err, msg: "it refused the message"}
	}
	return nil
}

// fail turns err into a *SendError naming the server (never the password).
func (s *SMTP) fail(ctx context.Context, timeout time.Duration, err error) error {
	addr := s.Addr()
	e := &SendError{Addr: addr, err: err}
	if cerr := ctx.Err(); cerr != nil {
		e.err = cerr
		e.Temporary = true
		if errors.Is(cerr, context.DeadlineExceeded) {
			e.msg = fmt.Sprintf("mail: sending through the SMTP server at %s timed out (limit %s)", addr, timeout)
		} else {
			e.msg = fmt.Sprintf("mail: sending through the SMTP server at %s was cancelled", addr)
		}
		return e
	}
	var se *stageError
	stage, custom := "connect", ""
	if errors.As(err, &se) {
		stage, custom = se.stage, se.msg
	}
	if stage == "connect" && isTLSError(err) {
		stage = "tls" // smtps: the handshake is part of connecting
	}
	var smtpErr *smtp.SMTPError
	isSMTP := errors.As(err, &smtpErr)
	switch {
	case isSMTP:
		e.Temporary = smtpErr.Temporary()
	case custom != "":
		e.Temporary = false
	default:
		e.Temporary = !isTLSError(err) && !isNotFound(err)
	}
	detail := describe(err)
	switch stage {
	case "connect":
		e.msg = fmt.Sprintf("mail: cannot connect to the SMTP server at %s: %s", addr, detail)
	case "tls":
		e.msg = fmt.Sprintf("mail: TLS with the SMTP server at %s failed: %s", addr, detail)
	case "auth":
		switch {
		case custom != "":
			e.msg = fmt.Sprintf("mail: cannot log in to the SMTP server at %s: %s", addr, custom)
		case isSMTP && smtpErr.Code == 535:
			e.msg = fmt.Sprintf("mail: the SMTP server at %s rejected the user name or password of %q (%s); check SMTP_URL", addr, s.username, detail)
		default:
			e.msg = fmt.Sprintf("mail: cannot log in to the SMTP server at %s as %q: %s", addr, s.username, detail)
		}
	default:
		e.msg = fmt.Sprintf("mail: the SMTP server at %s did not take the message: %s (%s)", addr, custom, detail)
	}
	return e
}

// describe words an error without go-smtp's or net's prefixes.
func describe(err error) string {
	var smtpErr *smtp.SMTPError
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.As(err, &smtpErr):
		if smtpErr.Message == "" {
			return strconv.Itoa(smtpErr.Code)
		}
		return fmt.Sprintf("%d %s", smtpErr.Code, smtpErr.Message)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (is the server running?)"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve the host name %q", dnsErr.Name)
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return "the server closed the connection"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Err.Error()
	}
	return err.Error()
}

func isTLSError(err error) bool {
	var verr *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var alert tls.AlertError
	var recordErr tls.RecordHeaderError
	return errors.As(err, &verr) || errors.As(err, &unknown) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &alert) || errors.As(err, &recordErr)
}

func isNotFound(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// newSecret makes a signing secret the way the gateway does
// (commands.NewSigningSecret): whsec_ + base64 of 32 random bytes.
func newSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// testClient builds a Client whose dials are additionally refused (and the
// test failed) for anything outside loopback. It is a safety net under the
// guard: if the guard ever let 10.0.0.1 or 169.254.169.254 through, the
// test fails without a packet leaving the machine.
func testClient(t testing.TB, o Options) *Client {
	t.Helper()
	o.dialCheck = func(network, address string) error {
		host, _, err := net.SplitHostPort(address)
		if err == nil {
			if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap().IsLoopback() {
				return nil
			}
		}
		t.Errorf("test safety net: a dial to %s %s got past the guard; only loopback may be dialled in tests", network, address)
		return errors.New("test safety net: non-loopback dial refused")
	}
	c := New(o)
	t.Cleanup(c.Close)
	return c
}

// countingListener counts accepted connections, to prove the guard never
// connected to a server.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// countingServer starts an httptest server on l (or on 127.0.0.1 when l is
// nil) that answers 204 and counts accepted connections.
func countingServer(t testing.TB, l net.Listener, tls bool) (*httptest.Server, *countingListener) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	if l != nil {
		srv.Listener.Close()
		srv.Listener = l
	}
	cl := &countingListener{Listener: srv.Listener}
	srv.Listener = cl
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, cl
}

// received is one request as a receiver saw it.
type received struct {
	header http.Header
	body   []byte
}

// captureServer records every request it gets and answers status.
func captureServer(t testing.TB, status int) (*httptest.Server, <-chan received) {
	t.Helper()
	ch := make(chan received, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ch <- received{header: r.Header.Clone(), body: body}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

// fakeResolver answers DNS queries from hosts without any network: the Go
// resolver dials it over an in-memory pipe (so it speaks DNS over TCP
// framing). Unknown names are NXDOMAIN.
func fakeResolver(t testing.TB, hosts map[string][]netip.Addr) *net.Resolver {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			client, server := net.Pipe()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer server.Close()
				serveDNS(server, hosts)
			}()
			return client, nil
		},
	}
}

func serveDNS(c net.Conn, hosts map[string][]netip.Addr) {
	for {
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, q); err != nil || len(q) < 12 {
			return
		}
		// Question: labels, then type and class.
		i, labels := 12, []string{}
		for i < len(q) && q[i] != 0 {
			n := int(q[i])
			if i+1+n > len(q) {
				return
			}
			labels = append(labels, string(q[i+1:i+1+n]))
			i += 1 + n
		}
		if i+5 > len(q) {
			return
		}
		qtype := binary.BigEndian.Uint16(q[i+1:])
		question := q[12 : i+5]
		name := strings.ToLower(strings.Join(labels, "."))

		var answers [][]byte
		addrs, known := hosts[name]
		for _, a := range addrs {
			var rtype uint16
			var rdata []byte
			switch {
			case a.Is4() && qtype == 1: // A
				rtype, rdata = 1, a.AsSlice()
			case a.Is6() && qtype == 28: // AAAA
				rtype, rdata = 28, a.AsSlice()
			default:
				continue
			}
			rr := []byte{0xc0, 0x0c} // pointer to the question's name
			rr = binary.BigEndian.AppendUint16(rr, rtype)
			rr = binary.BigEndian.AppendUint16(rr, 1)  // class IN
			rr = binary.BigEndian.AppendUint32(rr, 60) // TTL
			rr = binary.BigEndian.AppendUint16(rr, uint16(len(rdata)))
			answers = append(answers, append(rr, rdata...))
		}
		flags := uint16(0x8580) // response, authoritative, RD, RA
		if !known {
			flags |= 3 // NXDOMAIN
		}
		resp := make([]byte, 0, 512)
		resp = append(resp, q[0], q[1])
		resp = binary.BigEndian.AppendUint16(resp, flags)
		resp = binary.BigEndian.AppendUint16(resp, 1)
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(answers)))
		resp = binary.BigEndian.AppendUint16(resp, 0)
		resp = binary.BigEndian.AppendUint16(resp, 0)
		resp = append(resp, question...)
		for _, a := range answers {
			resp = append(resp, a...)
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

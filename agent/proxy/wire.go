package proxy

import (
	"bytes"
	"errors"
	"strconv"
)

// The event loop's HTTP/1.1 reading and writing (loop.go): strict and
// small on purpose. A request head is taken only in its plainest form;
// anything else (another version, a body, folded or odd lines, a
// Connection header naming more than close or keep-alive) is refused, and
// the loop hands the connection to the full server, which answers it
// however that must be done. Header lines that pass go to the backend as
// they came; only hop-by-hop ones and what the client said about
// forwarding are left out.

// rawRequest is a request head as the loop forwards it.
type rawRequest struct {
	line   []byte // "GET /x HTTP/1.1", without CRLF
	method []byte
	uri    []byte
	host   []byte
	close  bool // the client asked to close after the answer
	// keep are the header lines passed on, each without CRLF.
	keep     [][]byte
	trailers bool // TE: trailers, passed on
}

// parseRequestHead reads head (through its blank line) into r, or
// reports false for a request the loop leaves to the full server.
func parseRequestHead(head []byte, r *rawRequest) bool {
	*r = rawRequest{keep: r.keep[:0]}
	line, rest, ok := cutLine(head)
	if !ok {
		return false
	}
	method, after, ok := bytes.Cut(line, []byte(" "))
	if !ok || !isToken(method) {
		return false
	}
	uri, version, ok := bytes.Cut(after, []byte(" "))
	if !ok || string(version) != "HTTP/1.1" || len(uri) == 0 || !isTarget(uri) {
		return false
	}
	r.line, r.method, r.uri = line, method, uri
	hosts := 0
	ok = eachField(rest, func(line, name, value []byte) bool {
		switch {
		case fieldIs(name, "Host"):
			hosts++
			r.host = value
		case fieldIs(name, "Content-Length"):
			if string(value) != "0" {
				return false
			}
		case fieldIs(name, "Transfer-Encoding"), fieldIs(name, "Upgrade"), fieldIs(name, "Expect"),
			fieldIs(name, "Http2-Settings"):
			return false
		case fieldIs(name, "Connection"):
			for t := range bytes.SplitSeq(value, []byte(",")) {
				switch t = bytes.TrimSpace(t); {
				case len(t) == 0 || bytes.EqualFold(t, []byte("keep-alive")):
				case bytes.EqualFold(t, []byte("close")):
					r.close = true
				default:
					return false
				}
			}
			return true
		case fieldIs(name, "Te"):
			r.trailers = r.trailers || hasToken(value, []byte("trailers"))
			return true
		case fieldIs(name, "Proxy-Connection"), fieldIs(name, "Keep-Alive"), fieldIs(name, "Proxy-Authenticate"),
			fieldIs(name, "Proxy-Authorization"), fieldIs(name, "Forwarded"), fieldIs(name, "X-Forwarded-For"),
			fieldIs(name, "X-Forwarded-Host"), fieldIs(name, "X-Forwarded-Proto"):
			return true
		}
		r.keep = append(r.keep, line)
		return true
	})
	return ok && hosts == 1 && len(r.host) > 0
}

// appendRequest appends r as its backend gets it.
func appendRequest(dst []byte, r *rawRequest, clientIP string, https bool) []byte {
	dst = append(append(dst, r.line...), "\r\n"...)
	for _, l := range r.keep {
		dst = append(append(dst, l...), "\r\n"...)
	}
	if r.trailers {
		dst = append(dst, "Te: trailers\r\n"...)
	}
	dst = append(append(append(dst, "X-Forwarded-Host: "...), r.host...), "\r\n"...)
	if clientIP != "" {
		dst = append(append(append(dst, "X-Forwarded-For: "...), clientIP...), "\r\n"...)
	}
	if https {
		dst = append(dst, "X-Forwarded-Proto: https\r\n\r\n"...)
	} else {
		dst = append(dst, "X-Forwarded-Proto: http\r\n\r\n"...)
	}
	return dst
}

// rawResponse is a response head as the loop passes it on.
type rawResponse struct {
	code int
	// length is the body's Content-Length; -1 for chunked, -2 for none
	// (to the end of the connection).
	length  int
	chunked bool
	close   bool // the backend closes the connection after it
	keep    [][]byte
	reason  []byte
	conn    [][]byte // what Connection names, left out too
}

var errBadResponse = errors.New("malformed response head")

// parseResponseHead reads head (through its blank line) into r.
func parseResponseHead(head []byte, r *rawResponse) error {
	*r = rawResponse{keep: r.keep[:0], conn: r.conn[:0], length: -2}
	line, rest, ok := cutLine(head)
	if !ok || len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return errBadResponse
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil || code < 100 {
		return errBadResponse
	}
	r.code = code
	if len(line) > 13 {
		r.reason = line[13:]
	}
	http10 := line[7] == '0'
	r.close = http10
	// Connection first: it may name fields to leave out.
	if !eachField(rest, func(_, name, value []byte) bool {
		if fieldIs(name, "Connection") {
			for t := range bytes.SplitSeq(value, []byte(",")) {
				switch t = bytes.TrimSpace(t); {
				case bytes.EqualFold(t, []byte("close")):
					r.close = true
				case bytes.EqualFold(t, []byte("keep-alive")):
					r.close = r.close && !http10
				case len(t) > 0:
					r.conn = append(r.conn, t)
				}
			}
		}
		return true
	}) {
		return errBadResponse
	}
	if !eachField(rest, func(line, name, value []byte) bool {
		switch {
		case fieldIs(name, "Content-Length"):
			n, err := strconv.ParseUint(string(value), 10, 31)
			if err != nil || (r.length >= 0 && r.length != int(n)) {
				return false
			}
			r.length = int(n)
		case fieldIs(name, "Transfer-Encoding"):
			r.chunked = true
			return true
		case fieldIs(name, "Connection"), fieldIs(name, "Proxy-Connection"), fieldIs(name, "Keep-Alive"),
			fieldIs(name, "Proxy-Authenticate"), fieldIs(name, "Te"), fieldIs(name, "Upgrade"), fieldIs(name, "Trailer"),
			listedConn(r.conn, name):
			return true
		}
		r.keep = append(r.keep, line)
		return true
	}) {
		return errBadResponse
	}
	if r.chunked {
		r.length = -1
	}
	return nil
}

// appendResponse appends r's head as the client gets it: HTTP/1.1, with
// the fields kept.
func appendResponse(dst []byte, r *rawResponse) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(r.code), 10)
	dst = append(append(append(dst, ' '), r.reason...), "\r\n"...)
	for _, l := range r.keep {
		dst = append(append(dst, l...), "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// eachField calls fn with each field line of fields (what follows the
// start line, through the blank line that ends a head), its name and its
// trimmed value. False when a line is not a field, the blank line is not
// last, or fn says so.
func eachField(fields []byte, fn func(line, name, value []byte) bool) bool {
	for {
		line, rest, ok := cutLine(fields)
		if !ok {
			return false
		}
		if len(line) == 0 {
			return len(rest) == 0
		}
		name, value, ok := splitField(line)
		if !ok || !fn(line, name, value) {
			return false
		}
		fields = rest
	}
}

// cutLine splits b at its first CRLF. A bare LF, or a NUL, is refused.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' {
		return nil, nil, false
	}
	line = b[:i-1]
	if bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, 0) >= 0 {
		return nil, nil, false
	}
	return line, b[i+1:], true
}

// splitField splits "Name: value" and trims the value; a name that is not
// a token (or is followed by space, or a folded line) is refused.
func splitField(line []byte) (name, value []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i < 1 || !isToken(line[:i]) {
		return nil, nil, false
	}
	value = bytes.Trim(line[i+1:], " \t")
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return nil, nil, false
		}
	}
	return line[:i], value, true
}

// fieldIs compares a field name, ignoring case.
func fieldIs(name []byte, want string) bool {
	if len(name) != len(want) {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		w := want[i]
		if 'A' <= w && w <= 'Z' {
			w += 'a' - 'A'
		}
		if c != w {
			return false
		}
	}
	return true
}

// listedConn reports whether a Connection header named name.
func listedConn(conn [][]byte, name []byte) bool {
	for _, t := range conn {
		if bytes.EqualFold(t, name) {
			return true
		}
	}
	return false
}

// isToken reports an RFC 9110 token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChar[c] {
			return false
		}
	}
	return true
}

// isTarget reports a request target in origin form ("/path?query") of
// visible ASCII; other forms go to the full server.
func isTarget(b []byte) bool {
	if len(b) == 0 || b[0] != '/' {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

var tokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// lookupHost finds the route of a Host header's value as normHost would
// (port and trailing dot left out, letters lowered) without allocating.
// A name in brackets (an IP literal) or longer than a DNS name finds
// nothing here; the full server looks those up.
func lookupHost(hosts map[string]*route, host []byte) *route {
	var buf [253]byte
	h := host
	if i := bytes.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	h = bytes.TrimSuffix(h, []byte("."))
	if len(h) > len(buf) || bytes.IndexByte(h, '[') >= 0 || bytes.IndexByte(h, ':') >= 0 {
		return nil
	}
	b := buf[:len(h)]
	for i, c := range h {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return hosts[string(b)]
}

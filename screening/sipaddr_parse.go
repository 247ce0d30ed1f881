package screening

import (
	"strings"
	"unicode/utf8"
)

// Limits that keep hostile header values cheap and their parts printable.
const (
	// maxSIPValues is how many comma-separated values of one header are
	// looked at.
	maxSIPValues = 8
	// maxDisplayLen bounds the display name kept, in bytes.
	maxDisplayLen = 256
	// maxPrivacyTokens bounds the tokens ParsePrivacy returns.
	maxPrivacyTokens = 16
)

// ParseSIPAddress parses a From, P-Asserted-Identity or Remote-Party-ID
// header value: `"Display" <sip:user@host;params>;params`, an unquoted
// display name, a bare `sip:user@host` or a `tel:+8131234` URI. The user is
// percent-decoded and stripped of user parameters (";npdi", ";rn=..."); the
// host loses its port. Verstat is taken from the URI's user or URI
// parameters or from the header parameters.
//
// When the header holds several comma-separated values (PAI may carry a
// sip and a tel URI), the first sip or sips value is the address; the first
// tel value's number is kept in Tel, and its verstat is used when the sip
// value has none. With only tel values, the first is the address.
//
// The display name is unescaped, made valid UTF-8, stripped of control
// characters and cut to 256 bytes. ok is false when no sip, sips or tel URI
// was found. ParseSIPAddress never panics.
func ParseSIPAddress(s string) (addr SIPAddress, ok bool) {
	var tel SIPAddress
	haveSIP, haveTel := false, false
	rest := s
	for i := 0; i < maxSIPValues && strings.TrimSpace(rest) != ""; i++ {
		var v SIPAddress
		var found bool
		v, found, rest = parseSIPValue(rest)
		if !found {
			continue
		}
		switch {
		case v.Scheme == "tel" && !haveTel:
			tel, haveTel = v, true
		case v.Scheme != "tel" && !haveSIP:
			addr, haveSIP = v, true
		}
		if haveSIP && haveTel {
			break
		}
	}
	switch {
	case haveSIP:
		if haveTel {
			addr.Tel = tel.User
			if addr.Verstat == "" {
				addr.Verstat = tel.Verstat
			}
		}
		return addr, true
	case haveTel:
		tel.Tel = tel.User
		return tel, true
	}
	return SIPAddress{}, false
}

// parseSIPValue parses the first value of s and returns what follows the
// comma that ends it.
func parseSIPValue(s string) (addr SIPAddress, ok bool, rest string) {
	s = strings.TrimLeft(s, " \t\r\n")
	var display string
	if strings.HasPrefix(s, `"`) {
		display, s = unquote(s)
		s = strings.TrimLeft(s, " \t\r\n")
	} else if lt := strings.IndexByte(s, '<'); lt >= 0 && !strings.ContainsAny(s[:lt], ",") {
		display, s = strings.TrimSpace(s[:lt]), s[lt:]
	}
	var uri, params string
	if strings.HasPrefix(s, "<") {
		end := strings.IndexByte(s, '>')
		if end < 0 {
			uri, s = s[1:], ""
		} else {
			uri, s = s[1:end], s[end+1:]
		}
		params, rest = cutValue(s)
	} else {
		// addr-spec: the URI ends at the first ';' after the host, and what
		// follows are header parameters.
		var v string
		v, rest = cutValue(s)
		uri, params = splitBareURI(strings.TrimSpace(v))
	}
	addr, ok = parseURI(uri)
	addr.Display = cleanText(display, maxDisplayLen)
	if addr.Verstat == "" {
		addr.Verstat = paramValue(params, "verstat")
	}
	return addr, ok, rest
}

// unquote reads a quoted string at the start of s, resolving backslash
// escapes, and returns it and what follows. An unterminated string runs to
// the end of s.
func unquote(s string) (text, rest string) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

// cutValue splits s at the first comma outside quotes and angle brackets.
func cutValue(s string) (value, rest string) {
	quoted, angle := false, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case '<':
			if !quoted {
				angle = true
			}
		case '>':
			if !quoted {
				angle = false
			}
		case ',':
			if !quoted && !angle {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

// splitBareURI splits an addr-spec with header parameters into the URI and
// the parameters: the URI ends at the first ';' after the '@' (user
// parameters come before it), or after the scheme when there is no '@'.
func splitBareURI(s string) (uri, params string) {
	from := strings.LastIndexByte(s, '@')
	if from < 0 {
		from = strings.IndexByte(s, ':')
	}
	if from < 0 {
		from = 0
	}
	if semi := strings.IndexByte(s[from:], ';'); semi >= 0 {
		return s[:from+semi], s[from+semi:]
	}
	return s, ""
}

// parseURI parses a sip, sips or tel URI.
func parseURI(uri string) (SIPAddress, bool) {
	uri = strings.TrimSpace(uri)
	colon := strings.IndexByte(uri, ':')
	if colon < 0 {
		return SIPAddress{}, false
	}
	scheme := strings.ToLower(uri[:colon])
	rest := uri[colon+1:]
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest = rest[:q] // URI headers
	}
	switch scheme {
	case "tel":
		number, params, _ := strings.Cut(rest, ";")
		return SIPAddress{
			Scheme:  scheme,
			User:    cleanText(percentDecode(number), maxDisplayLen),
			Verstat: paramValue(params, "verstat"),
		}, true
	case "sip", "sips":
	default:
		return SIPAddress{}, false
	}
	addr := SIPAddress{Scheme: scheme}
	hostPart := rest
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		userinfo := rest[:at]
		hostPart = rest[at+1:]
		user, userParams, _ := strings.Cut(userinfo, ";")
		user, _, _ = strings.Cut(user, ":") // password
		addr.User = cleanText(percentDecode(user), maxDisplayLen)
		addr.Verstat = paramValue(userParams, "verstat")
	}
	host, params, _ := strings.Cut(hostPart, ";")
	addr.Host = cleanText(stripPort(host), maxDisplayLen)
	if addr.Verstat == "" {
		addr.Verstat = paramValue(params, "verstat")
	}
	return addr, true
}

// stripPort removes a ":port" from a host, keeping IPv6 references whole.
func stripPort(host string) string {
	if strings.HasPrefix(host, "[") {
		if end := strings.IndexByte(host, ']'); end >= 0 {
			return host[:end+1]
		}
		return host
	}
	if c := strings.IndexByte(host, ':'); c >= 0 {
		return host[:c]
	}
	return host
}

// paramValue returns the value of the first ';'-separated parameter named
// name (case-insensitive) in params, unquoted.
func paramValue(params, name string) string {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			v = strings.Trim(strings.TrimSpace(v), `"`)
			return cleanText(v, maxDisplayLen)
		}
	}
	return ""
}

// percentDecode resolves %XX escapes; malformed escapes stay as they are.
func percentDecode(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b.WriteByte(hi<<4 | lo)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// cleanText makes s safe to log and to put in a channel variable: valid
// UTF-8, no control characters, surrounding space trimmed, at most max
// bytes (cut at a rune boundary). Clean input is returned as is.
func cleanText(s string, max int) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if !clean {
		var b strings.Builder
		for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				continue
			}
			b.WriteRune(r)
		}
		s = b.String()
	}
	s = strings.TrimSpace(s)
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// ParsePrivacy returns the tokens of a Privacy header value ("id;critical"
// gives [id critical]), lower-cased. Commas are accepted as separators
// too; at most 16 tokens are returned.
func ParsePrivacy(s string) []string {
	var tokens []string
	for s != "" && len(tokens) < maxPrivacyTokens {
		var t string
		i := strings.IndexAny(s, ";,")
		if i < 0 {
			t, s = s, ""
		} else {
			t, s = s[:i], s[i+1:]
		}
		if t = strings.ToLower(cleanText(t, maxDisplayLen)); t != "" {
			tokens = append(tokens, t)
		}
	}
	return tokens
}

// VerstatOf returns the first verstat carried by addrs, in order; pass the
// P-Asserted-Identity before the From, since the carrier's verification
// result is normally put on the asserted identity.
func VerstatOf(addrs ...SIPAddress) string {
	for _, a := range addrs {
		if a.Verstat != "" {
			return a.Verstat
		}
	}
	return ""
}

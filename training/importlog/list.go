package importlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseList parses a list of strings written either as a JSON array
// (["a", "b"]) or as a Python list literal (['a', "b"], as written by
// Python's repr or str of a list). Python string escapes (\\, \', \", \n, \r,
// \t, \xhh, \uhhhh, \Uhhhhhhhh, octal) are decoded and a trailing comma is
// allowed. Anything else, including an empty string, non-string elements and
// text after the closing bracket, is an error.
func ParseList(s string) ([]string, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return nil, errors.New("empty list field")
	}
	if t[0] != '[' {
		return nil, fmt.Errorf("list does not start with '[': %.40q", t)
	}
	if json.Valid([]byte(t)) {
		var out []string
		if err := json.Unmarshal([]byte(t), &out); err != nil {
			return nil, fmt.Errorf("json list: %w", err)
		}
		if out == nil {
			out = []string{}
		}
		return out, nil
	}
	return parsePyList(t)
}

// parsePyList parses a Python list literal of string literals.
func parsePyList(s string) ([]string, error) {
	p := pyParser{s: s}
	p.skipSpace()
	if !p.eat('[') {
		return nil, errors.New("python list: missing '['")
	}
	out := []string{}
	for {
		p.skipSpace()
		if p.eat(']') {
			break
		}
		str, err := p.str()
		if err != nil {
			return nil, err
		}
		out = append(out, str)
		p.skipSpace()
		if p.eat(',') {
			continue
		}
		p.skipSpace()
		if p.eat(']') {
			break
		}
		if p.i >= len(p.s) {
			return nil, errors.New("python list: missing ']'")
		}
		return nil, fmt.Errorf("python list: unexpected %q at offset %d", p.s[p.i], p.i)
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("python list: trailing text at offset %d", p.i)
	}
	return out, nil
}

type pyParser struct {
	s string
	i int
}

func (p *pyParser) skipSpace() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads one quoted Python string literal ('...' or "...").
func (p *pyParser) str() (string, error) {
	if p.i >= len(p.s) {
		return "", errors.New("python list: missing ']'")
	}
	q := p.s[p.i]
	if q != '\'' && q != '"' {
		return "", fmt.Errorf("python list: expected a quoted string at offset %d", p.i)
	}
	p.i++
	var b strings.Builder
	for {
		if p.i >= len(p.s) {
			return "", errors.New("python list: unterminated string")
		}
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\n':
			return "", errors.New("python list: newline inside string")
		case c == '\\':
			if err := p.escape(&b); err != nil {
				return "", err
			}
		default:
			b.WriteByte(c)
			p.i++
		}
	}
}

// escape decodes the escape sequence at p.i (which is a backslash).
func (p *pyParser) escape(b *strings.Builder) error {
	p.i++ // backslash
	if p.i >= len(p.s) {
		return errors.New("python list: unterminated escape")
	}
	c := p.s[p.i]
	p.i++
	switch c {
	case '\\', '\'', '"':
		b.WriteByte(c)
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'a':
		b.WriteByte('\a')
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'v':
		b.WriteByte('\v')
	case '\n':
		// line continuation: nothing
	case 'x', 'u', 'U':
		n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
		if p.i+n > len(p.s) {
			return fmt.Errorf("python list: short \\%c escape", c)
		}
		v, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
		if err != nil {
			return fmt.Errorf("python list: bad \\%c escape %q", c, p.s[p.i:p.i+n])
		}
		p.i += n
		if v > utf8.MaxRune || (v >= 0xD800 && v <= 0xDFFF) {
			return fmt.Errorf("python list: escape out of range: %#x", v)
		}
		b.WriteRune(rune(v))
	case '0', '1', '2', '3', '4', '5', '6', '7':
		v := int(c - '0')
		for k := 0; k < 2 && p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '7'; k++ {
			v = v*8 + int(p.s[p.i]-'0')
			p.i++
		}
		b.WriteRune(rune(v))
	default:
		// Python keeps unknown escapes verbatim.
		b.WriteByte('\\')
		b.WriteByte(c)
	}
	return nil
}

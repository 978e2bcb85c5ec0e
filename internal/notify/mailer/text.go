package mailer

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TextFromHTML derives the plain-text alternative of an HTML email: tags are
// dropped, block elements become line breaks, entities are unescaped, and a
// link keeps its URL visible ("label (url)") because a text-only reader has no
// other way to follow it. Content of script, style, head and title is dropped.
func TextFromHTML(src string) string {
	var w textWriter
	var href string // of the open <a>, "" when none
	anchorStart := -1

	for i := 0; i < len(src); {
		lt := strings.IndexByte(src[i:], '<')
		if lt < 0 {
			w.text(src[i:])
			break
		}
		w.text(src[i : i+lt])
		i += lt
		if strings.HasPrefix(src[i:], "<!--") {
			end := strings.Index(src[i+4:], "-->")
			if end < 0 {
				break // an unterminated comment hides the rest, as in a browser
			}
			i += 4 + end + 3
			continue
		}
		if i+1 >= len(src) || !startsTag(src[i+1]) {
			w.text("<") // a lone "<" is text ("a < b")
			i++
			continue
		}
		end := tagEnd(src, i+1)
		if end < 0 {
			w.text(src[i:])
			break
		}
		name, closing, attrs := parseTag(src[i+1 : end])
		i = end + 1

		switch name {
		case "script", "style", "head", "title":
			if !closing {
				i = skipRawText(src, i, name)
			}
		case "a":
			if !closing {
				href = strings.TrimSpace(html.UnescapeString(attrValue(attrs, "href")))
				anchorStart = w.len()
				continue
			}
			if anchorStart >= 0 {
				label := strings.TrimSpace(w.since(anchorStart))
				if showURL(href, label) {
					if label == "" {
						w.raw(href)
					} else {
						w.raw(" (" + href + ")")
					}
				}
			}
			href, anchorStart = "", -1
		case "br":
			w.lineBreak(1)
		case "li":
			if !closing {
				w.lineBreak(1)
				w.raw("- ")
			}
		case "tr", "ul", "ol":
			w.lineBreak(1)
		case "td", "th":
			if !closing {
				w.text(" ")
			}
		case "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "hr",
			"section", "article", "header", "footer", "pre":
			w.lineBreak(2)
		}
	}
	return w.result()
}

// showURL says whether the link target adds information to its label.
func showURL(href, label string) bool {
	if href == "" || strings.HasPrefix(href, "#") || strings.HasPrefix(strings.ToLower(href), "javascript:") {
		return false
	}
	return label != href && "mailto:"+label != href
}

func startsTag(c byte) bool {
	return c == '/' || c == '!' || c == '?' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// tagEnd returns the index of the '>' closing the tag that starts at from,
// ignoring '>' inside quoted attribute values; -1 when there is none.
func tagEnd(s string, from int) int {
	var quote byte
	for j := from; j < len(s); j++ {
		c := s[j]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return j
		}
	}
	return -1
}

// parseTag splits the inside of "<...>" into a lower-case name, whether it is
// a closing tag, and the raw attribute text.
func parseTag(inner string) (name string, closing bool, attrs string) {
	if strings.HasPrefix(inner, "/") {
		closing = true
		inner = inner[1:]
	}
	n := 0
	for n < len(inner) && (isAlnum(inner[n]) || inner[n] == '-') {
		n++
	}
	return strings.ToLower(inner[:n]), closing, inner[n:]
}

func isAlnum(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// attrValue returns the value of attribute key in attrs (quoted or bare).
func attrValue(attrs, key string) string {
	for s := attrs; s != ""; {
		s = strings.TrimLeft(s, " \t\r\n\f/")
		n := 0
		for n < len(s) && !strings.ContainsRune(" \t\r\n\f=/>", rune(s[n])) {
			n++
		}
		if n == 0 {
			return ""
		}
		name := s[:n]
		s = strings.TrimLeft(s[n:], " \t\r\n\f")
		if !strings.HasPrefix(s, "=") {
			continue // attribute without a value
		}
		s = strings.TrimLeft(s[1:], " \t\r\n\f")
		var value string
		if s != "" && (s[0] == '"' || s[0] == '\'') {
			end := strings.IndexByte(s[1:], s[0])
			if end < 0 {
				value, s = s[1:], ""
			} else {
				value, s = s[1:1+end], s[2+end:]
			}
		} else {
			end := strings.IndexAny(s, " \t\r\n\f>")
			if end < 0 {
				end = len(s)
			}
			value, s = s[:end], s[end:]
		}
		if strings.EqualFold(name, key) {
			return value
		}
	}
	return ""
}

// skipRawText returns the index after the closing tag of name at or after i
// (its content is not displayable text), or len(s) when it is unclosed. It
// compares in place: lower-casing the rest of s for each such element made
// a body of many <title></title> quadratic (about 25 s for 1 MiB), and
// lower-casing can change byte lengths ("İ" → "i̇", invalid UTF-8 → U+FFFD),
// which put the returned index off from s.
func skipRawText(s string, i int, name string) int {
	for j := i; ; {
		k := strings.Index(s[j:], "</")
		if k < 0 {
			return len(s)
		}
		j += k + 2
		if len(s)-j >= len(name) && strings.EqualFold(s[j:j+len(name)], name) {
			gt := strings.IndexByte(s[j:], '>')
			if gt < 0 {
				return len(s)
			}
			return j + gt + 1
		}
	}
}

// textWriter collapses whitespace as HTML rendering does and keeps at most
// the requested number of consecutive line breaks.
type textWriter struct {
	b []byte
}

func (w *textWriter) len() int { return len(w.b) }

func (w *textWriter) since(pos int) string { return string(w.b[pos:]) }

// text appends character data: entities unescaped, whitespace runs (NBSP
// included) folded into one space, no space at the start of a line.
func (w *textWriter) text(s string) {
	s = html.UnescapeString(s)
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		if unicode.IsSpace(r) {
			if len(w.b) == 0 || w.b[len(w.b)-1] == ' ' || w.b[len(w.b)-1] == '\n' {
				continue
			}
			w.b = append(w.b, ' ')
			continue
		}
		w.b = utf8.AppendRune(w.b, r)
	}
}

// raw appends s as is.
func (w *textWriter) raw(s string) { w.b = append(w.b, s...) }

// lineBreak ends the current line and makes sure n line breaks separate it
// from what follows (2 = a blank line between paragraphs).
func (w *textWriter) lineBreak(n int) {
	for len(w.b) > 0 && w.b[len(w.b)-1] == ' ' {
		w.b = w.b[:len(w.b)-1]
	}
	if len(w.b) == 0 {
		return
	}
	have := 0
	for have < len(w.b) && w.b[len(w.b)-1-have] == '\n' {
		have++
	}
	for ; have < n; have++ {
		w.b = append(w.b, '\n')
	}
}

func (w *textWriter) result() string {
	lines := strings.Split(string(w.b), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

package supervise

import (
	"errors"
	"strings"
)

// Split breaks a command line into words the way supervisord does (Python's
// shlex.split in POSIX mode): words are separated by blanks; single quotes
// keep everything literally; double quotes keep everything except that a
// backslash escapes '"' and '\'; outside quotes a backslash escapes any
// character. Quoted and unquoted parts next to each other form one word, and
// "" is an empty word. There is no shell: no variables, globs, comments or
// redirections.
func Split(s string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool // cur holds a word, possibly empty ("")
		quote   byte // 0, '\'' or '"'
		escaped bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			// Inside double quotes only \" and \\ are escapes; other
			// backslashes stay (shlex's escapedquotes rule).
			if quote == '"' && c != '"' && c != '\\' {
				cur.WriteByte('\\')
			}
			cur.WriteByte(c)
			escaped = false
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			switch c {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteByte(c)
			}
		case c == '\\':
			escaped, inWord = true, true
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	switch {
	case escaped:
		return nil, errors.New("no character after the final backslash")
	case quote != 0:
		return nil, errors.New("no closing quotation")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

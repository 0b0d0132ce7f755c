package supervise

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The expected words were checked against Python's shlex.split, which is what
// supervisord uses.
func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   \t\n", nil},
		{"app", []string{"app"}},
		{"  /bin/app  --port 8080 ", []string{"/bin/app", "--port", "8080"}},
		{"a\tb\nc\rd", []string{"a", "b", "c", "d"}},
		{`a\ b`, []string{"a b"}},
		{`a\\b`, []string{`a\b`}},
		{`\"a\"`, []string{`"a"`}},
		{`'a b'  c`, []string{"a b", "c"}},
		{`'a\b'`, []string{`a\b`}},
		{`'a"b'`, []string{`a"b`}},
		{`"a'b"`, []string{`a'b`}},
		{`"a\"b"`, []string{`a"b`}},
		{`"a\\b"`, []string{`a\b`}},
		{`"a\$b"`, []string{`a\$b`}}, // no escape of $ inside "" (shlex, unlike sh)
		{`"$HOME" $PATH`, []string{"$HOME", "$PATH"}},
		{`a""b`, []string{"ab"}},
		{`""`, []string{""}},
		{`a "" b`, []string{"a", "", "b"}},
		{`''`, []string{""}},
		{`pre"mid dle"'post x'`, []string{"premid dlepost x"}},
		{"x\\\ny", []string{"x\ny"}},
		{`a#b # c`, []string{"a#b", "#", "c"}},
		{`sh -c "trap '' TERM; sleep 1"`, []string{"sh", "-c", "trap '' TERM; sleep 1"}},
		{`a;b|c>d`, []string{"a;b|c>d"}},
		{"ünï cödé", []string{"ünï", "cödé"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Split(tt.in)
			if err != nil {
				t.Fatalf("Split(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Split(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestSplitErrors(t *testing.T) {
	for _, in := range []string{`'abc`, `"abc`, `abc\`, `"a\"`, `a 'b c`} {
		if got, err := Split(in); err == nil {
			t.Errorf("Split(%q) = %q, want an error", in, got)
		}
	}
}

// quote renders w so that Split reads it back as the single word w.
func quote(w string) string {
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{"a b", `"a\"b" 'c'`, `x\ y`, `''`, `"unclosed`, "a\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := Split(s)
		if err != nil {
			return
		}
		// Quoting the words and splitting again must give them back.
		q := make([]string, len(words))
		for i, w := range words {
			q[i] = quote(w)
		}
		again, err := Split(strings.Join(q, " "))
		if err != nil {
			t.Fatalf("Split of requoted %q: %v", words, err)
		}
		if diff := cmp.Diff(words, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip of %q (-first +again):\n%s", s, diff)
		}
	})
}

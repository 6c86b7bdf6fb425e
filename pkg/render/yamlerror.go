package render

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"

	yaml3 "go.yaml.in/yaml/v3"
)

// yamlSyntax matches the YAML parser's syntax errors.
var yamlSyntax = regexp.MustCompile(`yaml: line (\d+): (.+)$`)

// parserProblems are the syntax errors the YAML parser (rather than its
// scanner) reports; for these it prints the line before the token where it
// stopped (a 0-based line number).
var parserProblems = map[string]bool{
	"did not find expected <stream-start>": true, "did not find expected <document start>": true,
	"found undefined tag handle": true, "did not find expected node content": true,
	"did not find expected '-' indicator": true, "did not find expected key": true,
	"did not find expected ',' or ']'": true, "did not find expected ',' or '}'": true,
	"found duplicate %YAML directive": true, "found incompatible YAML document": true,
	"found duplicate %TAG directive": true,
}

// yamlLineError is err, about the document doc that starts at line first of
// its file, as a *LineError at the file's line the problem is on. For a
// syntax error that is where the parser stopped, or, for what its scanner
// finds (an unclosed quote, a tab, a stray colon), the line of the token it
// was reading (the quote's opening line, not the end of the file); other
// errors are about the document's first line.
func yamlLineError(doc []byte, first int, err error) error {
	var le *LineError
	if errors.As(err, &le) {
		return err
	}
	m := yamlSyntax.FindStringSubmatch(err.Error())
	if m == nil {
		return &LineError{Line: first, Err: err}
	}
	n, _ := strconv.Atoi(m[1])
	problem := m[2]
	if parserProblems[problem] {
		n++
	}
	// go.yaml.in/yaml/v3 reports the line where what the parser was reading
	// began (an unclosed quote, bracket or brace); sigs.k8s.io/yaml's v2
	// parser reports where it gave up, which may be the end of the file.
	if opened := openedAt(doc, problem); opened > 0 && opened < n {
		n = opened
		problem += " (what opens on this line is not closed)"
	}
	if last := bytes.Count(bytes.TrimRight(doc, "\n"), []byte("\n")) + 1; n > last {
		n = last
	}
	return &LineError{Line: first + n - 1, Err: errors.New(problem)}
}

// openedAt is the line go.yaml.in/yaml/v3 reports for problem in doc: for
// the scanner's problems and unclosed flow collections, where the
// unfinished token or collection began (0: no such report).
func openedAt(doc []byte, problem string) int {
	flow := problem == "did not find expected ',' or ']'" || problem == "did not find expected ',' or '}'"
	if parserProblems[problem] && !flow {
		return 0 // its line is the enclosing block's start, not the problem's
	}
	var node yaml3.Node
	m := yamlSyntax.FindStringSubmatch(errString(yaml3.Unmarshal(doc, &node)))
	if m == nil || m[2] != problem {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	if flow {
		n++ // parser errors print a 0-based line
	}
	return n
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

package secrets

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	sopsage "github.com/getsops/sops/v3/age"
	"go.yaml.in/yaml/v3"
)

// EncryptedRegex is what `secrets encrypt` encrypts: a Secret's values.
// Everything else (kind, metadata) stays readable so the hub can render,
// place and review the object. It is the convention Flux users follow.
const EncryptedRegex = "^(data|stringData)$"

// sopsVersion is the SOPS format version the stanza declares.
const sopsVersion = "3.9.0"

var encryptedRE = regexp.MustCompile(EncryptedRegex)

// Encrypt encrypts a plain YAML document for the given age recipients, as
// `sops --encrypt --age R1,R2 --encrypted-regex EncryptedRegex` would: the
// values under data and stringData are sealed, the rest stays readable,
// and the `sops` CLI decrypts (and verifies the MAC of) the result.
// Comments are dropped.
func Encrypt(plain []byte, recipients []string) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, fmt.Errorf("no recipients: the chosen clusters publish no age recipient (claim %s)", ClaimName)
	}
	root, err := singleDocument(plain)
	if err != nil {
		return nil, err
	}
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, fmt.Errorf("generating the data key: %w", err)
	}
	stanza := &yaml.Node{Kind: yaml.MappingNode}
	ageList := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range dedupe(recipients) {
		mk, err := sopsage.MasterKeyFromRecipient(r)
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", r, err)
		}
		if err := mk.Encrypt(dataKey); err != nil {
			return nil, fmt.Errorf("wrapping the data key for %s: %w", r, err)
		}
		ageList.Content = append(ageList.Content, mapping("recipient", r, "enc", mk.EncryptedKey))
	}
	mac := sha512.New()
	if err := sealNode(root, nil, false, dataKey, func(b string) { mac.Write([]byte(b)) }); err != nil {
		return nil, err
	}
	if !hasSealed(root) {
		return nil, fmt.Errorf("nothing to encrypt: the object has no non-empty value under data or stringData")
	}
	modified := time.Now().UTC().Format(time.RFC3339)
	sealedMAC, err := sealValue(fmt.Sprintf("%X", mac.Sum(nil)), "str", dataKey, modified)
	if err != nil {
		return nil, err
	}
	stanza.Content = append(stanza.Content, scalar("age"), ageList)
	stanza.Content = append(stanza.Content, mapping("lastmodified", modified, "mac", sealedMAC,
		"encrypted_regex", EncryptedRegex, "version", sopsVersion).Content...)
	root.Content = append(root.Content, scalar(StanzaKey), stanza)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(4)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return out.Bytes(), enc.Close()
}

// singleDocument parses one YAML mapping that is not encrypted yet.
func singleDocument(plain []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(plain))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if err.Error() == "EOF" {
				break
			}
			return nil, fmt.Errorf("reading the plain document: %w", err)
		}
		docs = append(docs, &n)
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("the file holds %d YAML documents: encrypt one object per file", len(docs))
	}
	root := docs[0].Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("the document is not a YAML mapping (an object)")
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == StanzaKey {
			return nil, fmt.Errorf("the file is already encrypted: decrypt it with sops first, or edit it with `sops FILE`")
		}
	}
	return root, nil
}

// sealNode walks n in document order, as SOPS does: every scalar leaf goes
// into the MAC; leaves under a key matching EncryptedRegex are sealed with
// their path as additional data.
func sealNode(n *yaml.Node, path []string, encrypt bool, key []byte, mac func(string)) error {
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			k.HeadComment, k.LineComment, k.FootComment = "", "", ""
			if err := sealNode(n.Content[i+1], append(path, k.Value), encrypt || encryptedRE.MatchString(k.Value), key, mac); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if err := sealNode(c, path, encrypt, key, mac); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		return sealScalar(n, path, encrypt, key, mac)
	case yaml.AliasNode:
		return fmt.Errorf("%s: YAML aliases are not supported; write the value out", strings.Join(path, "."))
	}
	return nil
}

func sealScalar(n *yaml.Node, path []string, encrypt bool, key []byte, mac func(string)) error {
	text, typ, err := sopsForm(n)
	if err != nil {
		return fmt.Errorf("%s: %w", strings.Join(path, "."), err)
	}
	if typ == "" { // null: SOPS neither hashes nor encrypts it
		return nil
	}
	mac(text)
	if !encrypt || text == "" {
		return nil
	}
	sealed, err := sealValue(text, typ, key, aad(path))
	if err != nil {
		return err
	}
	n.Value, n.Tag, n.Style = sealed, "!!str", 0
	return nil
}

// sopsForm is a scalar's bytes as SOPS hashes and seals them, and its type
// ("" for null).
func sopsForm(n *yaml.Node) (text, typ string, err error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return "", "", err
	}
	switch x := v.(type) {
	case nil:
		return "", "", nil
	case string:
		return x, "str", nil
	case int:
		return strconv.Itoa(x), "int", nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), "float", nil
	case bool:
		if x {
			return "True", "bool", nil
		}
		return "False", "bool", nil
	}
	return "", "", fmt.Errorf("value of type %T is not supported: quote it", v)
}

// hasSealed says whether a value under n is encrypted.
func hasSealed(n *yaml.Node) bool {
	if n.Kind == yaml.ScalarNode {
		return isSealed(n.Value)
	}
	return slices.ContainsFunc(n.Content, hasSealed)
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

func mapping(kv ...string) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, s := range kv {
		m.Content = append(m.Content, scalar(s))
	}
	return m
}

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" && !strings.Contains(strings.Join(out, "\n")+"\n", s+"\n") {
			out = append(out, s)
		}
	}
	return out
}

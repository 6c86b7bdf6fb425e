package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// SOPS' value format. The SOPS library's packages that hold it (the tree,
// its stores and cipher) import every key service SOPS has (AWS, GCP,
// Azure, Vault, Huawei Cloud clients and gRPC: +58 MB, +41% on this binary),
// so this file speaks the format itself: each value is AES-256-GCM sealed
// under the document's data key, with its key path as additional data. The
// data key is wrapped by SOPS' own age key source (github.com/getsops/sops/
// v3/age). Tests check both directions against the SOPS library and the
// sops CLI.

// valueRE matches one encrypted value.
var valueRE = regexp.MustCompile(`^ENC\[AES256_GCM,data:([^,]*),iv:([^,]+),tag:([^,]+),type:([a-z]+)\]$`)

const ivSize = 32 // as SOPS writes them

// isSealed says whether a string is an encrypted SOPS value.
func isSealed(s string) bool { return strings.HasPrefix(s, "ENC[AES256_GCM,") }

// aad is the additional data of a value at path: its keys joined by ":",
// with a trailing ":" (list indices are not part of it).
func aad(path []string) string { return strings.Join(path, ":") + ":" }

// openValue decrypts one value into the Go type its `type` names, in the
// forms an unstructured object holds (int64, float64, bool, string).
func openValue(s string, key []byte, ad string) (any, error) {
	m := valueRE.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("not a SOPS value (ENC[AES256_GCM,data:...,iv:...,tag:...,type:...])")
	}
	var parts [3][]byte
	for i := range parts {
		b, err := base64.StdEncoding.DecodeString(m[i+1])
		if err != nil {
			return nil, fmt.Errorf("value is not valid base64: %w", err)
		}
		parts[i] = b
	}
	data, iv, tag := parts[0], parts[1], parts[2]
	gcm, err := newGCM(key, len(iv))
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, iv, append(data, tag...), []byte(ad))
	if err != nil {
		return nil, fmt.Errorf("value does not open with the data key at its path (altered, or moved from another key)")
	}
	return typed(string(plain), m[4])
}

func typed(v, typ string) (any, error) {
	switch typ {
	case "str", "bytes":
		return v, nil
	case "int":
		return strconv.ParseInt(v, 10, 64)
	case "float":
		return strconv.ParseFloat(v, 64)
	case "bool":
		return strconv.ParseBool(v)
	}
	return nil, fmt.Errorf("value type %q is not supported (str, bytes, int, float, bool)", typ)
}

// sealValue encrypts one value; text is its SOPS byte form (see macBytes).
func sealValue(text, typ string, key []byte, ad string) (string, error) {
	iv := make([]byte, ivSize)
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	gcm, err := newGCM(key, ivSize)
	if err != nil {
		return "", err
	}
	out := gcm.Seal(nil, iv, []byte(text), []byte(ad))
	n := len(out) - gcm.Overhead()
	enc := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("ENC[AES256_GCM,data:%s,iv:%s,tag:%s,type:%s]", enc(out[:n]), enc(iv), enc(out[n:]), typ), nil
}

func newGCM(key []byte, nonceSize int) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	if nonceSize == 0 {
		return nil, fmt.Errorf("value has an empty iv")
	}
	return cipher.NewGCMWithNonceSize(block, nonceSize)
}

// rules say which values of a document are encrypted, from its stanza's
// suffix and regex settings, with SOPS' semantics: by default everything
// but keys ending in "_unencrypted"; a regex or suffix that selects
// encrypted keys turns the default around.
type rules struct {
	encSuffix, plainSuffix string
	encRE, plainRE         *regexp.Regexp
}

func rulesOf(stanza map[string]any) (rules, error) {
	str := func(k string) string { s, _ := stanza[k].(string); return s }
	for _, k := range []string{"encrypted_comment_regex", "unencrypted_comment_regex"} {
		if str(k) != "" {
			return rules{}, fmt.Errorf("sops %s is not supported: use encrypted_regex", k)
		}
	}
	r := rules{encSuffix: str("encrypted_suffix"), plainSuffix: str("unencrypted_suffix")}
	for k, dst := range map[string]**regexp.Regexp{"encrypted_regex": &r.encRE, "unencrypted_regex": &r.plainRE} {
		if str(k) == "" {
			continue
		}
		re, err := regexp.Compile(str(k))
		if err != nil {
			return rules{}, fmt.Errorf("sops %s: %w", k, err)
		}
		*dst = re
	}
	if r.encSuffix == "" && r.plainSuffix == "" && r.encRE == nil && r.plainRE == nil {
		r.plainSuffix = "_unencrypted"
	}
	return r, nil
}

// encrypted says whether the value at path is encrypted.
func (r rules) encrypted(path []string) bool {
	any := func(f func(string) bool) bool {
		for _, p := range path {
			if f(p) {
				return true
			}
		}
		return false
	}
	enc := true
	if r.plainSuffix != "" && any(func(p string) bool { return strings.HasSuffix(p, r.plainSuffix) }) {
		enc = false
	}
	if r.encSuffix != "" {
		enc = any(func(p string) bool { return strings.HasSuffix(p, r.encSuffix) })
	}
	if r.plainRE != nil && any(r.plainRE.MatchString) {
		enc = false
	}
	if r.encRE != nil {
		enc = any(r.encRE.MatchString)
	}
	return enc
}

// openTree decrypts, in place, the values under v (a decoded JSON document
// without its stanza) that the rules say are encrypted; such a value that
// is not (a plaintext put in its place) is an error.
func (r rules) openTree(v any, path []string, key []byte) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			out, err := r.openTree(child, append(path, k), key)
			if err != nil {
				return nil, err
			}
			x[k] = out
		}
		return x, nil
	case []any:
		for i, child := range x {
			out, err := r.openTree(child, path, key)
			if err != nil {
				return nil, err
			}
			x[i] = out
		}
		return x, nil
	case nil:
		return nil, nil
	}
	if !r.encrypted(path) {
		return v, nil
	}
	s, ok := v.(string)
	switch {
	case ok && s == "": // SOPS leaves empty values as they are
		return s, nil
	case !ok || !isSealed(s):
		return nil, fmt.Errorf("%s: the value is not encrypted although the sops stanza says it must be (replaced in Git?)", strings.Join(path, "."))
	}
	out, err := openValue(s, key, aad(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(path, "."), err)
	}
	return out, nil
}

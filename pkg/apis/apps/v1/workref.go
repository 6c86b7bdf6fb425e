package v1

import (
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// The agent names other works in conflict messages (the loser's Applied
// message, the winner's Overrides condition) and the hub reads the
// Subscriptions back out of them; the format has its one owner here.

// WorkRef names a ManifestWork in a conflict message: "ManifestWork ns/name",
// then " of Subscription ns/name" when the hub wrote it for one (its
// AnnotationHostingSubscription). Whoever writes a work sets that
// annotation, so a value that is not a Subscription's namespace/name is left
// out: it could forge further references or swell the message.
func WorkRef(namespace, name, subscription string) string {
	ref := "ManifestWork " + namespace + "/" + name
	if isObjectRef(subscription) {
		ref += " of Subscription " + subscription
	}
	return ref
}

// workRef matches what WorkRef writes; WorkRefOwners checks the names.
var workRef = regexp.MustCompile(`ManifestWork ([^\s,;]+)(?: of Subscription ([^\s,;]+))?`)

// WorkRefOwners reads the works a message names (at most limit) and says who
// owns each: the Subscription as "namespace/name", or "ManifestWork ns/name"
// for a work no Subscription wrote. A reference whose names are not
// Kubernetes names is skipped (the message comes from a managed cluster's
// agent), so each owner read is a few hundred bytes at most.
func WorkRefOwners(msg string, limit int) []string {
	var owners []string
	for _, m := range workRef.FindAllStringSubmatch(msg, -1) {
		if len(owners) == limit {
			break
		}
		switch {
		case !isObjectRef(m[1]):
		case isObjectRef(m[2]):
			owners = append(owners, m[2])
		default:
			owners = append(owners, "ManifestWork "+m[1])
		}
	}
	return owners
}

// isObjectRef says whether ref is "namespace/name" with a namespace and a
// name the API server would accept.
func isObjectRef(ref string) bool {
	ns, name, ok := strings.Cut(ref, "/")
	return ok && len(validation.IsDNS1123Label(ns)) == 0 && len(validation.IsDNS1123Subdomain(name)) == 0
}

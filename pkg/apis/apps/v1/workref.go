package v1

import "regexp"

// The agent names other works in conflict messages (the loser's Applied
// message, the winner's Overrides condition) and the hub reads the
// Subscriptions back out of them; the format has its one owner here.

// WorkRef names a ManifestWork in a conflict message: "ManifestWork ns/name",
// then " of Subscription ns/name" when the hub wrote it for one (its
// AnnotationHostingSubscription).
func WorkRef(namespace, name, subscription string) string {
	ref := "ManifestWork " + namespace + "/" + name
	if subscription != "" {
		ref += " of Subscription " + subscription
	}
	return ref
}

// workRef matches what WorkRef writes. Names are DNS names: no blanks,
// commas or semicolons.
var workRef = regexp.MustCompile(`ManifestWork ([^\s,;]+)(?: of Subscription ([^\s,;]+))?`)

// WorkRefOwners reads the works a message names (at most limit) and says who
// owns each: the Subscription as "namespace/name", or "ManifestWork ns/name"
// for a work no Subscription wrote.
func WorkRefOwners(msg string, limit int) []string {
	var owners []string
	for _, m := range workRef.FindAllStringSubmatch(msg, limit) {
		if m[2] != "" {
			owners = append(owners, m[2])
		} else {
			owners = append(owners, m[0])
		}
	}
	return owners
}

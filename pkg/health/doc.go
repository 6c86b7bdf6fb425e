// Package health judges the objects the work agent applied and puts the
// verdicts into a ManifestWork's status in OCM's shape.
//
// It has three pure parts, all without an API server:
//
//   - Of: the verdict for one live object (kstatus' Current, InProgress,
//     Failed, Terminating, plus NotFound and Unknown), with a short message.
//     Workloads that are not Current are explained from their pods, so a
//     Deployment whose image cannot be pulled reads "0/1 ready:
//     ImagePullBackOff" and counts as Failed. The pods come from a
//     PodIndex, a watch whose cache keeps only a Pod (SlimPod): about 1 KB
//     per pod. A Subscription or Channel an app of apps deploys is Current
//     once the hub observed it, whatever its own Ready says.
//   - Evaluator and Rules: OCM's manifestConfigs[].conditionRules
//     (WellKnownConditions and CEL) evaluated as OCM's work agent does, with
//     its reasons, variables, libraries and cost limits; a work's rules are
//     compiled once per generation.
//   - ManifestConditions and WorkConditions: the Progressing and Degraded
//     manifest conditions from a verdict, rule conditions with OCM's pruning,
//     and the work-level Progressing, Degraded and aggregated rule conditions
//     (Complete, which OCM's hub uses for deleteOption.ttlSecondsAfterFinished).
//     Healthy manifests carry no messages, so a status stays small.
package health

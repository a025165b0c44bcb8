{{/*
The labels of every object: the same as manifests/, so a release and a
kubectl-applied install select the same pods. No helm.sh/chart or release
labels: the chart's objects must equal manifests/leaselb.yaml at default values.
*/}}
{{- define "leaselb.labels" -}}
app.kubernetes.io/name: leaselb
app.kubernetes.io/component: {{ . }}
{{- end -}}

{{/* The image reference: repository@digest when a digest is set, else repository:tag. */}}
{{- define "leaselb.image" -}}
{{- if .Values.image.digest -}}
{{- if not (hasPrefix "sha256:" .Values.image.digest) -}}
{{- fail (printf "image.digest %q: write the digest as sha256:<64 hex digits>" .Values.image.digest) -}}
{{- end -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

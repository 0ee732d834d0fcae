{{/* The chart's name, cut to Kubernetes' 63 characters. */}}
{{- define "prometheus-adapter.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's objects are named after the release, unless the release is named after the chart. */}}
{{- define "prometheus-adapter.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "prometheus-adapter.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{- define "prometheus-adapter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "prometheus-adapter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "prometheus-adapter.labels" -}}
{{ include "prometheus-adapter.selectorLabels" . }}
app.kubernetes.io/component: metrics-adapter
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.customLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.annotations from customAnnotations, when there are any. */}}
{{- define "prometheus-adapter.annotations" -}}
{{- with .Values.customAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "prometheus-adapter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "prometheus-adapter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Which groups are served: as the community chart decides it. */}}
{{- define "prometheus-adapter.custom" -}}
{{- if or .Values.rules.default .Values.rules.custom }}true{{ end -}}
{{- end -}}
{{- define "prometheus-adapter.external" -}}
{{- if .Values.rules.external }}true{{ end -}}
{{- end -}}
{{- define "prometheus-adapter.resource" -}}
{{- if .Values.rules.resource }}true{{ end -}}
{{- end -}}

{{/* The serving certificate comes from a Secret (ours or an existing one). */}}
{{- define "prometheus-adapter.tlsSecret" -}}
{{- if .Values.tls.existingSecret -}}
{{- .Values.tls.existingSecret -}}
{{- else if .Values.tls.enable -}}
{{- include "prometheus-adapter.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* An APIService for group/version with the given priority. */}}
{{- define "prometheus-adapter.apiservice" -}}
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: {{ .version }}.{{ .group }}
  labels:
    {{- include "prometheus-adapter.labels" .root | nindent 4 }}
  {{- with include "prometheus-adapter.annotations" .root }}{{ . | nindent 2 }}{{ end }}
spec:
  service:
    name: {{ include "prometheus-adapter.fullname" .root }}
    namespace: {{ include "prometheus-adapter.namespace" .root | quote }}
    port: {{ .root.Values.service.port }}
  {{- if .root.Values.tls.enable }}
  caBundle: {{ b64enc .root.Values.tls.ca }}
  {{- end }}
  group: {{ .group }}
  version: {{ .version }}
  insecureSkipTLSVerify: {{ not .root.Values.tls.enable }}
  groupPriorityMinimum: 100
  versionPriority: {{ .priority }}
{{- end -}}

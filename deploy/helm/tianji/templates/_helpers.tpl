{{/* Release-scoped base name, at most 63 characters. */}}
{{- define "tianji.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "tianji.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "gateway"). */}}
{{- define "tianji.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Image reference: (dict "root" $ "name" "tianji-gateway"). */}}
{{- define "tianji.image" -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if .root.Values.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) .name $tag -}}
{{- else -}}
{{- printf "%s:%s" .name $tag -}}
{{- end -}}
{{- end -}}

{{- define "tianji.secretName" -}}
{{- .Values.secrets.name | default (include "tianji.fullname" .) -}}
{{- end -}}

{{/* One env entry read from the chart's Secret: (dict "root" $ "env" "NATS_URL" "key" "natsUrl"). */}}
{{- define "tianji.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "tianji.secretName" .root }}
      key: {{ index .root.Values.secrets.keys .key }}
{{- end -}}

{{/* Environment shared by the services: (dict "root" $ "db" true|false). */}}
{{- define "tianji.env" -}}
{{ include "tianji.secretEnv" (dict "root" .root "env" "TIANJI_MASTER_KEY" "key" "masterKey") }}
{{ include "tianji.secretEnv" (dict "root" .root "env" "NATS_URL" "key" "natsUrl") }}
{{ include "tianji.secretEnv" (dict "root" .root "env" "REDIS_URL" "key" "redisUrl") }}
{{- if .db }}
{{ include "tianji.secretEnv" (dict "root" .root "env" "DATABASE_URL" "key" "databaseUrl") }}
{{- end }}
- name: TIANJI_CONFIG
  value: /etc/tianji/config.yaml
- name: CONFIG_FILE_PATH
  value: /etc/tianji/config.yaml
{{- with .root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* preStop sleep: keep serving while endpoints drop the pod, then SIGTERM drains. */}}
{{- define "tianji.preStop" -}}
lifecycle:
  preStop:
    exec:
      command: ["sleep", "{{ .Values.preStopSleepSeconds }}"]
{{- end -}}

{{/* HTTP probes on the named port "http". */}}
{{- define "tianji.probes" -}}
readinessProbe:
  httpGet:
    path: {{ .Values.probes.readiness.path }}
    port: http
  periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
  failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
livenessProbe:
  httpGet:
    path: {{ .Values.probes.liveness.path }}
    port: http
  initialDelaySeconds: 5
  periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
  failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
{{- end -}}

{{/* Pod-level scheduling knobs of one component's values. */}}
{{- define "tianji.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

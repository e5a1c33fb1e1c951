{{/* Environment of each server beyond what all share: CHORUS_<FLAG> variables. */}}

{{- define "chorus.apiKeyEnv" -}}
{{- $root := .root -}}
{{- if or $root.Values.secrets.existingSecret .value }}
- name: CHORUS_OPENAI_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "chorus.secretName" $root }}
      key: {{ .key }}
      # A Secret of your own need not hold a key for every service.
      optional: true
{{- end }}
{{- end -}}

{{- define "chorus.textEnv" -}}
{{- $t := .Values.text -}}
{{- $baseURL := $t.openai.baseURL -}}
{{- $models := $t.openai.models -}}
{{- if and (not $baseURL) .Values.modelServer.enabled -}}
{{- $baseURL = include "chorus.modelServerURL" . -}}
{{- $models = list .Values.modelServer.servedModelName -}}
{{- end -}}
- name: CHORUS_MODELS_DIR
  value: {{ $t.models.dir | quote }}
- name: CHORUS_THREADS
  value: {{ $t.embedded.threads | quote }}
- name: CHORUS_SESSIONS
  value: {{ $t.embedded.sessions | quote }}
{{- with $baseURL }}
- name: CHORUS_OPENAI_BASE_URL
  value: {{ . | quote }}
{{- end }}
{{- with $models }}
- name: CHORUS_OPENAI_MODELS
  value: {{ join "," . | quote }}
{{- end }}
{{- with $t.openai.timeout }}
- name: CHORUS_TIMEOUT
  value: {{ . | quote }}
{{- end }}
{{- include "chorus.apiKeyEnv" (dict "root" . "value" .Values.secrets.textOpenAIAPIKey "key" .Values.secrets.keys.textOpenAIAPIKey) }}
{{- end -}}

{{- define "chorus.imageEnv" -}}
{{- $o := .Values.image.openai -}}
{{- if and $o.baseURL (not $o.models) -}}
{{- fail "image.openai.models is required with image.openai.baseURL (the image service lists no models by itself)" -}}
{{- end -}}
{{- with $o.baseURL }}
- name: CHORUS_OPENAI_BASE_URL
  value: {{ . | quote }}
{{- end }}
{{- with $o.models }}
- name: CHORUS_OPENAI_MODELS
  value: {{ join "," . | quote }}
{{- end }}
{{- with $o.responseFormat }}
- name: CHORUS_OPENAI_RESPONSE_FORMAT
  value: {{ . | quote }}
{{- end }}
{{- with $o.timeout }}
- name: CHORUS_TIMEOUT
  value: {{ . | quote }}
{{- end }}
{{- include "chorus.apiKeyEnv" (dict "root" . "value" .Values.secrets.imageOpenAIAPIKey "key" .Values.secrets.keys.imageOpenAIAPIKey) }}
{{- end -}}

{{- define "chorus.upstreamEnv" -}}
- name: CHORUS_TEXT_ADDR
  value: {{ include "chorus.grpcTarget" (dict "root" . "component" "text") | quote }}
- name: CHORUS_IMAGE_ADDR
  value: {{ include "chorus.grpcTarget" (dict "root" . "component" "image") | quote }}
- name: CHORUS_AUDIO_ADDR
  value: {{ include "chorus.grpcTarget" (dict "root" . "component" "audio") | quote }}
- name: CHORUS_EMBED_ADDR
  value: {{ include "chorus.grpcTarget" (dict "root" . "component" "embed") | quote }}
{{- end -}}

{{- define "chorus.orchestratorEnv" -}}
{{- include "chorus.upstreamEnv" . }}
{{- if or .Values.orchestrator.pipelines .Values.orchestrator.existingPipelinesConfigMap }}
- name: CHORUS_PIPELINES_DIR
  value: /etc/chorus/pipelines
{{- end }}
{{- if .Values.postgres.enabled }}
{{- $p := .Values.postgres -}}
{{- if not (or $p.dsn $p.existingSecret .Values.secrets.existingSecret) -}}
{{- fail "postgres.enabled needs postgres.dsn, postgres.existingSecret or secrets.existingSecret" -}}
{{- end }}
# For the job store (issue 10); the orchestrator ignores it until then.
- name: {{ $p.envName }}
  valueFrom:
    secretKeyRef:
      {{- if $p.existingSecret }}
      name: {{ $p.existingSecret }}
      key: {{ $p.existingSecretKey }}
      {{- else }}
      name: {{ include "chorus.secretName" . }}
      key: {{ .Values.secrets.keys.postgresDSN }}
      {{- end }}
{{- end }}
{{- end -}}

{{- define "chorus.gatewayEnv" -}}
{{- include "chorus.upstreamEnv" . }}
- name: CHORUS_ORCHESTRATOR_ADDR
  value: {{ include "chorus.grpcTarget" (dict "root" . "component" "orchestrator") | quote }}
{{- end -}}

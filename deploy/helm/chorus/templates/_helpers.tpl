{{/* The six Chorus servers, in the order their objects are written. */}}
{{- define "chorus.componentNames" -}}
[text, image, audio, embed, orchestrator, gateway]
{{- end -}}

{{- define "chorus.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: RELEASE when it already holds the chart's name. */}}
{{- define "chorus.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "chorus.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "chorus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chorus
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "text"). */}}
{{- define "chorus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chorus.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "chorus.componentLabels" -}}
{{ include "chorus.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "chorus.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "chorus.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "chorus.secretName" -}}
{{- default (printf "%s-secrets" (include "chorus.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* Whether the chart writes its own Secret: values given and no existing Secret named. */}}
{{- define "chorus.createSecret" -}}
{{- if and (not .Values.secrets.existingSecret) (or .Values.secrets.textOpenAIAPIKey .Values.secrets.imageOpenAIAPIKey (and .Values.postgres.enabled .Values.postgres.dsn (not .Values.postgres.existingSecret))) -}}
true
{{- end -}}
{{- end -}}

{{/*
The gRPC target the orchestrator and gateway dial for a component: the
headless Service through gRPC's DNS resolver, so the client's round_robin
policy sees every ready pod. Call with (dict "root" $ "component" "text").
*/}}
{{- define "chorus.grpcTarget" -}}
{{- $c := index .root.Values .component -}}
{{- printf "dns:///%s-%s-headless.%s.svc:%v" (include "chorus.fullname" .root) .component .root.Release.Namespace $c.port -}}
{{- end -}}

{{- define "chorus.image" -}}
{{- $c := index .root.Values .component -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.images.tag -}}
{{- if .root.Values.images.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.images.registry) $c.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" $c.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The model server's base URL, as the text service's openai backend wants it. */}}
{{- define "chorus.modelServerURL" -}}
{{- printf "http://%s-model-server.%s.svc:%v/v1" (include "chorus.fullname" .) .Release.Namespace .Values.modelServer.port -}}
{{- end -}}

{{- define "chorus.pipelinesConfigMap" -}}
{{- default (printf "%s-pipelines" (include "chorus.fullname" .)) .Values.orchestrator.existingPipelinesConfigMap -}}
{{- end -}}

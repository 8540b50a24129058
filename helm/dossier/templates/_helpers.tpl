{{/*
Names and labels.
*/}}
{{- define "dossier.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dossier.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>", within 63 characters. Takes (list $ "component"). */}}
{{- define "dossier.componentName" -}}
{{- $ctx := index . 0 -}}
{{- $component := index . 1 -}}
{{- printf "%s-%s" (include "dossier.fullname" $ctx | trunc 48 | trimSuffix "-") $component -}}
{{- end -}}

{{- define "dossier.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dossier.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dossier.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dossier.labels" -}}
helm.sh/chart: {{ include "dossier.chart" . }}
{{ include "dossier.selectorLabels" . }}
app.kubernetes.io/version: {{ include "dossier.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dossier
{{- end -}}

{{/* Takes (list $ "component"). */}}
{{- define "dossier.componentSelectorLabels" -}}
{{- $ctx := index . 0 -}}
{{ include "dossier.selectorLabels" $ctx }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Takes (list $ "component"). */}}
{{- define "dossier.componentLabels" -}}
{{- $ctx := index . 0 -}}
{{ include "dossier.labels" $ctx }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "dossier.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "dossier.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "dossier.secretName" -}}
{{- default (printf "%s-secrets" (include "dossier.fullname" .)) .Values.existingSecret.name -}}
{{- end -}}

{{- define "dossier.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "dossier.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "dossier.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{/*
Settings.

A value of `config` as the string the server reads: strings as they are, numbers without
exponents (values files load numbers as floats, which would print 1048576 as 1.048576e+06),
booleans as true/false.
*/}}
{{- define "dossier.settingValue" -}}
{{- if kindIs "string" . -}}
{{- . -}}
{{- else if or (kindIs "float64" .) (kindIs "int" .) (kindIs "int64" .) (kindIs "bool" .) -}}
{{- toJson . -}}
{{- else -}}
{{- fail (printf "a value of config must be a string, a number or a boolean, not %s" (kindOf .)) -}}
{{- end -}}
{{- end -}}

{{/* The names the chart reads from existingSecret: never from the ConfigMap. */}}
{{- define "dossier.secretSettings" -}}
DOSSIER_DATABASE_URL DOSSIER_REDIS_URL DOSSIER_SMTP_URL DOSSIER_MASTER_KEYS DOSSIER_JWT_SECRET DOSSIER_PLATFORM_KEY
{{- end -}}

{{/*
"true" for a secret's name: the six secret settings, and any name that reads like a secret
(…SECRET…, …PASSWORD…, …_TOKEN, …_KEY, …_KEYS), so that a setting added later is not put into a
ConfigMap either. Takes the name.
*/}}
{{- define "dossier.isSecretName" -}}
{{- if or (has . (splitList " " (include "dossier.secretSettings" .))) (regexMatch "(SECRET|PASSWORD|_TOKEN$|_KEY$|_KEYS$)" .) -}}
true
{{- end -}}
{{- end -}}

{{/* Refuses a secret in `config`. Takes the key. */}}
{{- define "dossier.rejectSecretSetting" -}}
{{- if include "dossier.isSecretName" . -}}
{{- fail (printf "config.%s: %s is a secret and is never put into the ConfigMap; put it into the Secret existingSecret names (key: existingSecret.keys) instead" . .) -}}
{{- end -}}
{{- end -}}

{{/*
Settings the chart sets itself, with the value to use instead; `config` may not hold them.
*/}}
{{- define "dossier.chartSettings" -}}
DOSSIER_LISTEN_ADDR: "fixed to 0.0.0.0:<ports.http> (the http port the probes, Service and Ingress use)"
DOSSIER_METRICS_LISTEN_ADDR: "fixed to 0.0.0.0:<ports.metrics> (the metrics port)"
DOSSIER_MIGRATE_ON_START: "always false: the migration Job (migrations.enabled) migrates before the pods roll"
DOSSIER_SHUTDOWN_TIMEOUT_SECONDS: "set api.shutdownTimeoutSeconds and worker.shutdownTimeoutSeconds (they size terminationGracePeriodSeconds)"
DOSSIER_REMINDER_PLAN_INTERVAL_SECONDS: "set worker.reminderPlanIntervalSeconds (the API replicas always run with 0)"
DOSSIER_REMINDER_SEND_INTERVAL_SECONDS: "set worker.reminderSendIntervalSeconds (the API replicas always run with 0)"
DOSSIER_REENCRYPT_INTERVAL_SECONDS: "set worker.reencryptIntervalSeconds (the API replicas always run with 0)"
DOSSIER_CONFIG_FILE: "not used: every setting is an environment variable"
DOSSIER_DATA_DIR: "not used: the data directory holds only the embedded SQLite database and its generated secrets"
{{- end -}}

{{/*
`config` checked, as a dict of strings. Fails on a key that is not a DOSSIER_ name, on a
secret, on a setting the chart sets itself and on a reminder lease that one SMTP exchange could
outlast (the server refuses that at start; better the render).
*/}}
{{- define "dossier.config" -}}
{{- $chartSettings := include "dossier.chartSettings" . | fromYaml -}}
{{- $out := dict -}}
{{- range $key, $value := .Values.config -}}
{{- if not (regexMatch "^DOSSIER_[A-Z0-9_]+$" $key) -}}
{{- fail (printf "config.%s: keys of config are DOSSIER_* setting names (upper case)" $key) -}}
{{- end -}}
{{- include "dossier.rejectSecretSetting" $key -}}
{{- if hasKey $chartSettings $key -}}
{{- fail (printf "config.%s: the chart sets this itself: %s" $key (get $chartSettings $key)) -}}
{{- end -}}
{{- $_ := set $out $key (include "dossier.settingValue" $value) -}}
{{- end -}}
{{- $lease := get $out "DOSSIER_REMINDER_LEASE_SECONDS" | default "300" -}}
{{- $smtpTimeout := get $out "DOSSIER_SMTP_TIMEOUT_SECONDS" | default "10" -}}
{{- if and (regexMatch "^[0-9]+$" $lease) (regexMatch "^[0-9]+$" $smtpTimeout) -}}
{{- if le (int $lease) (mul 3 (int $smtpTimeout)) -}}
{{- fail (printf "config: DOSSIER_REMINDER_LEASE_SECONDS (%s) must exceed 3 × DOSSIER_SMTP_TIMEOUT_SECONDS (%s), or a reminder could be sent twice" $lease $smtpTimeout) -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
Env entries of the secret settings. Takes (dict "ctx" $ "databaseUrlKey" "…" "all" true|false):
`all` false gives only what `dossier migrate` needs (database, master keys, JWT secret).
*/}}
{{- define "dossier.secretEnv" -}}
{{- $ctx := .ctx -}}
{{- $secret := include "dossier.secretName" $ctx -}}
{{- $keys := $ctx.Values.existingSecret.keys -}}
{{- $entries := list (list "DOSSIER_DATABASE_URL" (required "existingSecret.keys.databaseUrl is required" (default $keys.databaseUrl (get . "databaseUrlKey")))) -}}
{{- $entries = append $entries (list "DOSSIER_MASTER_KEYS" (required "existingSecret.keys.masterKeys is required" $keys.masterKeys)) -}}
{{- $entries = append $entries (list "DOSSIER_JWT_SECRET" (required "existingSecret.keys.jwtSecret is required" $keys.jwtSecret)) -}}
{{- if .all -}}
{{- if $keys.redisUrl -}}{{- $entries = append $entries (list "DOSSIER_REDIS_URL" $keys.redisUrl) -}}{{- end -}}
{{- if $keys.smtpUrl -}}{{- $entries = append $entries (list "DOSSIER_SMTP_URL" $keys.smtpUrl) -}}{{- end -}}
{{- if $keys.platformKey -}}{{- $entries = append $entries (list "DOSSIER_PLATFORM_KEY" $keys.platformKey) -}}{{- end -}}
{{- end -}}
{{- $env := list -}}
{{- range $entries -}}
{{- $env = append $env (dict "name" (index . 0) "valueFrom" (dict "secretKeyRef" (dict "name" $secret "key" (index . 1)))) -}}
{{- end -}}
{{- toYaml $env -}}
{{- end -}}

{{/*
extraEnv, checked: no name the chart sets already (a duplicate would silently win or lose),
and no secret setting as a plain `value`. Takes (dict "extra" list "taken" list "where" "api").
*/}}
{{- define "dossier.extraEnv" -}}
{{- $where := .where -}}
{{- $taken := .taken -}}
{{- range .extra -}}
{{- if not (kindIs "map" .) -}}
{{- fail (printf "%s.extraEnv: each entry is an EnvVar object (name, value or valueFrom)" $where) -}}
{{- end -}}
{{- $name := required (printf "%s.extraEnv: an entry without a name" $where) (get . "name") -}}
{{- if has $name $taken -}}
{{- fail (printf "%s.extraEnv: %s is set by the chart already" $where $name) -}}
{{- end -}}
{{- if and (hasKey . "value") (include "dossier.isSecretName" $name) -}}
{{- fail (printf "%s.extraEnv: %s is a secret; give it with valueFrom.secretKeyRef, not value" $where $name) -}}
{{- end -}}
{{- end -}}
{{- with .extra -}}
{{- toYaml . -}}
{{- end -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds: the given one (which must exceed the time a stop may take), or
the time a stop may take plus 15 s for the process to flush its audit rows and exit.
Takes (list given preStopSeconds shutdownSeconds "where").
*/}}
{{- define "dossier.gracePeriod" -}}
{{- $given := int (index . 0) -}}
{{- $preStop := int (index . 1) -}}
{{- $shutdown := int (index . 2) -}}
{{- $needed := add $preStop $shutdown -}}
{{- if eq $given 0 -}}
{{- add $needed 15 -}}
{{- else if le $given $needed -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + shutdownTimeoutSeconds (%d + %d = %d), or the kubelet kills pods before they have finished" (index . 3) $given $preStop $shutdown $needed) -}}
{{- else -}}
{{- $given -}}
{{- end -}}
{{- end -}}

{{/*
Pod scheduling as YAML (empty when there is none): topology spread by zone and by host, node
selector, tolerations, affinity, priority. Takes (list $ "component" .Values.<component>).
*/}}
{{- define "dossier.scheduling" -}}
{{- $ctx := index . 0 -}}
{{- $component := index . 1 -}}
{{- $v := index . 2 -}}
{{- $out := dict -}}
{{- if and (hasKey $v "topologySpread") $v.topologySpread.enabled -}}
{{- $selector := include "dossier.componentSelectorLabels" (list $ctx $component) | fromYaml -}}
{{- $constraints := list -}}
{{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" -}}
{{- $constraints = append $constraints (dict "topologyKey" . "maxSkew" (int $v.topologySpread.maxSkew) "whenUnsatisfiable" $v.topologySpread.whenUnsatisfiable "labelSelector" (dict "matchLabels" $selector) "matchLabelKeys" (list "pod-template-hash")) -}}
{{- end -}}
{{- $_ := set $out "topologySpreadConstraints" $constraints -}}
{{- end -}}
{{- with $v.nodeSelector -}}{{- $_ := set $out "nodeSelector" . -}}{{- end -}}
{{- with $v.tolerations -}}{{- $_ := set $out "tolerations" . -}}{{- end -}}
{{- with $v.affinity -}}{{- $_ := set $out "affinity" . -}}{{- end -}}
{{- with $v.priorityClassName -}}{{- $_ := set $out "priorityClassName" . -}}{{- end -}}
{{- with $out -}}
{{- toYaml . -}}
{{- end -}}
{{- end -}}

{{/* Pod-level settings every Dossier pod shares. */}}
{{- define "dossier.podCommon" -}}
automountServiceAccountToken: false
# Service links would add <SERVICE>_PORT… variables that Dossier takes for misspelt settings.
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
volumes:
  - name: tmp
    emptyDir:
      {{- if .Values.tmpVolume.sizeLimit }}
      sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
      {{- else }} {}
      {{- end }}
{{- end -}}

{{/* Container-level settings every Dossier container shares. */}}
{{- define "dossier.containerCommon" -}}
image: {{ include "dossier.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{/*
An IntOrString as YAML: a whole number (or its digits as a string) as an integer, anything
else (a percentage) as a string.
*/}}
{{- define "dossier.intOrString" -}}
{{- if and (kindIs "string" .) (not (regexMatch "^[0-9]+$" .)) -}}
{{- . | quote -}}
{{- else -}}
{{- int . -}}
{{- end -}}
{{- end -}}

{{/*
A PodDisruptionBudget spec: minAvailable when given, else maxUnavailable.
Takes (list $ "component" .Values.<component>.podDisruptionBudget).
*/}}
{{- define "dossier.pdbSpec" -}}
{{- $pdb := index . 2 -}}
{{- if ne (toString $pdb.minAvailable) "" -}}
minAvailable: {{ include "dossier.intOrString" $pdb.minAvailable }}
{{- else -}}
maxUnavailable: {{ include "dossier.intOrString" $pdb.maxUnavailable }}
{{- end }}
selector:
  matchLabels:
    {{- include "dossier.componentSelectorLabels" (list (index . 0) (index . 1)) | nindent 4 }}
{{- end -}}

{{/*
A NetworkPolicy peer list for a destination or source: its CIDRs as ipBlocks and its selectors
as one peer. Takes (list "where" .Values.networkPolicy.<x>); fails when it names nothing, since
a rule without peers would allow every address.
*/}}
{{- define "dossier.peers" -}}
{{- $where := index . 0 -}}
{{- $p := index . 1 -}}
{{- $peers := list -}}
{{- if hasKey $p "cidrs" -}}
{{- range $p.cidrs -}}
{{- $peers = append $peers (dict "ipBlock" (dict "cidr" .)) -}}
{{- end -}}
{{- end -}}
{{- $selectors := dict -}}
{{- with $p.namespaceSelector -}}{{- $_ := set $selectors "namespaceSelector" . -}}{{- end -}}
{{- with $p.podSelector -}}{{- $_ := set $selectors "podSelector" . -}}{{- end -}}
{{- if $selectors -}}{{- $peers = append $peers $selectors -}}{{- end -}}
{{- if not $peers -}}
{{- fail (printf "networkPolicy.%s: give cidrs, a namespaceSelector or a podSelector (a rule without peers would allow every address)" $where) -}}
{{- end -}}
{{- toYaml $peers -}}
{{- end -}}

{{/* NetworkPolicy ports as YAML: (list (list protocols…) ports). */}}
{{- define "dossier.policyPorts" -}}
{{- $ports := list -}}
{{- $numbers := index . 1 -}}
{{- range $protocol := index . 0 -}}
{{- range $numbers -}}
{{- $ports = append $ports (dict "protocol" $protocol "port" (int .)) -}}
{{- end -}}
{{- end -}}
{{- toYaml $ports -}}
{{- end -}}

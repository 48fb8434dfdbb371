{{/* The chart name, for the app.kubernetes.io/name label. */}}
{{- define "pullguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object name. 40 characters at most: the longest suffix is
"-metrics-reader", and names must stay within 63.
*/}}
{{- define "pullguard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Deployment, Service, ServiceAccount, ClusterRole, PDB and NetworkPolicy. */}}
{{- define "pullguard.webhookName" -}}
{{- include "pullguard.fullname" . }}-webhook
{{- end -}}

{{- define "pullguard.servingSecret" -}}
{{- default (printf "%s-webhook-tls" (include "pullguard.fullname" .)) .Values.certificates.secretName -}}
{{- end -}}

{{- define "pullguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pullguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end -}}

{{/*
Labels of every object. helm.sh/chart, app.kubernetes.io/version and
app.kubernetes.io/managed-by are left out of manifests/ when it is rendered from the chart.
*/}}
{{- define "pullguard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "pullguard.selectorLabels" . }}
app.kubernetes.io/part-of: pullguard
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
metadata.annotations of every object, with extra annotations passed as a dict; included right
after the labels, it renders nothing when there are none.
*/}}
{{- define "pullguard.annotations" -}}
{{- $all := merge (dict) (.extra | default dict) (.root.Values.commonAnnotations | default dict) -}}
{{- with $all }}
  annotations:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end -}}

{{- define "pullguard.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The certificate mode in effect: auto becomes cert-manager when the cluster serves
cert-manager.io/v1 (helm template: pass --api-versions cert-manager.io/v1), else provided when
a caBundle is given, else self-managed: every install without a choice gets a certificate.
*/}}
{{- define "pullguard.certMode" -}}
{{- $mode := .Values.certificates.mode -}}
{{- if eq $mode "auto" -}}
{{- if .Capabilities.APIVersions.Has "cert-manager.io/v1" }}cert-manager{{ else if .Values.certificates.caBundle }}provided{{ else }}self-managed{{ end -}}
{{- else -}}
{{- $mode -}}
{{- end -}}
{{- end -}}

{{/*
The serving certificate's DNS names, comma-separated: the names the API server dials for
clientConfig.service, <service>.<namespace>.svc first.
*/}}
{{- define "pullguard.dnsNames" -}}
{{- $svc := printf "%s.%s.svc" (include "pullguard.webhookName" .) .Release.Namespace -}}
{{- printf "%s,%s.%s" $svc $svc .Values.certificates.clusterDomain -}}
{{- end -}}

{{/* caBundle for clientConfig in provided mode: base64 of the PEM, whichever was given. */}}
{{- define "pullguard.caBundle" -}}
{{- $ca := .Values.certificates.caBundle | trim -}}
{{- if contains "-----BEGIN" $ca -}}
{{- printf "%s\n" $ca | b64enc -}}
{{- else -}}
{{- $ca | nospace -}}
{{- end -}}
{{- end -}}

{{/*
The GOMEMLIMIT value: goMemLimit, else 25/32 of the memory limit in MiB (256Mi gives 200MiB),
else none. Quantities are parsed here because Helm has no quantity function.
*/}}
{{- define "pullguard.goMemLimit" -}}
{{- if .Values.goMemLimit -}}
{{- .Values.goMemLimit -}}
{{- else -}}
{{- $limit := dig "limits" "memory" "" (.Values.resources | default dict) | toString -}}
{{- if $limit -}}
{{- $m := regexFindAll "^([0-9]+(?:\\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$" $limit 1 -}}
{{- if not $m -}}
{{- fail (printf "resources.limits.memory %q: GOMEMLIMIT cannot be derived from it; set goMemLimit (e.g. 200MiB)" $limit) -}}
{{- end -}}
{{- $num := regexReplaceAll "[A-Za-z]+$" $limit "" | float64 -}}
{{- $unit := regexReplaceAll "^[0-9.]+" $limit "" -}}
{{- $mult := get (dict "" 1.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0) $unit -}}
{{- $mib := divf (mulf $num $mult 25) (mulf 32 1048576) | floor | int64 -}}
{{- if lt $mib 1 -}}
{{- fail (printf "resources.limits.memory %q is too small for the webhook" $limit) -}}
{{- end -}}
{{- printf "%dMiB" $mib -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The webhook's --config file (config.pullguard.io/v1alpha1 WebhookConfiguration), as YAML, or
nothing when no value sets a field: then the webhook runs on its defaults and no file is mounted.
*/}}
{{- define "pullguard.configFile" -}}
{{- $reg := dict -}}
{{- $r := .Values.registry -}}
{{- with $r.allowPrivateRegistries }}{{ $_ := set $reg "allowPrivateRegistries" . }}{{ end -}}
{{- with $r.insecureRegistries }}{{ $_ := set $reg "insecureRegistries" . }}{{ end -}}
{{- if $r.caBundle }}{{ $_ := set $reg "caFile" "/etc/pullguard/registry-ca.crt" }}{{ end -}}
{{- if not (kindIs "invalid" $r.nodeCredentialRegistries) }}{{ $_ := set $reg "nodeCredentialRegistries" $r.nodeCredentialRegistries }}{{ end -}}
{{- with $r.mirrors }}{{ $_ := set $reg "mirrors" . }}{{ end -}}
{{- with $r.proxy }}{{ $_ := set $reg "proxy" . }}{{ end -}}
{{- $cloud := dict -}}
{{- with $r.cloud -}}
{{- if and .ecr .ecr.enabled }}{{ $ecr := dict "enabled" true }}{{ with .ecr.regions }}{{ $_ := set $ecr "regions" . }}{{ end }}{{ $_ := set $cloud "ecr" $ecr }}{{ end -}}
{{- if and .gcp .gcp.enabled }}{{ $_ := set $cloud "gcp" (dict "enabled" true) }}{{ end -}}
{{- if and .acr .acr.enabled }}{{ $_ := set $cloud "acr" (dict "enabled" true) }}{{ end -}}
{{- end -}}
{{- if $cloud }}{{ $_ := set $reg "cloud" $cloud }}{{ end -}}
{{- $adm := dict -}}
{{- $a := .Values.admission -}}
{{- if $a.denyUnverifiable }}{{ $_ := set $adm "denyUnverifiable" true }}{{ end -}}
{{- with $a.exemptImages }}{{ $_ := set $adm "exemptImages" . }}{{ end -}}
{{- with $a.autoscaledPlatforms }}{{ $_ := set $adm "autoscaledPlatforms" . }}{{ end -}}
{{- $cfg := dict -}}
{{- if $reg }}{{ $_ := set $cfg "registry" $reg }}{{ end -}}
{{- if $adm }}{{ $_ := set $cfg "admission" $adm }}{{ end -}}
{{- with .Values.logLevel }}{{ $_ := set $cfg "logging" (dict "level" .) }}{{ end -}}
{{- if not .Values.metrics.secure }}{{ $_ := set $cfg "metricsSecure" false }}{{ end -}}
{{- $cfg = mergeOverwrite $cfg (deepCopy (.Values.config | default dict)) -}}
{{- if $cfg -}}
apiVersion: config.pullguard.io/v1alpha1
kind: WebhookConfiguration
{{ toYaml $cfg }}
{{- end -}}
{{- end -}}

{{/* The re-verifier's Deployment, ServiceAccount, ClusterRole, Role, PDB and NetworkPolicy. */}}
{{- define "pullguard.reverifierName" -}}
{{- include "pullguard.fullname" . }}-reverify
{{- end -}}

{{- define "pullguard.reverifierSelectorLabels" -}}
app.kubernetes.io/name: {{ include "pullguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: reverifier
{{- end -}}

{{/* pullguard.labels with the re-verifier's component. */}}
{{- define "pullguard.reverifierLabels" -}}
{{- include "pullguard.labels" . | replace "app.kubernetes.io/component: webhook" "app.kubernetes.io/component: reverifier" }}
{{- end -}}

{{/*
The egress rules of the webhook's and the re-verifier's NetworkPolicies: both dial the API server
and the registries users name, with the same engine.
*/}}
{{- define "pullguard.egressRules" -}}
{{- $np := .Values.networkPolicy }}
    # DNS to any address: cluster DNS, or NodeLocal DNSCache on a link-local address.
    - ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
    {{- with $np.egress.ports }}
    # Registries and the Kubernetes API on 443 (and 6443, kubeadm's API port): everywhere except
    # the cloud metadata endpoints (169.254.169.254 on most clouds, 169.254.170.2 for ECS
    # credentials, 100.100.100.200 on Alibaba Cloud, fd00:ec2::254 for AWS over IPv6).
    # Private ranges cannot be closed on these ports: the webhook reads pull secrets and watches
    # nodes and namespaces through the API server, which NetworkPolicy cannot name and which sits
    # on a private address on most platforms (kubeadm, EKS, private GKE endpoints; depending on
    # the plugin the policy sees the `kubernetes` Service address or the endpoint behind it).
    # Registry lookups to private addresses are refused by the webhook's dialer instead, unless
    # --allow-private-registries names them.
    - to:
        - ipBlock:
            cidr: 0.0.0.0/0
            except:
              - 169.254.0.0/16
              - 100.100.100.200/32
        - ipBlock:
            cidr: ::/0
            except:
              - fe80::/10
              - fd00:ec2::254/128
      ports:
        {{- range . }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
    {{- end }}
    {{- with $np.egress.publicOnlyPorts }}
    # Registries on 5000, the registry's own default port: public addresses only. An in-cluster
    # or private registry needs networkPolicy.egress.extraRules (an ipBlock for its address and
    # port) as well as registry.allowPrivateRegistries.
    - to:
        - ipBlock:
            cidr: 0.0.0.0/0
            except:
              - 10.0.0.0/8
              - 172.16.0.0/12
              - 192.168.0.0/16
              - 169.254.0.0/16
              - 100.100.100.200/32
        - ipBlock:
            cidr: ::/0
            except:
              - fc00::/7
              - fe80::/10
      ports:
        {{- range . }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
    {{- end }}
    {{- $cloud := .Values.registry.cloud | default dict }}
    {{- if and $cloud.ecr $cloud.ecr.enabled }}
    # registry.cloud.ecr: the EKS Pod Identity agent on each node (IRSA needs only STS on 443).
    - to:
        - ipBlock:
            cidr: 169.254.170.23/32
        - ipBlock:
            cidr: fd00:ec2::23/128
      ports:
        - port: 80
          protocol: TCP
    {{- end }}
    {{- if and $cloud.gcp $cloud.gcp.enabled }}
    # registry.cloud.gcp: the GKE metadata server of Workload Identity (169.254.169.254:80 on
    # Dataplane V2, 169.254.169.252:988 otherwise).
    - to:
        - ipBlock:
            cidr: 169.254.169.254/32
      ports:
        - port: 80
          protocol: TCP
    - to:
        - ipBlock:
            cidr: 169.254.169.252/32
      ports:
        - port: 988
          protocol: TCP
    {{- end }}
    {{- with $np.egress.extraRules }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* Pod labels the cloud identities need: AKS's workload identity webhook mutates only pods
labelled azure.workload.identity/use=true (registry.cloud.acr). Called with the root and the
pod's own labels, which win. */}}
{{- define "pullguard.cloudPodLabels" -}}
{{- $cloud := .root.Values.registry.cloud | default dict -}}
{{- if and $cloud.acr $cloud.acr.enabled (not (hasKey (.labels | default dict) "azure.workload.identity/use")) -}}
azure.workload.identity/use: "true"
{{- end -}}
{{- end -}}

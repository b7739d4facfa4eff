"""The Caddy gateway: the only way into the cluster, HTTPS only, forwarding ``/v1/*`` and ``/health``
(GET, POST and HEAD only).

Public: a Let's Encrypt certificate for the Azure DNS label of its public IP. Internal: an internal
load balancer on a fixed private IP in a subnet of its own, with a certificate for that IP signed by
Caddy's own CA (``tls internal``), whose root clients must trust.
"""

from __future__ import annotations

import pulumi
from pulumi_kubernetes.apps import v1 as apps
from pulumi_kubernetes.core import v1 as core
from pulumi_kubernetes.meta import v1 as meta
from pulumi_kubernetes.networking import v1 as networking
from pulumi_kubernetes.policy import v1 as policy

from .gateway import CADDY_IMAGE, GatewaySite, GatewayTls, render_caddyfile
from .k8s_common import (CONFIG_HASH, GATEWAY, PREMIUM_FILES_MIN_GIB, WorkloadArgs, content_hash, labels,
                         object_meta, private_files_claim, restricted_container_context, selector)

GATEWAY_STORAGE_CLASS = "azurefile-csi"  # AKS built-in class (standard Azure Files, RWX)
GATEWAY_CERT_GIB = 1
GATEWAY_DATA_CLAIM = f"{GATEWAY}-data"
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")  # RFC 1918: who reaches an internal LB
ANYWHERE = "0.0.0.0/0"

# ---- gateway ----
CADDY_DATA = "/data"  # XDG_DATA_HOME: Caddy keeps certificates, the ACME account and its CA under /data/caddy
# where `tls internal` keeps the root certificate of Caddy's own CA ("local"), on the shared volume
CADDY_ROOT_CERT = f"{CADDY_DATA}/caddy/pki/authorities/local/root.crt"
INTERNAL_LB_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal"
# AKS "Use an internal load balancer": a fixed private address for the frontend (Specify an IP
# address), taken from a subnet other than the nodes' (Specify a different subnet)
INTERNAL_IP_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-ipv4"
INTERNAL_SUBNET_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal-subnet"
DNS_LABEL_ANNOTATION = "service.beta.kubernetes.io/azure-dns-label-name"


def caddyfile(site: pulumi.Input[str] | None, allowed_cidrs: tuple[str, ...], upstream: str,
              internal_ip: str | None = None) -> pulumi.Output[str]:
    """The shared gateway rules, HTTPS only, h1/h2; ``allowed_cidrs`` checked in Caddy (403 to others).

    Public (``site`` = the Azure DNS name): a Let's Encrypt certificate; port 80 stays open to
    everyone for the ACME check and the redirect to HTTPS. Internal (``internal_ip``): Caddy's
    own CA signs a certificate for the load balancer's private IP; nothing listens on port 80.
    """
    # HTTP/3 would advertise UDP 443, which the load balancer does not forward
    protocols = ("h1", "h2")
    if internal_ip:
        return pulumi.Output.from_input(render_caddyfile(GatewaySite(
            address=internal_ip, upstream=upstream, tls=GatewayTls.INTERNAL,
            allowed_cidrs=allowed_cidrs, protocols=protocols)))
    return pulumi.Output.from_input(site).apply(lambda fqdn: render_caddyfile(GatewaySite(
        address=fqdn, upstream=upstream, tls=GatewayTls.ACME, allowed_cidrs=allowed_cidrs,
        protocols=protocols)))


def gateway_meta(args: WorkloadArgs, object_name: str,
                 annotations: dict | None = None) -> meta.ObjectMetaArgs:
    return object_meta(object_name, args.namespace, GATEWAY, annotations)


def gateway(name: str, args: WorkloadArgs, upstream: str, opts: pulumi.ResourceOptions) -> core.Service:
    """Caddy terminating TLS in front of vLLM, behind a public or an internal load balancer.

    Public: a Let's Encrypt certificate for the public IP's Azure DNS name. Internal: the internal
    load balancer gets the fixed private IP ``internal_ip`` in the subnet ``internal_subnet`` (the
    certificate must name the address clients connect to before the load balancer exists), and
    Caddy's own CA signs for it.
    """
    caddy_config = caddyfile(args.public_fqdn, args.allowed_cidrs, upstream,
                             internal_ip=args.internal_ip if args.internal else None)
    core.ConfigMap(
        f"{name}-gateway-config",
        metadata=gateway_meta(args, f"{GATEWAY}-config"),
        data={"Caddyfile": caddy_config},
        opts=opts)
    gateway_data(name, args, opts)
    apps.StatefulSet(
        f"{name}-gateway",
        metadata=gateway_meta(args, GATEWAY),
        spec=apps.StatefulSetSpecArgs(
            replicas=2,
            service_name=GATEWAY,
            # the second replica starts only once the first is ready: Caddy creates its CA (or ACME
            # account) on the empty shared volume without a lock, so two first starts at once could
            # leave each replica signing with a different root
            pod_management_policy="OrderedReady",
            selector=selector(GATEWAY),
            update_strategy=apps.StatefulSetUpdateStrategyArgs(type="RollingUpdate"),
            template=core.PodTemplateSpecArgs(
                metadata=meta.ObjectMetaArgs(labels=labels(GATEWAY),
                                             annotations={CONFIG_HASH: content_hash(caddy_config)}),
                spec=gateway_pod_spec())),
        opts=opts)
    policy.PodDisruptionBudget(
        f"{name}-gateway-pdb",
        metadata=gateway_meta(args, GATEWAY),
        spec=policy.PodDisruptionBudgetSpecArgs(max_unavailable=1, selector=selector(GATEWAY)),
        opts=opts)
    service = gateway_service(name, args, opts)
    gateway_ingress_policy(name, args, opts)
    return service


def gateway_data(name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions) -> core.PersistentVolumeClaim:
    """The volume both replicas share: certificates, the ACME account or the internal CA."""
    # shared by both replicas, kept across restarts: the certificates, the ACME account (Let's
    # Encrypt rate-limits reissues) or the internal CA (clients trust its root)
    metadata = gateway_meta(args, GATEWAY_DATA_CLAIM, annotations={"pulumi.com/skipAwait": "true"})
    if args.private_files is not None:
        # internal: the built-in class is SMB (an account key) on a public endpoint; Pulumi's private
        # key-less NFS share instead, at the premium minimum of 100 GiB
        return private_files_claim(f"{name}-gateway-data", metadata, PREMIUM_FILES_MIN_GIB,
                                   args.private_files, opts, opts)
    return core.PersistentVolumeClaim(
        f"{name}-gateway-data",
        metadata=metadata,
        spec=core.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteMany"],
            storage_class_name=GATEWAY_STORAGE_CLASS,
            resources=core.VolumeResourceRequirementsArgs(requests={"storage": f"{GATEWAY_CERT_GIB}Gi"})),
        opts=opts)


def gateway_service(name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions) -> core.Service:
    """The LoadBalancer Service: a public IP with an Azure DNS label, or the internal LB's fixed IP."""
    https_port = core.ServicePortArgs(name="https", port=443, target_port="https", protocol="TCP")
    if args.internal:
        service_annotations = {INTERNAL_LB_ANNOTATION: "true", INTERNAL_IP_ANNOTATION: args.internal_ip,
                               INTERNAL_SUBNET_ANNOTATION: args.internal_subnet}
        # nothing listens on 80: no ACME challenge, no redirect
        ports = [https_port]
        # the load balancer's security rules filter too (a public one keeps 80 open for ACME)
        source_ranges = list(args.allowed_cidrs) or None
    else:
        # the public IP gets <label>.<region>.cloudapp.azure.com, the name the certificate is for
        service_annotations = {DNS_LABEL_ANNOTATION: args.dns_label}
        ports = [core.ServicePortArgs(name="http", port=80, target_port="http", protocol="TCP"), https_port]
        source_ranges = None
    return core.Service(
        f"{name}-gateway-service",
        metadata=gateway_meta(args, GATEWAY, annotations=service_annotations),
        spec=core.ServiceSpecArgs(
            type="LoadBalancer",
            external_traffic_policy="Local",  # client IPs reach Caddy, so remote_ip can filter them
            load_balancer_source_ranges=source_ranges,
            selector={"app.kubernetes.io/name": GATEWAY},
            ports=ports),
        opts=opts)


def gateway_ingress_policy(name: str, args: WorkloadArgs,
                           opts: pulumi.ResourceOptions) -> networking.NetworkPolicy:
    """443 from ``allowed_cidrs`` (else private ranges, or anywhere when public); public: 80 from all."""
    if args.internal:
        https_sources = args.allowed_cidrs or PRIVATE_RANGES
    else:
        https_sources = args.allowed_cidrs or (ANYWHERE,)
    rules = [networking.NetworkPolicyIngressRuleArgs(
        from_=[networking.NetworkPolicyPeerArgs(ip_block=networking.IPBlockArgs(cidr=cidr))
               for cidr in https_sources],
        ports=[networking.NetworkPolicyPortArgs(port=443, protocol="TCP")])]
    if not args.internal:
        # port 80 answers Let's Encrypt's HTTP-01 check and redirects: open to all
        rules.insert(0, networking.NetworkPolicyIngressRuleArgs(
            from_=[networking.NetworkPolicyPeerArgs(ip_block=networking.IPBlockArgs(cidr=ANYWHERE))],
            ports=[networking.NetworkPolicyPortArgs(port=80, protocol="TCP")]))
    return networking.NetworkPolicy(
        f"{name}-gateway-ingress",
        metadata=gateway_meta(args, f"{GATEWAY}-ingress"),
        spec=networking.NetworkPolicySpecArgs(pod_selector=selector(GATEWAY), policy_types=["Ingress"],
                                              ingress=rules),
        opts=opts)


def gateway_pod_spec() -> core.PodSpecArgs:
    """Caddy as a non-root user with a read-only root; certificates on the shared volume."""
    probe = core.ProbeArgs(tcp_socket=core.TCPSocketActionArgs(port="https"), period_seconds=10,
                           timeout_seconds=3, failure_threshold=3)
    caddy = core.ContainerArgs(
        name="caddy",
        image=CADDY_IMAGE,
        image_pull_policy="IfNotPresent",
        command=["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"],
        env=[core.EnvVarArgs(name="XDG_DATA_HOME", value=CADDY_DATA),
             core.EnvVarArgs(name="XDG_CONFIG_HOME", value="/config")],
        ports=[core.ContainerPortArgs(name="http", container_port=80, protocol="TCP"),
               core.ContainerPortArgs(name="https", container_port=443, protocol="TCP")],
        resources=core.ResourceRequirementsArgs(requests={"cpu": "100m", "memory": "128Mi"},
                                                limits={"cpu": "1", "memory": "512Mi"}),
        readiness_probe=probe,
        liveness_probe=probe,
        # the caddy binary carries the file capability cap_net_bind_service: the kernel refuses to
        # exec it when that capability is outside the bounding set
        security_context=restricted_container_context(add=["NET_BIND_SERVICE"]),
        volume_mounts=[core.VolumeMountArgs(name="caddyfile", mount_path="/etc/caddy", read_only=True),
                       core.VolumeMountArgs(name="data", mount_path=CADDY_DATA),
                       core.VolumeMountArgs(name="config", mount_path="/config")])
    return core.PodSpecArgs(
        automount_service_account_token=False,
        # the two replicas on different zones where the system pool has them
        topology_spread_constraints=[core.TopologySpreadConstraintArgs(
            max_skew=1, topology_key="topology.kubernetes.io/zone",
            when_unsatisfiable="ScheduleAnyway", label_selector=selector(GATEWAY))],
        security_context=core.PodSecurityContextArgs(
            run_as_non_root=True, run_as_user=10001, run_as_group=10001, fs_group=10001,
            seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
            # a non-root process may bind 80/443 without any capability
            sysctls=[core.SysctlArgs(name="net.ipv4.ip_unprivileged_port_start", value="0")]),
        containers=[caddy],
        volumes=[
            core.VolumeArgs(name="caddyfile",
                            config_map=core.ConfigMapVolumeSourceArgs(name=f"{GATEWAY}-config")),
            core.VolumeArgs(name="data", persistent_volume_claim=core.PersistentVolumeClaimVolumeSourceArgs(
                claim_name=GATEWAY_DATA_CLAIM)),
            core.VolumeArgs(name="config", empty_dir=core.EmptyDirVolumeSourceArgs())])

"""AWS EC2 through boto3 (kind `ec2`). libcloud's EC2 driver cannot parse moto's answers, and boto3 is
already the Lambda runtime's SDK.

Modes: `create` runs instances from the prepared AMI and terminates them; `power` starts and stops
instances made in advance and tagged `bbbscale:cluster` / `bbbscale:provider` (or named with the
cluster prefix). Credentials: the default AWS chain (Lambda role, instance profile, environment), or
the two environment/secret names in the options.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from pydantic import Field

from chalicelib.adapters.providers.base import TAG_CLUSTER, TAG_PROVIDER, HostedOptions, HostedProvider, utc
from chalicelib.adapters.providers.retry import THROTTLE_CODES
from chalicelib.config import SecretName
from chalicelib.domain.fleet import VM
from chalicelib.ports import LaunchSpec, Provider, ProviderError

#: EC2's server-side error codes (HTTP 5xx): worth another try.
SERVER_FAULTS = frozenset({"InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable"})

#: Every instance's metadata service: IMDSv2 only (a session token first, so a server-side request
#: forgery on the BBB server cannot read the instance's credentials with one GET), answered only to the
#: instance itself (hop limit 1: no container or forwarded packet gets the token), and on (cloud-init
#: reads the user data from it). The stage's policies refuse a launch without them (docs/deploy.md).
METADATA_OPTIONS = {"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled"}

# EC2 instance states -> our four (stopping still bills until stopped, but will not serve again).
STATUS = {
    "pending": "pending",
    "running": "running",
    "stopping": "stopped",
    "stopped": "stopped",
    "shutting-down": "gone",
    "terminated": "gone",
}


class Ec2Options(HostedOptions):
    """`[providers.X.options]` for EC2."""

    region: str = Field("eu-west-3", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    instance_type: str = "c6i.2xlarge"
    subnet_id: str | None = None
    security_group_ids: list[str] = Field(default_factory=list)
    key_name: str | None = None
    endpoint_url: str | None = Field(None, description="another EC2 endpoint (tests: moto's server)")
    access_key_id_env: SecretName | None = Field(None, description="secret name of the access key id")
    secret_access_key_env: SecretName | None = Field(None, description="secret name of the secret access key")

    def secrets_needed(self) -> list[str]:
        # without both names, boto3's default chain (role, profile, environment) finds the keys itself
        named = [self.access_key_id_env, self.secret_access_key_env]
        return (
            [*(n for n in named if n), *super().secrets_needed()] if all(named) else super().secrets_needed()
        )


def _failure(action: str, error: Exception) -> ProviderError:
    """A boto3 error as one ProviderError line. Retryable: throttling, EC2's 5xx (by code or HTTP
    status), and network faults (no code) — every call we make is idempotent, RunInstances through
    its ClientToken."""
    response = getattr(error, "response", None) or {}
    code = response.get("Error", {}).get("Code", "")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    text = f"EC2 {action} failed: {code or type(error).__name__}: {error}"
    retryable = code in THROTTLE_CODES or code in SERVER_FAULTS or status >= 500 or not code
    return ProviderError(text, retryable=retryable)


class Ec2Provider(HostedProvider[Ec2Options]):
    """EC2 instances of one region as bbbscale servers (see module doc)."""

    Options = Ec2Options
    kind = "ec2"

    @cached_property
    def client(self):
        """The boto3 client, made on first use (boto3 is imported here, never at module import)."""
        import boto3
        from botocore.config import Config

        opts = self.options
        keys = {}
        if opts.access_key_id_env and opts.secret_access_key_env:
            keys = {
                "aws_access_key_id": self.secret(opts.access_key_id_env),
                "aws_secret_access_key": self.secret(opts.secret_access_key_env),
            }
        config = Config(
            connect_timeout=opts.timeout_seconds,
            read_timeout=opts.timeout_seconds,
            # One attempt: retries are ours (retry.py, the same policy as every provider).
            retries={"total_max_attempts": 1, "mode": "standard"},
        )
        return boto3.client(
            "ec2", region_name=opts.region, endpoint_url=opts.endpoint_url, config=config, **keys
        )

    def _call(self, action: str, retry: bool = True, **params):
        """One EC2 call, sent again while that is safe (every call we make is idempotent). The call
        that makes a VM passes `retry=False`: `create_many` retries whole creations."""
        from botocore.exceptions import BotoCoreError, ClientError

        def once():
            try:
                return getattr(self.client, action)(**params)
            except (ClientError, BotoCoreError) as error:
                raise _failure(action, error) from None

        return self.retried(once) if retry else once()

    def _to_vm(self, instance: dict) -> VM:
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        return self.vm(
            instance["InstanceId"],
            tags.get("Name", ""),
            STATUS.get(instance["State"]["Name"], "pending"),
            tags,
            instance.get("PublicDnsName") or instance.get("PublicIpAddress"),
            image=instance.get("ImageId"),
            launched_at=utc(instance.get("LaunchTime")),
            ips=_public_ips(instance),  # for the server's DNS records (docs/dns.md)
        )

    def _instances(self, **params) -> list[dict]:
        found, token = [], None
        while True:
            page = self._call("describe_instances", **params, **({"NextToken": token} if token else {}))
            for reservation in page.get("Reservations", []):
                found.extend(reservation.get("Instances", []))
            token = page.get("NextToken")
            if not token:
                return found

    def list(self) -> list[VM]:
        """This cluster's instances of this provider, by tag, terminated ones left out."""
        instances = self._instances(
            Filters=[
                {"Name": f"tag:{TAG_CLUSTER}", "Values": [self.context.cluster]},
                {"Name": f"tag:{TAG_PROVIDER}", "Values": [self.name]},
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
            ]
        )
        vms = (self._to_vm(i) for i in instances)
        return [vm for vm in vms if self.owns(vm.name, vm.tags)]

    def _image_id(self, image: str) -> str:
        """An AMI id as is; a name is looked up among our own images (the prepared image)."""
        if image.startswith("ami-"):
            return image
        found = self._call("describe_images", Owners=["self"], Filters=[{"Name": "name", "Values": [image]}])[
            "Images"
        ]
        if not found:
            raise ProviderError(f"EC2: no image named {image!r} owned by this account")
        return sorted(found, key=lambda i: i.get("CreationDate", ""))[-1]["ImageId"]

    def _create_one(self, spec: LaunchSpec) -> VM:
        opts = self.options
        tags = [{"Key": "Name", "Value": spec.name}] + [{"Key": k, "Value": v} for k, v in spec.tags.items()]
        params = {
            "ImageId": self._image_id(spec.image or self.settings.image),
            "InstanceType": opts.instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "UserData": spec.user_data,
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tags},
                {"ResourceType": "volume", "Tags": tags},
            ],
            # The token makes a retried call idempotent: EC2 returns the first call's instance.
            "ClientToken": spec.name,
            "MetadataOptions": dict(METADATA_OPTIONS),
        }
        if opts.subnet_id:
            params["SubnetId"] = opts.subnet_id
        if opts.security_group_ids:
            params["SecurityGroupIds"] = list(opts.security_group_ids)
        if opts.key_name:
            params["KeyName"] = opts.key_name
        return self._to_vm(self._call("run_instances", retry=False, **params)["Instances"][0])

    def start(self, vm_id: str) -> VM:
        """Start a stopped instance; returns it as EC2 reports it right after."""
        self._call("start_instances", InstanceIds=[vm_id])
        found = self._instances(InstanceIds=[vm_id])
        if not found:
            raise ProviderError(f"EC2: instance {vm_id} not found after start")
        return self._to_vm(found[0])

    def stop(self, vm_id: str) -> None:
        self._call("stop_instances", InstanceIds=[vm_id])

    def destroy(self, vm_id: str) -> None:
        self._call("terminate_instances", InstanceIds=[vm_id])

    def _describe(self, operation: str, target) -> str:
        where = self.options.endpoint_url or f"https://ec2.{self.options.region}.amazonaws.com"
        if operation == "create":
            return (
                f"POST {where}/ RunInstances name={target.name} type={self.options.instance_type} "
                f"image={target.image or self.settings.image} tags={TAG_CLUSTER}={self.context.cluster} "
                "metadata=IMDSv2-only,hop-limit=1 "
                f"{self.user_data_note(target)}"
            )
        action = {"start": "StartInstances", "stop": "StopInstances", "destroy": "TerminateInstances"}[
            operation
        ]
        return f"POST {where}/ {action} InstanceIds={target}"


def _public_ips(instance: dict) -> tuple[str, ...]:
    """The instance's public IPv4 address and its IPv6 addresses (IPv6 on EC2 is public by default)."""
    v6 = (a["Ipv6Address"] for n in instance.get("NetworkInterfaces", []) for a in n.get("Ipv6Addresses", []))
    return tuple(ip for ip in (instance.get("PublicIpAddress"), *v6) if ip)


if TYPE_CHECKING:  # mypy holds the adapter to its port (a protocol: nothing else checks the signatures)
    _port: type[Provider] = Ec2Provider

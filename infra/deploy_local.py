"""Deploy the stack with the real ``cdk`` CLI to a moto server on localhost.

Starts moto server in the background on MOTO_PORT (default 4599) unless one
already answers there, bootstraps the environment, deploys with
``--method=direct``, and prints the stack's outputs. The server keeps
running after this exits, so the resources stay there to be used;
``make stop-local`` stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import backoff

from infra.target import DEFAULT_ACCOUNT, DEFAULT_REGION, STACK_NAME

ROOT = Path(__file__).resolve().parent.parent
CDK = ROOT / "node_modules" / ".bin" / "cdk"
OUTPUTS = ROOT / "cdk.out" / "local-outputs.json"
LOCAL_SECRET = f"{STACK_NAME}-job-id-key"
# How long a fresh moto server may take to answer.
MOTO_START_S = 10
# The Node.js releases jsii (under the CDK) supports; older ones still run
# it, below a banner saying they are end-of-life.
SUPPORTED_NODE = (22, 24)
OLDEST_NODE = 20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy_local", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("MOTO_PORT", "4599")), help="moto server's port (4599)"
    )
    parser.add_argument("--stop", action="store_true", help="stop the moto server deploy-local started there, and exit")
    args = parser.parse_args(argv)
    if args.stop:
        return stop(args.port)
    # localhost, not 127.0.0.1: the CLI's S3 client needs a host name.
    endpoint = f"http://localhost:{args.port}"
    if not answers(endpoint):
        start_moto(args.port, endpoint)
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        "AWS_REGION": DEFAULT_REGION,
        "AWS_DEFAULT_REGION": DEFAULT_REGION,
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    env.pop("AWS_PROFILE", None)
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = str(check_node())
    secret_arn = job_id_key_secret(endpoint)
    cdk = [str(CDK), "--no-notices", "--no-version-reporting"]
    subprocess.run([*cdk, "bootstrap", f"aws://{DEFAULT_ACCOUNT}/{DEFAULT_REGION}"], env=env, cwd=ROOT, check=True)
    subprocess.run(
        [
            *cdk,
            "deploy",
            STACK_NAME,
            "--method=direct",
            "--require-approval=never",
            "--context",
            "removal_policy=destroy",
            # moto's CloudFormation makes no Secrets Manager secret: the key's
            # secret is made here, and the stack is given it as a deployment
            # moved from elsewhere would be.
            "--context",
            f"job_id_key_secret={secret_arn}",
            "--outputs-file",
            str(OUTPUTS),
        ],
        env=env,
        cwd=ROOT,
        check=True,
    )
    outputs = json.loads(OUTPUTS.read_text())[STACK_NAME]
    print(f"\nDeployed to moto server at {endpoint}:")
    for name, value in sorted(outputs.items()):
        print(f"  {name} = {value}")
        if name == "ApiUrl":
            print(
                "    (the API's address once deployed to AWS; moto records the API but runs no Lambda\n"
                "    function without Docker, so nothing answers there: serve it with make run, below)"
            )
    print(
        "\nServe the API on these resources:\n"
        f"  AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local "
        f"AWS_DEFAULT_REGION={DEFAULT_REGION} TABLE_NAME={outputs['TableName']} "
        f"QUEUE_URL={outputs['QueueUrl']} JOB_ID_KEY_SECRET={secret_arn} make run\n"
        "Stop the server: make stop-local"
    )
    return 0


def job_id_key_secret(endpoint: str) -> str:
    """The ARN of the key's secret on the moto server, made on the first deploy."""
    import secrets

    import boto3

    client = boto3.client(
        "secretsmanager",
        endpoint_url=endpoint,
        region_name=DEFAULT_REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    try:
        arn: str = client.describe_secret(SecretId=LOCAL_SECRET)["ARN"]
    except client.exceptions.ResourceNotFoundException:
        arn = client.create_secret(Name=LOCAL_SECRET, SecretString=secrets.token_urlsafe(36))["ARN"]
    return arn


def check_node() -> int:
    """The major version of the Node.js the cdk CLI will run on; says so
    when it is one that works but is no longer supported."""
    wanted = " or ".join(map(str, SUPPORTED_NODE))
    try:
        version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise SystemExit(f"the cdk CLI needs Node.js {wanted} on PATH; none was found") from None
    major = int(version.strip().lstrip("v").split(".")[0])
    if major < OLDEST_NODE:
        raise SystemExit(f"Node.js {major} is too old for the cdk CLI: install Node.js {wanted}")
    if major not in SUPPORTED_NODE:
        print(f"Node.js {major}: the CDK supports {wanted}; {major} works, and its end-of-life banner is silenced")
    return major


def answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
            return True
    except (urllib.error.URLError, OSError):
        return False


def start_moto(port: int, endpoint: str) -> None:
    log = open(ROOT / ".moto-server.log", "ab")  # noqa: SIM115 - handed to the detached server
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=log,
        start_new_session=True,  # outlives this command
    )
    pid_file(port).write_text(str(process.pid))

    # An operational poll, on the wall clock: what backoff is made for.
    @backoff.on_predicate(backoff.constant, interval=0.1, jitter=None, max_time=MOTO_START_S)
    def started() -> bool:
        if process.poll() is not None:
            raise SystemExit(f"moto server exited at once; see {ROOT / '.moto-server.log'}")
        return answers(endpoint)

    if not started():
        raise SystemExit(f"moto server did not answer on {endpoint} within {MOTO_START_S} s")
    print(f"moto server started on {endpoint} (pid {process.pid})")


def pid_file(port: int) -> Path:
    return ROOT / f".moto-server-{port}.pid"


def stop(port: int) -> int:
    path = pid_file(port)
    if not path.exists():
        print(f"no moto server started by deploy-local on port {port}")
        return 0
    pid = int(path.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
        print(f"stopped moto server (pid {pid})")
    except ProcessLookupError:
        print(f"moto server (pid {pid}) was not running")
    path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where the app deploys by default, readable without loading the CDK
(deploy-local reads it before the cdk CLI runs, and so before Node does)."""

# moto's default account: no real account is ever the default.
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
STACK_NAME = "JobIntake"

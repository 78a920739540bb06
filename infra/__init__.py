"""The CDK app that deploys the job intake service."""

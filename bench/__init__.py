"""`make bench`: the service measured side by side with raw boto3."""

"""A Docker-free local cloud for SAM applications.

An embedded AWS-compatible endpoint (moto in server mode), a deployer that turns a SAM
template into a CloudFormation stack on it, Lambda execution environments as worker
processes, and SQS event source mappings with AWS's documented semantics.

This is a development tool: nothing under functions/ or layers/ imports it, and it knows
the functions only through the template.
"""
